//! The sandbox PG against a real database (SQLite, and PostgreSQL when one is configured):
//! every test card, cancels, duplicates and races.

use std::time::{Duration, Instant};

use openimp_core::card::{mask_card_number, sandbox_card_profile, CardInput};
use openimp_pg::{
    CancelInquiry, CancelOutcome, CancelRequest, ChannelContext, ChargeOutcome, ChargeRequest,
    Connector, ConnectorError, Inquiry, IssueKeyRequest, PaymentSource,
};
use openimp_sandbox::ledger::{cancelled_total, get_billing_key, list_ledger, LedgerKind};
use openimp_sandbox::SandboxPg;
use openimp_store::{Db, DbConfig, SqliteSync, StoreError};
use tempfile::TempDir;

const MID: &str = "INIBillTst";

/// A sandbox PG over a fresh database: a temp SQLite file, or a new PostgreSQL database when
/// `OPENIMP_TEST_POSTGRES_URL` names a server (dropped afterwards unless `OPENIMP_TEST_KEEP_DB=1`).
struct Fixture {
    db: Db,
    pg: SandboxPg,
    _cleanup: Cleanup,
}

enum Cleanup {
    Sqlite { _dir: TempDir },
    Postgres { admin_url: String, name: String },
}

fn config(url: String) -> DbConfig {
    DbConfig {
        url,
        max_connections: 4,
        acquire_timeout: Duration::from_secs(5),
        sqlite_sync: SqliteSync::Group,
        batch_writers: 1,
    }
}

async fn fixture_with_delay(delay: Duration) -> Fixture {
    let (db, cleanup) = match std::env::var("OPENIMP_TEST_POSTGRES_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("openimp_test_sandbox_{}", openimp_core::ids::random_hex(6));
            let admin = Db::connect_without_migrating(&config(admin_url.clone())).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(admin.writer()).await.unwrap();
            admin.close().await;
            let (base, _) = admin_url.split('?').next().unwrap().rsplit_once('/').unwrap();
            let db = openimp_sandbox::open(&config(format!("{base}/{name}"))).await.unwrap();
            (db, Cleanup::Postgres { admin_url, name })
        }
        _ => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("openimp.db");
            let db = openimp_sandbox::open(&config(format!("sqlite://{}", path.display())))
                .await
                .unwrap();
            (db, Cleanup::Sqlite { _dir: dir })
        }
    };
    let pg = SandboxPg::new(db.clone(), delay);
    Fixture { db, pg, _cleanup: cleanup }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Cleanup::Postgres { admin_url, name } = self else { return };
        if std::env::var("OPENIMP_TEST_KEEP_DB").is_ok_and(|keep| keep == "1") {
            eprintln!("kept test database {name}");
            return;
        }
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread of its own.
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|err| err.to_string())?;
            runtime
                .block_on(async {
                    let admin = Db::connect_without_migrating(&config(admin_url)).await?;
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    sqlx::query(&sql).execute(admin.writer()).await?;
                    admin.close().await;
                    Ok::<_, StoreError>(())
                })
                .map_err(|err| err.to_string())
        })
        .join();
        if let Ok(Err(err)) = dropped {
            eprintln!("could not drop test database: {err}");
        }
    }
}

async fn fixture() -> Fixture {
    fixture_with_delay(Duration::ZERO).await
}

fn channel(mid: &str) -> ChannelContext {
    ChannelContext {
        endpoint: None,
        keyed_billing: true,
        pg_provider: "html5_inicis".to_owned(),
        mid: mid.to_owned(),
        test_mode: true,
        secrets: Default::default(),
    }
}

/// A card whose number ends in `last4`; the sixth digit (6) picks 신한카드, the seventh (2) credit.
fn card(last4: &str) -> CardInput {
    CardInput {
        number: format!("409206201234{last4}"),
        expiry_year: 2030,
        expiry_month: 12,
        birth: Some("820213".to_owned()),
        pwd_2digit: Some("00".to_owned()),
    }
}

