//! The connector's windows against the fake KG Inicis over HTTP on loopback: the PC window
//! (payment and billing key), the mobile payment window and the INILite billing-key window,
//! driven as a browser would (the card typed at the fake), then completed by the connector.
//! Also every refusal: an approval URL outside the whitelist (no call made), a wrong
//! authSignature (net-cancelled), an approval whose answer is lost (net-cancelled, unknown), a
//! tampered window request.

mod common;

use std::time::Duration;

use common::*;
use openimp_inicis::fake::Faults;
use openimp_pg::window::{Handoff, WindowPurpose, WindowResult};
use openimp_pg::{ChargeOutcome, ChargeRequest, Connector, ConnectorError, Inquiry, PaymentSource};

fn charge_key(order_id: &str, key: &str, amount: i64) -> ChargeRequest {
    ChargeRequest {
        order_id: order_id.to_owned(),
        source: PaymentSource::BillingKey(key.to_owned()),
        amount,
        tax_free: 0,
        vat_amount: 0,
        card_quota: 0,
        name: None,
        buyer_name: None,
        buyer_email: None,
        buyer_tel: None,
    }
}

#[tokio::test]
async fn pc_payment_window_is_approved_and_can_be_net_cancelled() {
    let fake = fake().await;
    let channel = channel(&fake, PAY_MID);
    let order = window_order(WindowPurpose::Payment, 1004, false);
    let start = connector().begin_window(&channel, &order).await.unwrap();
    let Handoff::Script { fields, .. } = &start.handoff else { panic!() };
    assert_eq!(get(fields, "acceptmethod"), "centerCd(Y)");
    assert_eq!(get(fields, "gopaymethod"), "Card");
    assert_eq!(get(fields, "use_chkfake"), "Y");
    assert_eq!(get(fields, "timestamp").len(), 13);
    assert_eq!(get(fields, "oid"), order.order_id);
    let returned = run_window(&fake, &start, "4111111111111111").await.unwrap();
    assert_eq!(get(&returned, "resultCode"), "0000");
    assert_eq!(get(&returned, "idc_name"), "stg");
    let result = connector()
        .complete_window(&channel, window_return(returned.clone(), &start, &order))
        .await
        .unwrap();
    let WindowResult::Paid { approval, undo } = result else { panic!("{result:?}") };
    assert_eq!(approval.amount, 1004);
    assert_eq!(approval.card.card_number, "411111*********1");
    assert_eq!(fake.remaining(&approval.pg_tid), Some(1004));
    // The same return posted again: the PG refuses a second approval, and the first stands.
    let again = connector()
        .complete_window(&channel, window_return(returned.clone(), &start, &order))
        .await
        .unwrap();
    assert!(
        matches!(again, WindowResult::Declined { ref code, .. } if code == "R510"),
        "{again:?}"
    );
    assert_eq!(fake.calls("/api/netCancel"), 0);
    assert_eq!(fake.remaining(&approval.pg_tid), Some(1004));
    assert!(!undo.0.contains("4111111111111111"), "no card data in the net-cancel token");
    // The service could not keep it: net-cancel through the trait.
    connector().net_cancel(&channel, &undo).await.unwrap();
    assert_eq!(fake.remaining(&approval.pg_tid), Some(0));
    assert_eq!(kinds(&fake).get("net_cancel"), Some(&1));
}

#[tokio::test]
async fn pc_billing_window_issues_a_key_that_charges() {
    let fake = fake().await;
    let channel = channel(&fake, BILL_MID);
    let order = window_order(WindowPurpose::BillingKey, 0, false);
    let start = connector().begin_window(&channel, &order).await.unwrap();
    let Handoff::Script { fields, .. } = &start.handoff else { panic!() };
    assert_eq!(get(fields, "acceptmethod"), "centerCd(Y):BILLAUTH(Card)");
    assert_eq!(get(fields, "gopaymethod"), "");
    let returned = run_window(&fake, &start, "4111111111111111").await.unwrap();
    let result = connector()
        .complete_window(&channel, window_return(returned, &start, &order))
        .await
        .unwrap();
    let WindowResult::KeyIssued { key, pg_tid, .. } = result else { panic!("{result:?}") };
    assert!(pg_tid.is_some());
    assert_eq!(key.card.card_number, "411111*********1");
    assert_eq!(kinds(&fake).get("approval"), None, "a billing window charges nothing");
    // seed 002 step 3: charge the key.
    let outcome =
        connector().charge(&channel, charge_key(&order_id("imp"), &key.billing_key, 3000)).await;
    assert!(matches!(outcome.unwrap(), ChargeOutcome::Approved(a) if a.amount == 3000));
}

