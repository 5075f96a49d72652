//! The console's store functions on SQLite and (with `OPENIMP_TEST_POSTGRES_URL`) PostgreSQL:
//! users with unique emails, sessions that expire and end, failed sign-ins counted over a window,
//! the audit log scoped to its merchant, the dashboard's daily volume by KST day, and the
//! console's payment and billing-key searches.

mod backend;

use backend::{drop_postgres, postgres, sqlite};
use openimp_core::states::PaymentStatus;
use openimp_store::console::{self, AuditRow, SessionRow, UserRow, KST_OFFSET_SECS};
use openimp_store::merchants::{self, MerchantRow};
use openimp_store::payments::{self, PaymentFilter, PaymentRow, Sorting};
use openimp_store::{Db, StoreError};

async fn merchant(db: &Db, code: &str) {
    let row = MerchantRow {
        imp_code: code.to_owned(),
        name: code.to_owned(),
        imp_key: format!("key-{code}"),
        secret_salt: "salt".to_owned(),
        secret_hash: "hash".to_owned(),
        webhook_url: None,
        webhook_format: "json".to_owned(),
        created_at: 1,
    };
    merchants::insert(db, &row, &[]).await.expect("merchant");
}

fn user(id: &str, email: &str, merchant_id: Option<&str>, role: &str) -> UserRow {
    UserRow {
        id: id.to_owned(),
        email: email.to_owned(),
        merchant_id: merchant_id.map(str::to_owned),
        role: role.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created_at: 10,
        updated_at: 10,
    }
}

async fn users_and_sessions(db: &Db) {
    merchant(db, "imp10000001").await;
    let owner = user("u1", "owner@example.com", Some("imp10000001"), "owner");
    console::insert_user(db, &owner).await.unwrap();
    console::insert_user(db, &user("u2", "op@example.com", None, "operator")).await.unwrap();
    let taken = console::insert_user(db, &user("u3", "owner@example.com", None, "operator")).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    assert_eq!(console::user_by_email(db, "owner@example.com").await.unwrap(), Some(owner.clone()));
    assert_eq!(console::user_by_email(db, "nobody@example.com").await.unwrap(), None);
    let of_merchant = console::list_users(db, Some("imp10000001")).await.unwrap();
    assert_eq!(of_merchant.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(), ["u1"]);
    let operators = console::list_users(db, None).await.unwrap();
    assert_eq!(operators.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(), ["u2"]);

    let session = SessionRow {
        token_hash: "h1".to_owned(),
        user_id: "u1".to_owned(),
        csrf_token: "csrf1".to_owned(),
        created_at: 100,
        expires_at: 200,
    };
    console::insert_session(db, &session).await.unwrap();
    let (found, found_user) = console::session_user(db, "h1", 150).await.unwrap().unwrap();
    assert_eq!((found, found_user), (session.clone(), owner));
    // Expired at 200: not found then, and pruned.
    assert_eq!(console::session_user(db, "h1", 200).await.unwrap(), None);
    assert_eq!(console::session_user(db, "other", 150).await.unwrap(), None);
    assert!(console::delete_session(db, "h1").await.unwrap());
    assert!(!console::delete_session(db, "h1").await.unwrap());
    console::insert_session(db, &SessionRow { token_hash: "h2".to_owned(), ..session })
        .await
        .unwrap();
    assert_eq!(console::delete_expired_sessions(db, 199).await.unwrap(), 0);
    assert_eq!(console::delete_expired_sessions(db, 200).await.unwrap(), 1);
}

