//! The payment insert's guards at the store level, on SQLite and (with
//! `OPENIMP_TEST_POSTGRES_URL`) PostgreSQL: an imp_uid collision is retried with a fresh id and
//! never reported as a taken merchant_uid (security review finding 16), and a pending schedule
//! reserves its merchant_uid for the scheduler's own charge.

mod backend;

use std::sync::atomic::{AtomicUsize, Ordering};

use backend::{drop_postgres, postgres, sqlite};
use openimp_core::states::{KeyUsage, PaymentStatus};
use openimp_store::payments::{self, InsertRefusal, PaymentRow};
use openimp_store::Db;

fn pending(imp_uid: &str, merchant_uid: &str) -> PaymentRow {
    PaymentRow {
        imp_uid: imp_uid.to_owned(),
        merchant_id: "imp12345678".to_owned(),
        merchant_uid: merchant_uid.to_owned(),
        status: PaymentStatus::Pending,
        amount: 1000,
        currency: "KRW".to_owned(),
        started_at: 1,
        updated_at: 1,
        ..PaymentRow::default()
    }
}

async fn imp_uid_collision_is_retried(db: &Db) {
    let mut first = pending("imps_100000000001", "order-1");
    assert_eq!(payments::insert_attempt(db, &mut first, None).await.unwrap(), Ok(()));
    // The generator's first draw collides with the stored payment; the second is free.
    let draws = AtomicUsize::new(0);
    let next = || {
        let n = draws.fetch_add(1, Ordering::SeqCst);
        if n == 0 {
            "imps_100000000001".to_owned()
        } else {
            format!("imps_20000000000{n}")
        }
    };
    let mut second = pending(&next(), "order-2");
    let outcome = payments::insert_attempt_with_ids(db, &mut second, None, 5, &next).await.unwrap();
    assert_eq!(outcome, Ok(()), "a collision is not a taken merchant_uid");
    assert_eq!(second.imp_uid, "imps_200000000001", "recorded under the fresh id");
    let stored = payments::get(db, "imp12345678", "imps_200000000001").await.unwrap();
    assert_eq!(stored.map(|p| p.merchant_uid), Some("order-2".to_owned()));
    let first_stored = payments::get(db, "imp12345678", "imps_100000000001").await.unwrap();
    assert_eq!(first_stored.map(|p| p.merchant_uid), Some("order-1".to_owned()), "untouched");

    // Bounded: a generator that only ever collides gives up with the store's conflict.
    let mut stuck = pending("imps_100000000001", "order-3");
    let always = || "imps_100000000001".to_owned();
    let err = payments::insert_attempt_with_ids(db, &mut stuck, None, 3, &always).await;
    assert!(matches!(err, Err(openimp_store::StoreError::Conflict(_))), "{err:?}");

    // The merchant_uid race is still absorbed and reported as such.
    let mut again = pending("imps_300000000001", "order-1");
    assert_eq!(
        payments::insert_attempt(db, &mut again, None).await.unwrap(),
        Err(InsertRefusal::LiveMerchantUid)
    );
}

async fn schedule_reservation_guard(db: &Db) {
    sqlx::query(
        "INSERT INTO schedules (id, merchant_id, merchant_uid, customer_uid, schedule_at, amount, tax_free, card_quota, currency, \
         schedule_status, scheduled_since, created_at, updated_at) \
         VALUES ('sch_1', 'imp12345678', 'sub-1', 'cu', 9999999999, 30000, 0, 0, 'KRW', 'scheduled', 1, 1, 1)",
    )
    .execute(db.writer())
    .await
    .unwrap();
    let mut foreign = pending("imps_400000000001", "sub-1");
    foreign.customer_uid_usage = Some(KeyUsage::Issue);
    assert_eq!(
        payments::insert_attempt(db, &mut foreign, None).await.unwrap(),
        Err(InsertRefusal::ReservedBySchedule)
    );
    assert_eq!(
        payments::merchant_uid_taken(db, "imp12345678", "sub-1").await.unwrap(),
        Some(payments::MerchantUidTaken::Schedule)
    );
    let mut own = pending("imps_400000000002", "sub-1");
    own.customer_uid_usage = Some(KeyUsage::Scheduled);
    own.customer_uid = Some("cu".to_owned());
    own.amount = 30000;
    assert_eq!(payments::insert_attempt(db, &mut own, None).await.unwrap(), Ok(()));
    let run = payments::scheduled_run(db, "imp12345678", "sub-1", "cu", 30000, 1).await.unwrap();
    assert_eq!(run.map(|p| p.imp_uid), Some("imps_400000000002".to_owned()));
    // Another amount or customer is not this schedule's run.
    assert!(payments::scheduled_run(db, "imp12345678", "sub-1", "cu", 1, 1)
        .await
        .unwrap()
        .is_none());
    assert!(payments::scheduled_run(db, "imp12345678", "sub-1", "x", 30000, 1)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn insert_guards_sqlite() {
    let (db, _dir) = sqlite().await;
    imp_uid_collision_is_retried(&db).await;
    schedule_reservation_guard(&db).await;
}

#[tokio::test]
async fn insert_guards_postgres() {
    let Some((db, admin, name)) = postgres().await else { return };
    imp_uid_collision_is_retried(&db).await;
    schedule_reservation_guard(&db).await;
    drop(db);
    drop_postgres(&admin, &name).await;
}