#[tokio::test]
async fn pc_window_declines_and_closes() {
    let fake = fake().await;
    let channel = channel(&fake, PAY_MID);
    // Card 0005 fails authentication in the window: nothing to approve.
    let order = window_order(WindowPurpose::Payment, 1000, false);
    let start = connector().begin_window(&channel, &order).await.unwrap();
    let returned = run_window(&fake, &start, "4111111111110005").await.unwrap();
    let result = connector()
        .complete_window(&channel, window_return(returned, &start, &order))
        .await
        .unwrap();
    assert!(
        matches!(result, WindowResult::Declined { ref message, .. } if message.contains("[55]"))
    );
    assert_eq!(fake.calls("/api/payAuth"), 0);
    // Card 0002 authenticates, then the approval is declined.
    let order = window_order(WindowPurpose::Payment, 1000, false);
    let start = connector().begin_window(&channel, &order).await.unwrap();
    let returned = run_window(&fake, &start, "4111111111110002").await.unwrap();
    let result = connector()
        .complete_window(&channel, window_return(returned, &start, &order))
        .await
        .unwrap();
    assert!(
        matches!(result, WindowResult::Declined { ref message, .. } if message.contains("[51]"))
    );
    assert_eq!(kinds(&fake).get("approval"), None);
    // The customer closed the window: the return has no result.
    let order = window_order(WindowPurpose::Payment, 1000, false);
    let start = connector().begin_window(&channel, &order).await.unwrap();
    let result = connector()
        .complete_window(&channel, window_return(Vec::new(), &start, &order))
        .await
        .unwrap();
    assert!(matches!(result, WindowResult::Declined { .. }));
}

#[tokio::test]
async fn an_auth_url_outside_the_whitelist_is_never_called() {
    let fake = fake().await;
    let channel = channel(&fake, PAY_MID);
    fake.set_faults(Faults { auth_url_outside: true, ..Faults::default() });
    let order = window_order(WindowPurpose::Payment, 1000, false);
    let start = connector().begin_window(&channel, &order).await.unwrap();
    let returned = run_window(&fake, &start, "4111111111111111").await.unwrap();
    assert!(get(&returned, "authUrl").contains(".invalid"));
    let result = connector()
        .complete_window(&channel, window_return(returned.clone(), &start, &order))
        .await
        .unwrap();
    assert!(matches!(result, WindowResult::Declined { ref code, .. } if code == "RETURN_REFUSED"));
    // A tampered idc_name, or the fake's own URL under an unknown idc: refused too.
    let mut tampered = returned.clone();
    set(&mut tampered, "authUrl", &format!("{}/api/payAuth", fake.base_url()));
    set(&mut tampered, "netCancelUrl", &format!("{}/api/netCancel", fake.base_url()));
    set(&mut tampered, "idc_name", "evil");
    let result = connector()
        .complete_window(&channel, window_return(tampered.clone(), &start, &order))
        .await
        .unwrap();
    assert!(matches!(result, WindowResult::Declined { ref code, .. } if code == "RETURN_REFUSED"));
    // Another MID's return.
    set(&mut tampered, "idc_name", "stg");
    set(&mut tampered, "mid", BILL_MID);
    let result = connector()
        .complete_window(&channel, window_return(tampered, &start, &order))
        .await
        .unwrap();
    assert!(matches!(result, WindowResult::Declined { ref code, .. } if code == "RETURN_REFUSED"));
    assert_eq!(fake.calls("/api/payAuth"), 0, "no approval was requested");
    assert_eq!(fake.calls("/api/netCancel"), 0);
    assert!(fake.ledger().is_empty());
}

#[tokio::test]
async fn a_wrong_auth_signature_is_net_cancelled() {
    let fake = fake().await;
    let channel = channel(&fake, PAY_MID);
    fake.set_faults(Faults { wrong_auth_signature: true, ..Faults::default() });
    let order = window_order(WindowPurpose::Payment, 2000, false);
    let start = connector().begin_window(&channel, &order).await.unwrap();
    let returned = run_window(&fake, &start, "4111111111111111").await.unwrap();
    let result = connector()
        .complete_window(&channel, window_return(returned, &start, &order))
        .await
        .unwrap();
    assert!(
        matches!(result, WindowResult::Declined { ref code, .. } if code == "APPROVAL_REFUSED"),
        "{result:?}"
    );
    assert_eq!(fake.calls("/api/payAuth"), 1);
    assert_eq!(fake.calls("/api/netCancel"), 1, "the net-cancel reached the PG");
    let kinds = kinds(&fake);
    assert_eq!(kinds.get("approval"), Some(&1));
    assert_eq!(kinds.get("net_cancel"), Some(&1));
    let tid = fake.ledger().into_iter().find(|e| e.kind == "approval").unwrap().tid;
    assert_eq!(fake.remaining(&tid), Some(0));
}