fn charge_request(order_id: &str, source: PaymentSource, amount: i64) -> ChargeRequest {
    ChargeRequest {
        order_id: order_id.to_owned(),
        source,
        amount,
        tax_free: 0,
        vat_amount: amount / 11,
        card_quota: 0,
        name: Some("테스트 상품".to_owned()),
        buyer_name: None,
        buyer_email: None,
        buyer_tel: None,
    }
}

fn cancel_request(order_id: &str, pg_tid: &str, amount: i64) -> CancelRequest {
    CancelRequest {
        order_id: order_id.to_owned(),
        cancel_id: format!("cncl_{}", openimp_core::ids::random_hex(8)),
        pg_tid: pg_tid.to_owned(),
        amount,
        tax_free: 0,
        vat_amount: None,
        balance_before: 0,
        reason: "테스트 취소".to_owned(),
    }
}

async fn charge_keyed(f: &Fixture, order_id: &str, last4: &str, amount: i64) -> ChargeOutcome {
    f.pg.charge(&channel(MID), charge_request(order_id, PaymentSource::Keyed(card(last4)), amount))
        .await
        .unwrap()
}

async fn issue(f: &Fixture, last4: &str) -> Result<String, ConnectorError> {
    let request = IssueKeyRequest { card: card(last4), customer_uid: format!("cust_{last4}") };
    f.pg.issue_billing_key(&channel(MID), request).await.map(|issued| issued.billing_key)
}

async fn charge_key(f: &Fixture, order_id: &str, key: &str, amount: i64) -> ChargeOutcome {
    let source = PaymentSource::BillingKey(key.to_owned());
    f.pg.charge(&channel(MID), charge_request(order_id, source, amount)).await.unwrap()
}

fn approved(outcome: ChargeOutcome) -> openimp_pg::Approval {
    match outcome {
        ChargeOutcome::Approved(approval) => approval,
        other => panic!("expected an approval, got {other:?}"),
    }
}

fn assert_declined(outcome: &ChargeOutcome, code: &str, message_part: &str) {
    match outcome {
        ChargeOutcome::Declined { code: got, message } => {
            assert_eq!(got, code, "decline code (message {message:?})");
            assert!(message.contains(message_part), "{message:?} should contain {message_part:?}");
            // The services put the code in front; the PG's text must not carry it again.
            assert!(!message.contains(&format!("[{code}]")), "{message:?} repeats its code");
        }
        other => panic!("expected decline {code}, got {other:?}"),
    }
}

fn assert_refused(outcome: &CancelOutcome, code: &str) {
    match outcome {
        CancelOutcome::Refused { code: got, message } => {
            assert_eq!(got, code, "refusal code (message {message:?})");
            assert!(!message.contains(&format!("[{code}]")), "{message:?} repeats its code");
        }
        other => panic!("expected refusal {code}, got {other:?}"),
    }
}

#[tokio::test]
async fn keyed_charge_approves_an_ordinary_card() {
    let f = fixture().await;
    let approval = approved(charge_keyed(&f, "imps_1", "5678", 1000).await);
    let number = card("5678").number;
    let (company, card_type) = sandbox_card_profile(&number);
    assert_eq!(approval.amount, 1000);
    assert_eq!(approval.apply_num.len(), 8);
    assert!(approval.apply_num.bytes().all(|b| b.is_ascii_digit()));
    assert!(approval.pg_tid.starts_with("StdpayCARDINIBillTst"), "{}", approval.pg_tid);
    assert!((approval.paid_at - openimp_core::time::now()).abs() < 5);
    assert_eq!(approval.card.card_code, company.code);
    assert_eq!(approval.card.card_name, "신한카드");
    assert_eq!(approval.card.card_type, Some(card_type));
    assert_eq!(approval.card.card_number, mask_card_number(&number));

    let ledger = list_ledger(&f.db).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].kind, LedgerKind::Approval);
    assert_eq!(ledger[0].tid, approval.pg_tid);
    assert_eq!(ledger[0].order_id, "imps_1");
    assert_eq!(ledger[0].amount, 1000);
    assert_eq!(ledger[0].ref_tid, None);

    let inquiry = f.pg.inquire(&channel(MID), "imps_1").await.unwrap();
    assert_eq!(inquiry, Inquiry::Approved(approval));
    // Another MID does not see this order.
    assert_eq!(f.pg.inquire(&channel("INIpayTest"), "imps_1").await.unwrap(), Inquiry::NotFound);
}