async fn login_failures(db: &Db) {
    for (i, at) in [100, 200, 300].into_iter().enumerate() {
        console::record_login_failure(
            db,
            &format!("f{i}"),
            "a@example.com",
            Some("127.0.0.1"),
            at,
            0,
        )
        .await
        .unwrap();
    }
    console::record_login_failure(db, "g", "b@example.com", None, 300, 0).await.unwrap();
    assert_eq!(console::login_failures_since(db, "a@example.com", 0).await.unwrap(), 3);
    assert_eq!(console::login_failures_since(db, "a@example.com", 200).await.unwrap(), 2);
    assert_eq!(console::login_failures_since(db, "c@example.com", 0).await.unwrap(), 0);
    // A good sign-in of a@ forgets its failures; b@'s recent one stays.
    console::clear_login_failures(db, "a@example.com").await.unwrap();
    assert_eq!(console::login_failures_since(db, "a@example.com", 0).await.unwrap(), 0);
    assert_eq!(console::login_failures_since(db, "b@example.com", 0).await.unwrap(), 1);
    // A new failure forgets those older than its window, of any email.
    console::record_login_failure(db, "h", "c@example.com", None, 400, 350).await.unwrap();
    assert_eq!(console::login_failures_since(db, "b@example.com", 0).await.unwrap(), 0);
    assert_eq!(console::login_failures_since(db, "c@example.com", 0).await.unwrap(), 1);
}

async fn audit(db: &Db) {
    let entry = |id: &str, merchant_id: Option<&str>, at: i64| AuditRow {
        id: id.to_owned(),
        merchant_id: merchant_id.map(str::to_owned),
        user_id: "u1".to_owned(),
        user_email: "owner@example.com".to_owned(),
        action: "payment.cancel".to_owned(),
        subject: "imps_1".to_owned(),
        detail: "1000".to_owned(),
        at,
    };
    console::insert_audit(db, &entry("a1", Some("imp1"), 1)).await.unwrap();
    console::insert_audit(db, &entry("a2", Some("imp1"), 2)).await.unwrap();
    console::insert_audit(db, &entry("a3", Some("imp2"), 3)).await.unwrap();
    console::insert_audit(db, &entry("a4", None, 4)).await.unwrap();
    let (page, total) = console::list_audit(db, Some("imp1"), 1, 1).await.unwrap();
    assert_eq!((page.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), total), (vec!["a2"], 2));
    let (page, _) = console::list_audit(db, Some("imp1"), 2, 1).await.unwrap();
    assert_eq!(page, [entry("a1", Some("imp1"), 1)]);
    let (page, total) = console::list_audit(db, None, 1, 10).await.unwrap();
    assert_eq!((page.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), total), (vec!["a4"], 1));
}

fn payment(
    imp_uid: &str,
    merchant_id: &str,
    status: PaymentStatus,
    amount: i64,
    started_at: i64,
) -> PaymentRow {
    PaymentRow {
        imp_uid: imp_uid.to_owned(),
        merchant_id: merchant_id.to_owned(),
        merchant_uid: format!("order-{imp_uid}"),
        status,
        amount,
        currency: "KRW".to_owned(),
        pay_method: Some(if amount > 5000 { "vbank" } else { "card" }.to_owned()),
        pg_provider: Some("kicc".to_owned()),
        started_at,
        updated_at: started_at,
        ..PaymentRow::default()
    }
}