#[tokio::test]
async fn a_lost_approval_answer_is_net_cancelled_and_unknown() {
    let fake = fake().await;
    let channel = channel(&fake, PAY_MID);
    fake.set_faults(Faults { timeout_after_commit: true, ..Faults::default() });
    let order = window_order(WindowPurpose::Payment, 3000, false);
    let start = connector().begin_window(&channel, &order).await.unwrap();
    let returned = run_window(&fake, &start, "4111111111111111").await.unwrap();
    let impatient = connector_with_timeout(Duration::from_millis(500));
    let result = impatient.complete_window(&channel, window_return(returned, &start, &order)).await;
    assert!(matches!(result, Err(ConnectorError::Unknown(_))), "{result:?}");
    assert_eq!(fake.calls("/api/netCancel"), 1);
    let tid = fake.ledger().into_iter().find(|e| e.kind == "approval").unwrap().tid;
    assert_eq!(fake.remaining(&tid), Some(0), "the approval was undone");
    // The reconciler's inquiry then finds nothing standing: the payment failed.
    fake.set_faults(Faults::default());
    let inquiry = connector().inquire(&channel, &order.order_id).await.unwrap();
    assert!(
        matches!(inquiry, Inquiry::Declined { ref code, .. } if code == "NET_CANCEL"),
        "{inquiry:?}"
    );
}

#[tokio::test]
async fn a_price_changed_after_the_window_is_refused_by_the_pg() {
    let fake = fake().await;
    let channel = channel(&fake, PAY_MID);
    let order = window_order(WindowPurpose::Payment, 5000, false);
    let start = connector().begin_window(&channel, &order).await.unwrap();
    // Tampering with the form in the browser: the signature no longer matches.
    let Handoff::Script { script_url, launcher, fields } = &start.handoff else { panic!() };
    let mut tampered_fields = fields.clone();
    set(&mut tampered_fields, "price", "50");
    let tampered = openimp_pg::window::WindowStart {
        handoff: Handoff::Script {
            script_url: script_url.clone(),
            launcher: launcher.clone(),
            fields: tampered_fields,
        },
        state: start.state.clone(),
    };
    let page = run_window(&fake, &tampered, "4111111111111111").await.unwrap_err();
    assert!(page.contains("V004"), "{page}");
    // Without verification under use_chkfake=Y: R508.
    let Handoff::Script { fields, .. } = &start.handoff else { panic!() };
    let without: Vec<_> = fields.iter().filter(|(k, _)| k != "verification").cloned().collect();
    let page = reqwest::Client::new()
        .post(format!("{}/payMain/pay", fake.base_url()))
        .form(&without)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("R508"), "{page}");
    // The order's amount differs from what the window authenticated: payAuth refuses it.
    let returned = run_window(&fake, &start, "4111111111111111").await.unwrap();
    let mut other = order.clone();
    other.amount = 500;
    let result = connector()
        .complete_window(&channel, window_return(returned, &start, &other))
        .await
        .unwrap();
    assert!(
        matches!(result, WindowResult::Declined { ref code, .. } if code == "R509"),
        "{result:?}"
    );
    assert_eq!(kinds(&fake).get("approval"), None);
}

#[tokio::test]
async fn mobile_payment_window_is_approved() {
    let fake = fake().await;
    let channel = channel(&fake, PAY_MID);
    let order = window_order(WindowPurpose::Payment, 1004, true);
    let start = connector().begin_window(&channel, &order).await.unwrap();
    let Handoff::Post { action, fields, .. } = &start.handoff else { panic!() };
    assert_eq!(action, &format!("{}/smart/payment/", fake.base_url()));
    assert_eq!(get(fields, "P_RESERVED"), "centerCd=Y");
    let returned = run_window(&fake, &start, "4111111111111111").await.unwrap();
    assert_eq!(get(&returned, "P_STATUS"), "00");
    let result = connector()
        .complete_window(&channel, window_return(returned, &start, &order))
        .await
        .unwrap();
    let WindowResult::Paid { approval, undo } = result else { panic!("{result:?}") };
    assert_eq!(approval.amount, 1004);
    assert_eq!(approval.apply_num.len(), 8);
    assert_eq!(fake.remaining(&approval.pg_tid), Some(1004));
    connector().net_cancel(&channel, &undo).await.unwrap();
    assert_eq!(fake.remaining(&approval.pg_tid), Some(0));
    assert_eq!(fake.calls("/smart/payNetCancel.ini"), 1);
}