#[tokio::test]
async fn keyed_test_cards_decline_with_their_reasons() {
    let f = fixture().await;
    let cases = [
        ("0002", "51", "잔액부족"),
        ("0003", "61", "한도초과"),
        ("0004", "41", "분실/도난"),
        ("0005", "55", "카드 인증 실패"),
        ("0341", "05", "승인거절"),
    ];
    for (last4, code, message) in cases {
        let outcome = charge_keyed(&f, &format!("imps_{last4}"), last4, 1000).await;
        assert_declined(&outcome, code, message);
    }
    assert_declined(&charge_keyed(&f, "imps_zero", "5678", 0).await, "13", "금액");
    assert_declined(&charge_keyed(&f, "imps_negative", "5678", -10).await, "13", "금액");
    assert!(list_ledger(&f.db).await.unwrap().is_empty(), "declines charge nothing");
    assert_eq!(f.pg.inquire(&channel(MID), "imps_0002").await.unwrap(), Inquiry::NotFound);
}

#[tokio::test]
async fn billing_keys_carry_their_card_behavior() {
    let f = fixture().await;
    let cases = [
        ("0002", "51", "잔액부족"),
        ("0003", "61", "한도초과"),
        ("0004", "41", "분실/도난"),
        ("0341", "05", "승인거절"),
    ];
    for (last4, code, message) in cases {
        let key = issue(&f, last4).await.unwrap();
        for attempt in 0..2 {
            let outcome = charge_key(&f, &format!("imps_{last4}_{attempt}"), &key, 1000).await;
            assert_declined(&outcome, code, message);
        }
    }
    assert!(list_ledger(&f.db).await.unwrap().is_empty());

    match issue(&f, "0005").await {
        Err(ConnectorError::CardRejected { code, message }) => {
            assert_eq!(code, "55");
            assert!(message.contains("생년월일 또는 비밀번호"), "{message}");
        }
        other => panic!("expected CardRejected, got {other:?}"),
    }
}

#[tokio::test]
async fn billing_key_charges_report_the_stored_card() {
    let f = fixture().await;
    let request = IssueKeyRequest { card: card("5678"), customer_uid: "cust_1".to_owned() };
    let issued = f.pg.issue_billing_key(&channel(MID), request).await.unwrap();
    let number = card("5678").number;
    assert_eq!(issued.card.card_number, mask_card_number(&number));
    assert_eq!(issued.card.card_name, "신한카드");

    // The sandbox keeps the masked number only.
    let row = get_billing_key(&f.db, &issued.billing_key).await.unwrap().unwrap();
    assert_eq!(row.card_number, mask_card_number(&number));
    assert_ne!(row.card_number, number);
    assert_eq!(row.behavior, "approve");
    assert_eq!(row.mid, MID);

    let approval = approved(charge_key(&f, "imps_key_1", &issued.billing_key, 5000).await);
    assert!(approval.pg_tid.starts_with("StdpayBILLINIBillTst"), "{}", approval.pg_tid);
    assert_eq!(approval.card, issued.card);
    assert_eq!(approval.amount, 5000);
    assert_declined(&charge_key(&f, "imps_key_2", &issued.billing_key, 0).await, "13", "금액");
}