async fn dashboard_and_search(db: &Db) {
    // KST midnight of some day, and the UTC instant just before it (the previous KST day).
    let day = 20_000;
    let midnight = day * 86400 - KST_OFFSET_SECS;
    for row in [
        payment("imps_a", "imp1", PaymentStatus::Paid, 1000, midnight),
        payment("imps_b", "imp1", PaymentStatus::Cancelled, 2000, midnight + 100),
        payment("imps_c", "imp1", PaymentStatus::Failed, 3000, midnight + 200),
        payment("imps_d", "imp1", PaymentStatus::Paid, 9000, midnight - 1),
        payment("imps_e", "imp2", PaymentStatus::Paid, 7000, midnight),
    ] {
        let mut row = row;
        assert_eq!(payments::insert_attempt(db, &mut row, None).await.unwrap(), Ok(()));
    }
    let days = console::daily_volume(db, "imp1", midnight - 86400, midnight + 86400).await.unwrap();
    assert_eq!(
        days,
        [
            console::DailyVolume {
                day: day - 1,
                approved_amount: 9000,
                approved: 1,
                failed: 0,
                attempts: 1
            },
            console::DailyVolume {
                day,
                approved_amount: 3000,
                approved: 2,
                failed: 1,
                attempts: 3
            },
        ]
    );
    assert!(console::daily_volume(db, "imp3", 0, i64::MAX / 2).await.unwrap().is_empty());

    let search = |filter: PaymentFilter| async move {
        let (rows, total) =
            payments::list(db, "imp1", &filter, Sorting::StartedDesc, 1, 10).await.unwrap();
        (rows.into_iter().map(|r| r.imp_uid).collect::<Vec<_>>(), total)
    };
    let by_method =
        search(PaymentFilter { pay_method: Some("vbank".into()), ..Default::default() }).await;
    assert_eq!(by_method, (vec!["imps_d".to_owned()], 1));
    let by_uid =
        search(PaymentFilter { imp_uid: Some("imps_e".into()), ..Default::default() }).await;
    assert_eq!(by_uid, (vec![], 0), "another merchant's payment is not found");
    let by_pg =
        search(PaymentFilter { pg_provider: Some("kicc".into()), ..Default::default() }).await;
    assert_eq!(by_pg.1, 4);
}

async fn billing_key_list(db: &Db) {
    use openimp_store::customers::{self, CustomerRow, Replace};
    for (uid, at) in [("cust_a", 1), ("cust_b", 2), ("other%", 3)] {
        let row = CustomerRow {
            merchant_id: "imp1".to_owned(),
            customer_uid: uid.to_owned(),
            channel_id: "ch".to_owned(),
            pg_provider: "kicc".to_owned(),
            pg_id: "T1".to_owned(),
            billing_key_sealed: "sealed".to_owned(),
            card_code: None,
            card_name: None,
            card_number: Some("409202******5678".to_owned()),
            card_type: None,
            customer_id: None,
            customer_name: None,
            customer_tel: None,
            customer_email: None,
            customer_addr: None,
            customer_postcode: None,
            inserted: at,
            updated: at,
            issued_mode: "sandbox".to_owned(),
            issued_connector: None,
        };
        customers::upsert(db, &row, Replace::Allowed).await.unwrap();
    }
    customers::mark_deleted(db, "imp1", "cust_a", 10).await.unwrap();
    let uids = |found: (Vec<CustomerRow>, i64)| {
        (found.0.into_iter().map(|c| c.customer_uid).collect::<Vec<_>>(), found.1)
    };
    assert_eq!(
        uids(customers::list(db, "imp1", None, 1, 10).await.unwrap()),
        (vec!["other%".to_owned(), "cust_b".to_owned()], 2)
    );
    assert_eq!(
        uids(customers::list(db, "imp1", Some("cust"), 1, 10).await.unwrap()),
        (vec!["cust_b".to_owned()], 1)
    );
    // `%` in the search is a percent sign, not a wildcard.
    assert_eq!(
        uids(customers::list(db, "imp1", Some("r%"), 1, 10).await.unwrap()),
        (vec!["other%".to_owned()], 1)
    );
    assert_eq!(uids(customers::list(db, "imp2", None, 1, 10).await.unwrap()), (vec![], 0));
}

async fn all(db: &Db) {
    users_and_sessions(db).await;
    login_failures(db).await;
    audit(db).await;
    dashboard_and_search(db).await;
    billing_key_list(db).await;
}

#[tokio::test]
async fn console_store_sqlite() {
    let (db, _dir) = sqlite().await;
    all(&db).await;
}

#[tokio::test]
async fn console_store_postgres() {
    let Some((db, admin, name)) = postgres().await else { return };
    all(&db).await;
    db.close().await;
    drop_postgres(&admin, &name).await;
}