#[tokio::test]
async fn mobile_window_refusals() {
    let fake = fake().await;
    let channel = channel(&fake, PAY_MID);
    // A wrong hashKey: the PG refuses the window (P_CHKFAKE).
    let mut wrong = channel.clone();
    wrong.secrets.insert("merchant_key".to_owned(), "0".repeat(32));
    let order = window_order(WindowPurpose::Payment, 1000, true);
    let start = connector().begin_window(&wrong, &order).await.unwrap();
    let page = run_window(&fake, &start, "4111111111111111").await.unwrap_err();
    assert!(page.contains("P_CHKFAKE"), "{page}");
    // P_REQ_URL outside the whitelist: no approval call.
    fake.set_faults(Faults { auth_url_outside: true, ..Faults::default() });
    let order = window_order(WindowPurpose::Payment, 1000, true);
    let start = connector().begin_window(&channel, &order).await.unwrap();
    let returned = run_window(&fake, &start, "4111111111111111").await.unwrap();
    let result = connector()
        .complete_window(&channel, window_return(returned, &start, &order))
        .await
        .unwrap();
    assert!(matches!(result, WindowResult::Declined { ref code, .. } if code == "RETURN_REFUSED"));
    assert_eq!(fake.calls("/smart/payReq.ini"), 0);
    fake.set_faults(Faults::default());
    // An approval for another amount than the order (the P_AMT compare): net-cancelled.
    let order = window_order(WindowPurpose::Payment, 1000, true);
    let start = connector().begin_window(&channel, &order).await.unwrap();
    let returned = run_window(&fake, &start, "4111111111111111").await.unwrap();
    let mut other = order.clone();
    other.amount = 999;
    let result =
        connector().complete_window(&channel, window_return(returned, &start, &other)).await;
    assert!(
        matches!(result, Ok(WindowResult::Declined { ref code, .. }) if code == "APPROVAL_REFUSED"),
        "{result:?}"
    );
    assert_eq!(fake.calls("/smart/payNetCancel.ini"), 1);
    let tid = fake.ledger().into_iter().find(|e| e.kind == "approval").unwrap().tid;
    assert_eq!(fake.remaining(&tid), Some(0), "the approval was undone");
    // A decline at approval (card 0003).
    let order = window_order(WindowPurpose::Payment, 1000, true);
    let start = connector().begin_window(&channel, &order).await.unwrap();
    let returned = run_window(&fake, &start, "4111111111110003").await.unwrap();
    let result = connector()
        .complete_window(&channel, window_return(returned, &start, &order))
        .await
        .unwrap();
    assert!(
        matches!(result, WindowResult::Declined { ref message, .. } if message.contains("[61]"))
    );
}

#[tokio::test]
async fn mobile_billing_window_issues_a_key_through_inilite() {
    let fake = fake().await;
    let channel = channel(&fake, BILL_MID);
    let order = window_order(WindowPurpose::BillingKey, 0, true);
    let start = connector().begin_window(&channel, &order).await.unwrap();
    let Handoff::Post { action, .. } = &start.handoff else { panic!() };
    assert_eq!(action, &format!("{}/inibill/inibill_card.jsp", fake.base_url()));
    let returned = run_window(&fake, &start, "5411111111111111").await.unwrap();
    let result = connector()
        .complete_window(&channel, window_return(returned.clone(), &start, &order))
        .await
        .unwrap();
    let WindowResult::KeyIssued { key, .. } = result else { panic!("{result:?}") };
    assert_eq!(key.card.card_number, "541111*********1");
    let outcome =
        connector().charge(&channel, charge_key(&order_id("imp"), &key.billing_key, 7000)).await;
    assert!(matches!(outcome.unwrap(), ChargeOutcome::Approved(a) if a.amount == 7000));
    // The return of another order is refused.
    let other = window_order(WindowPurpose::BillingKey, 0, true);
    let result = connector()
        .complete_window(&channel, window_return(returned, &start, &other))
        .await
        .unwrap();
    assert!(matches!(result, WindowResult::Declined { .. }));
    // A wrong INILite key: the PG refuses the window.
    let mut wrong = channel.clone();
    wrong.secrets.insert("merchant_key".to_owned(), "wrong".to_owned());
    let start = connector().begin_window(&wrong, &order).await.unwrap();
    let page = run_window(&fake, &start, "5411111111111111").await.unwrap_err();
    assert!(page.contains("hashdata"), "{page}");
}

#[tokio::test]
async fn other_pay_methods_are_not_offered() {
    let fake = fake().await;
    let channel = channel(&fake, PAY_MID);
    let mut order = window_order(WindowPurpose::Payment, 1000, false);
    order.pay_method = "vbank".to_owned();
    let start = connector().begin_window(&channel, &order).await;
    assert!(matches!(start, Err(ConnectorError::Unsupported(_))));
}