#[tokio::test]
async fn unknown_deleted_and_foreign_billing_keys_decline() {
    let f = fixture().await;
    assert_declined(&charge_key(&f, "imps_1", "sbx_nope", 1000).await, "14", "빌링키");

    let key = issue(&f, "5678").await.unwrap();
    // Another MID cannot use or delete this key.
    let foreign =
        f.pg.charge(
            &channel("INIpayTest"),
            charge_request("imps_2", PaymentSource::BillingKey(key.clone()), 1000),
        )
        .await
        .unwrap();
    assert_declined(&foreign, "14", "빌링키");
    assert_eq!(
        f.pg.delete_billing_key(&channel("INIpayTest"), &key).await,
        Err(ConnectorError::NotSent("unknown billing key".to_owned()))
    );

    f.pg.delete_billing_key(&channel(MID), &key).await.unwrap();
    // Deleting twice is fine.
    f.pg.delete_billing_key(&channel(MID), &key).await.unwrap();
    assert_declined(&charge_key(&f, "imps_3", &key, 1000).await, "15", "삭제된 빌링키");
    assert_ne!(get_billing_key(&f.db, &key).await.unwrap().unwrap().deleted_at, 0);

    assert_eq!(
        f.pg.delete_billing_key(&channel(MID), "sbx_never").await,
        Err(ConnectorError::NotSent("unknown billing key".to_owned()))
    );
    assert!(list_ledger(&f.db).await.unwrap().is_empty());
}

#[tokio::test]
async fn timeout_card_is_charged_but_unanswered() {
    let f = fixture().await;
    let keyed = f
        .pg
        .charge(&channel(MID), charge_request("imps_t1", PaymentSource::Keyed(card("0009")), 2000))
        .await;
    assert!(matches!(keyed, Err(ConnectorError::Unknown(_))), "{keyed:?}");

    let key = issue(&f, "0009").await.unwrap();
    let source = PaymentSource::BillingKey(key);
    let by_key = f.pg.charge(&channel(MID), charge_request("imps_t2", source, 3000)).await;
    assert!(matches!(by_key, Err(ConnectorError::Unknown(_))), "{by_key:?}");

    let ledger = list_ledger(&f.db).await.unwrap();
    assert_eq!(ledger.len(), 2);
    assert!(ledger.iter().all(|entry| entry.kind == LedgerKind::Approval));

    for (order_id, amount) in [("imps_t1", 2000), ("imps_t2", 3000)] {
        match f.pg.inquire(&channel(MID), order_id).await.unwrap() {
            Inquiry::Approved(approval) => {
                assert_eq!(approval.amount, amount);
                assert_eq!(approval.card.card_number, mask_card_number(&card("0009").number));
            }
            other => panic!("expected approved, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn partial_then_full_cancel_and_over_cancel() {
    let f = fixture().await;
    let approval = approved(charge_keyed(&f, "imps_c", "5678", 10_000).await);
    let tid = approval.pg_tid.clone();

    let first = f.pg.cancel(&channel(MID), cancel_request("imps_c", &tid, 3000)).await.unwrap();
    let CancelOutcome::Cancelled { pg_tid: first_tid, receipt_url, cancelled_at } = first else {
        panic!("expected a cancel, got {first:?}");
    };
    assert_ne!(first_tid, tid);
    assert!(first_tid.starts_with("StdpayCNCLINIBillTst"), "{first_tid}");
    assert_eq!(receipt_url, Some(format!("/sandbox/receipts/{first_tid}")));
    assert!(cancelled_at >= approval.paid_at);
    assert_eq!(cancelled_total(&f.db, &tid).await.unwrap(), 3000);

    // Over the remaining 7000: refused, nothing recorded.
    let over = f.pg.cancel(&channel(MID), cancel_request("imps_c", &tid, 7001)).await.unwrap();
    assert_refused(&over, "C2");
    assert!(format!("{over:?}").contains("7000원"), "{over:?}");
    assert_eq!(cancelled_total(&f.db, &tid).await.unwrap(), 3000);

    let rest = f.pg.cancel(&channel(MID), cancel_request("imps_c", &tid, 7000)).await.unwrap();
    assert!(matches!(rest, CancelOutcome::Cancelled { .. }), "{rest:?}");
    assert_eq!(cancelled_total(&f.db, &tid).await.unwrap(), 10_000);

    let again = f.pg.cancel(&channel(MID), cancel_request("imps_c", &tid, 1)).await.unwrap();
    assert_refused(&again, "01");

    let ledger = list_ledger(&f.db).await.unwrap();
    let kinds: Vec<_> = ledger.iter().map(|entry| (entry.kind, entry.amount)).collect();
    assert_eq!(
        kinds,
        [(LedgerKind::Approval, 10_000), (LedgerKind::Cancel, 3000), (LedgerKind::Cancel, 7000)]
    );
    for cancel in &ledger[1..] {
        assert_eq!(cancel.ref_tid.as_deref(), Some(tid.as_str()));
        assert_eq!(cancel.order_id, "imps_c");
        assert_eq!(cancel.apply_num, approval.apply_num);
    }
    // A cancelled order is still one the PG approved.
    assert!(matches!(f.pg.inquire(&channel(MID), "imps_c").await.unwrap(), Inquiry::Approved(_)));
}

#[tokio::test]
async fn cancel_inquiry_finds_a_cancel_by_its_request_id() {
    let f = fixture().await;
    let approval = approved(charge_keyed(&f, "imps_inq", "5678", 5000).await);
    let request = cancel_request("imps_inq", &approval.pg_tid, 2000);
    let cancel_id = request.cancel_id.clone();
    let CancelOutcome::Cancelled { pg_tid, cancelled_at, receipt_url } =
        f.pg.cancel(&channel(MID), request.clone()).await.unwrap()
    else {
        panic!("expected the cancel to go through");
    };
    let found = f.pg.inquire_cancel(&channel(MID), &approval.pg_tid, &cancel_id).await.unwrap();
    assert_eq!(
        found,
        CancelInquiry::Cancelled {
            pg_tid: pg_tid.clone(),
            amount: 2000,
            cancelled_at,
            receipt_url
        }
    );
    // Another id, another approval's tid or another MID: no such cancel.
    let unknown = f.pg.inquire_cancel(&channel(MID), &approval.pg_tid, "cncl_other").await;
    assert_eq!(unknown.unwrap(), CancelInquiry::NotFound);
    let other_tid = f.pg.inquire_cancel(&channel(MID), "StdpayCARDother", &cancel_id).await;
    assert_eq!(other_tid.unwrap(), CancelInquiry::NotFound);
    let other_mid = f.pg.inquire_cancel(&channel("T5102001"), &approval.pg_tid, &cancel_id).await;
    assert_eq!(other_mid.unwrap(), CancelInquiry::NotFound);

    // The same request sent again answers the first cancel and records nothing.
    let again = f.pg.cancel(&channel(MID), request).await.unwrap();
    assert!(
        matches!(&again, CancelOutcome::Cancelled { pg_tid: tid, .. } if *tid == pg_tid),
        "{again:?}"
    );
    assert_eq!(cancelled_total(&f.db, &approval.pg_tid).await.unwrap(), 2000);
}

#[tokio::test]
async fn answer_lost_card_records_its_cancels_unanswered() {
    let f = fixture().await;
    let approval = approved(charge_keyed(&f, "imps_lost", "0019", 5000).await);
    let request = cancel_request("imps_lost", &approval.pg_tid, 1200);
    let cancel_id = request.cancel_id.clone();
    let answer = f.pg.cancel(&channel(MID), request).await;
    assert!(matches!(answer, Err(ConnectorError::Unknown(_))), "{answer:?}");
    assert_eq!(cancelled_total(&f.db, &approval.pg_tid).await.unwrap(), 1200);
    let found = f.pg.inquire_cancel(&channel(MID), &approval.pg_tid, &cancel_id).await.unwrap();
    assert!(matches!(found, CancelInquiry::Cancelled { amount: 1200, .. }), "{found:?}");
}

#[tokio::test]
async fn a_cancel_is_recorded_even_if_the_caller_stops_waiting() {
    let f = fixture_with_delay(Duration::from_millis(300)).await;
    let approval = approved(charge_keyed(&f, "imps_gone", "5678", 5000).await);
    let request = cancel_request("imps_gone", &approval.pg_tid, 700);
    let cancel_id = request.cancel_id.clone();
    let gave_up =
        tokio::time::timeout(Duration::from_millis(50), f.pg.cancel(&channel(MID), request)).await;
    assert!(gave_up.is_err(), "the caller stopped waiting");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = f.pg.inquire_cancel(&channel(MID), &approval.pg_tid, &cancel_id).await;
        if matches!(found, Ok(CancelInquiry::Cancelled { amount: 700, .. })) {
            break;
        }
        assert!(Instant::now() < deadline, "the sandbox never recorded the cancel: {found:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn cancel_refuses_unknown_foreign_and_invalid() {
    let f = fixture().await;
    let tid = approved(charge_keyed(&f, "imps_c", "5678", 1000).await).pg_tid;
    let unknown = f.pg.cancel(&channel(MID), cancel_request("imps_c", "nope", 100)).await.unwrap();
    assert_refused(&unknown, "C1");
    let foreign =
        f.pg.cancel(&channel("INIpayTest"), cancel_request("imps_c", &tid, 100)).await.unwrap();
    assert_refused(&foreign, "C1");
    let zero = f.pg.cancel(&channel(MID), cancel_request("imps_c", &tid, 0)).await.unwrap();
    assert_refused(&zero, "C3");
    // A cancel tid is not an approval to cancel.
    let CancelOutcome::Cancelled { pg_tid: cancel_tid, .. } =
        f.pg.cancel(&channel(MID), cancel_request("imps_c", &tid, 100)).await.unwrap()
    else {
        panic!("expected a cancel");
    };
    let of_cancel =
        f.pg.cancel(&channel(MID), cancel_request("imps_c", &cancel_tid, 100)).await.unwrap();
    assert_refused(&of_cancel, "C1");
}

#[tokio::test]
async fn duplicate_order_id_is_declined() {
    let f = fixture().await;
    approved(charge_keyed(&f, "imps_dup", "5678", 1000).await);
    assert_declined(&charge_keyed(&f, "imps_dup", "1234", 2000).await, "94", "중복 주문번호");
    let key = issue(&f, "5678").await.unwrap();
    assert_declined(&charge_key(&f, "imps_dup", &key, 1000).await, "94", "중복 주문번호");
    // The same order id under another MID is another order.
    let other =
        f.pg.charge(
            &channel("INIpayTest"),
            charge_request("imps_dup", PaymentSource::Keyed(card("5678")), 1000),
        )
        .await
        .unwrap();
    approved(other);
    assert_eq!(list_ledger(&f.db).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_racing_charges_approve_once() {
    let f = fixture().await;
    let key = issue(&f, "5678").await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for attempt in 0..50 {
        let pg = f.pg.clone();
        let source = if attempt % 2 == 0 {
            PaymentSource::BillingKey(key.clone())
        } else {
            PaymentSource::Keyed(card("5678"))
        };
        tasks.spawn(async move {
            pg.charge(&channel(MID), charge_request("imps_race", source, 1000)).await
        });
    }
    let mut approvals = 0;
    let mut duplicates = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap().unwrap() {
            ChargeOutcome::Approved(_) => approvals += 1,
            declined => {
                assert_declined(&declined, "94", "중복 주문번호");
                duplicates += 1;
            }
        }
    }
    assert_eq!((approvals, duplicates), (1, 49));
    let ledger = list_ledger(&f.db).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].order_id, "imps_race");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_partial_cancels_never_exceed_the_approval() {
    let f = fixture().await;
    let tid = approved(charge_keyed(&f, "imps_rc", "5678", 10_000).await).pg_tid;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..25 {
        let pg = f.pg.clone();
        let tid = tid.clone();
        tasks.spawn(async move {
            pg.cancel(&channel(MID), cancel_request("imps_rc", &tid, 1000)).await
        });
    }
    let mut cancelled = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap().unwrap() {
            CancelOutcome::Cancelled { .. } => cancelled += 1,
            CancelOutcome::Refused { code, .. } => assert_eq!(code, "01"),
        }
    }
    assert_eq!(cancelled, 10);
    assert_eq!(cancelled_total(&f.db, &tid).await.unwrap(), 10_000);
}

#[tokio::test]
async fn delay_is_slept_before_answering() {
    let f = fixture_with_delay(Duration::from_millis(200)).await;
    let started = Instant::now();
    assert_eq!(f.pg.inquire(&channel(MID), "imps_none").await.unwrap(), Inquiry::NotFound);
    assert!(started.elapsed() >= Duration::from_millis(200));
    let ledger = list_ledger(&f.db).await.unwrap();
    assert!(ledger.is_empty());
}
