//! The payment window and channels over plain HTTP (no browser), against the security review of
//! 2026-12-06: billing-key replacement (finding 3), session limits (4), merchant_uid trimming
//! (12), card data never echoed (13), notice_url (11), the amount ceiling, merchant_uids reserved
//! by schedules, channel keys, the KG Inicis window's fields, and `/users/pg`, `/banks`, `/cards`.

#[macro_use]
mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

dual_backend_tests!(
    window_cannot_replace_a_live_key_unless_prepared,
    rest_reissue_deletes_the_old_pg_key,
    window_session_limits,
    window_trims_merchant_uid_like_rest,
    card_form_never_echoes_card_data,
    window_checks_notice_url,
    window_refuses_merchant_uid_reserved_by_schedule,
    channel_keys_select_the_channel,
    kg_inicis_window_fields_and_pay_methods,
    pg_settings_banks_and_cards,
    stuck_window_shows_its_payment,
);

// The per-charge maximum lives in `ChargeAmounts::check` (engineer "order" adds it): this test
// passes once that branch is merged.
dual_backend_tests!(window_amount_ceiling,);

const TEL: &str = "010-1234-5678";

fn in_an_hour() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    now.as_secs() as i64 + 3600
}

/// `POST /window/sessions` as the SDK sends it; returns the envelope.
async fn open(server: &TestServer, m: &Merchant, params: Value) -> Resp {
    let http = server.anon().http;
    let resp = http
        .post(server.url("/window/sessions"))
        .header("Origin", "http://127.0.0.1:9")
        .json(&json!({"imp_code": m.imp_code, "params": params, "mobile": false}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, to_value(&resp.text().await.unwrap()))
}

/// Opens a window that must open; returns its id.
async fn open_ok(server: &TestServer, m: &Merchant, params: Value) -> String {
    let opened = assert_ok(&open(server, m, params.clone()).await, &format!("open {params}"));
    opened["id"].as_str().unwrap().to_owned()
}

/// The window page and its CSRF token.
async fn page(server: &TestServer, id: &str) -> (u16, String, String) {
    let resp = server.anon().http.get(server.url(&format!("/window/{id}"))).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let csrf = text
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    (status, text, csrf)
}

fn card_form(card_number: &str) -> Vec<(&str, &str)> {
    vec![("card_number", card_number), ("expiry", "12/39"), ("birth", BIRTH), ("pwd_2digit", PWD2)]
}

/// The sandbox PG's billing keys (`openimp sandbox keys --json`).
fn sandbox_keys(server: &TestServer) -> Vec<Value> {
    server.env.cli_json(&["sandbox", "keys", "--json"]).as_array().unwrap().clone()
}

/// The sandbox's keys for a card number: (live keys, deleted keys). The cards of one test
/// differ in their first six or last digit.
fn keys_of_card(server: &TestServer, full_number: &str) -> (usize, usize) {
    let digits: String = full_number.chars().filter(char::is_ascii_digit).collect();
    let keys = sandbox_keys(server);
    let mine: Vec<&Value> = keys
        .iter()
        .filter(|k| {
            let masked = k["card_number"].as_str().unwrap_or_default();
            // Masked as the first six digits and the last one.
            masked.starts_with(&digits[..6]) && masked.ends_with(&digits[digits.len() - 1..])
        })
        .collect();
    let live = mine.iter().filter(|k| k["deleted_at"] == 0).count();
    (live, mine.len() - live)
}

async fn window_cannot_replace_a_live_key_unless_prepared(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = server.merchant_client().await;
    let customer_uid = uid("cust_b1");
    let first = card("5678");
    client.issue_key_ok(&customer_uid, &first).await;

    // The review's reproduction: no credentials, the merchant code and the customer_uid.
    let x1 = uid("x1");
    let refused = open(
        &server,
        &m,
        json!({"merchant_uid": x1, "amount": 0, "customer_uid": customer_uid, "buyer_tel": TEL}),
    )
    .await;
    assert_failure(&refused, "window replacing a live key");
    assert_eq!(refused.0, 200, "a business refusal: {refused:?}");
    assert!(refused.1["message"].as_str().unwrap().contains("prepare"), "{refused:?}");
    let key = assert_ok(&client.get(&format!("/subscribe/customers/{customer_uid}")).await, "key");
    assert_masked(&key["card_number"], &first, "the key is unchanged");
    client.again_paid(&customer_uid, &uid("still"), 1000).await;

    // A key that appears after the window opened is kept too: the submit is refused.
    let late_uid = uid("cust_late");
    let window = open_ok(
        &server,
        &m,
        json!({"merchant_uid": uid("x2"), "amount": 0, "customer_uid": late_uid, "buyer_tel": TEL}),
    )
    .await;
    client.issue_key_ok(&late_uid, &first).await;
    let declined_card = "5365-1000-0000-0341";
    let result = submit_window(&server, &window, &card_form(declined_card)).await;
    assert!(result.contains("prepare"), "the window reports the refusal: {result}");
    let key = assert_ok(&client.get(&format!("/subscribe/customers/{late_uid}")).await, "key");
    assert_masked(&key["card_number"], &first, "the REST key is kept");
    assert_eq!(keys_of_card(&server, declined_card), (0, 0), "refused before the PG was asked");

    // Allowed: the merchant's server prepares the window's merchant_uid first.
    let x3 = uid("x3");
    assert_ok(
        &client.post_json("/payments/prepare", &json!({"merchant_uid": x3, "amount": 0})).await,
        "prepare",
    );
    let window = open_ok(
        &server,
        &m,
        json!({"merchant_uid": x3, "amount": 0, "customer_uid": customer_uid, "buyer_tel": TEL}),
    )
    .await;
    let second = card("4323");
    let result = submit_window(&server, &window, &card_form(&second)).await;
    assert!(!result.contains("error_msg"), "issued: {result}");
    let key = assert_ok(&client.get(&format!("/subscribe/customers/{customer_uid}")).await, "key");
    assert_masked(&key["card_number"], &second, "the window replaced the key");
    assert_eq!(keys_of_card(&server, &second), (1, 0), "the new key is live at the PG");
    // `first` backs cust_b1's old key (deleted now) and cust_late's key (live).
    assert_eq!(keys_of_card(&server, &first), (1, 1), "the old PG key was deleted");
}

async fn rest_reissue_deletes_the_old_pg_key(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let customer_uid = uid("cust_r");
    let first = card("1111");
    let second = card("2222");
    client.issue_key_ok(&customer_uid, &first).await;
    assert_eq!(keys_of_card(&server, &first), (1, 0));
    client.issue_key_ok(&customer_uid, &second).await;
    assert_eq!(keys_of_card(&server, &first), (0, 1), "the replaced key is deleted at the PG");
    assert_eq!(keys_of_card(&server, &second), (1, 0));
    client.again_paid(&customer_uid, &uid("after"), 1000).await;
}

async fn window_session_limits(backend: Backend) {
    let opts = ServerOpts {
        env: vec![
            ("OPENIMP_WINDOW_SESSIONS_PER_MERCHANT".into(), "2".into()),
            ("OPENIMP_WINDOW_SESSION_TTL_SECS".into(), "2".into()),
        ],
        ..ServerOpts::default()
    };
    let server = TestServer::start_with(&backend, opts).await;
    let m = server.create_merchant();
    let other = server.create_merchant();
    let order = |extra: Value| {
        let mut params = json!({"merchant_uid": uid("o"), "amount": 1000, "buyer_tel": TEL});
        params.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        params
    };

    // Sizes: a 400 envelope naming the field (or the body).
    let http = server.anon().http;
    let big =
        json!({"imp_code": m.imp_code, "params": order(json!({"name": "가".repeat(20_000)}))});
    let resp = http
        .post(server.url("/window/sessions"))
        .header("Origin", "http://127.0.0.1:9")
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body = to_value(&resp.text().await.unwrap());
    assert_eq!(body["code"], -1, "{body}");
    assert!(body["message"].as_str().unwrap().contains("16 KB"), "{body}");
    for (field, value) in [
        ("custom_data", json!({"blob": "A".repeat(5000)})),
        ("buyer_name", json!("가".repeat(17))),
        ("buyer_email", json!(format!("{}@example.com", "a".repeat(60)))),
        ("buyer_addr", json!("a".repeat(129))),
        ("buyer_postcode", json!("123456789")),
        ("buyer_tel", json!("0".repeat(17))),
        ("name", json!("a".repeat(41))),
    ] {
        let resp = open(&server, &m, order(json!({ field: value }))).await;
        assert_eq!(resp.0, 400, "{field}: {resp:?}");
        assert_eq!(resp.1["code"], -1, "{field}: {resp:?}");
        assert!(resp.1["message"].as_str().unwrap().contains(field), "{field}: {resp:?}");
    }

    // Open sessions are capped per merchant; another merchant is not affected.
    let first = open_ok(&server, &m, order(json!({}))).await;
    open_ok(&server, &m, order(json!({}))).await;
    let refused = open(&server, &m, order(json!({}))).await;
    assert_failure(&refused, "third open window");
    assert!(refused.1["message"].as_str().unwrap().contains("too many"), "{refused:?}");
    open_ok(&server, &other, order(json!({}))).await;

    // Expired unused sessions are gone once they expire: the cap frees up, the page is a 404.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    open_ok(&server, &m, order(json!({}))).await;
    let (status, text, _) = page(&server, &first).await;
    assert_eq!(status, 404, "purged: {text}");
}

async fn window_trims_merchant_uid_like_rest(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = server.merchant_client().await;
    let pp = uid("pp");
    assert_ok(
        &client.post_json("/payments/prepare", &json!({"merchant_uid": pp, "amount": 50000})).await,
        "prepare",
    );
    let padded = format!("{pp} ");
    let refused =
        open(&server, &m, json!({"merchant_uid": padded, "amount": 100, "buyer_tel": TEL})).await;
    assert_failure(&refused, "padded merchant_uid at another amount");
    assert!(refused.1["message"].as_str().unwrap().contains("prepared"), "{refused:?}");
    // The prepared amount opens, and the payment carries the trimmed merchant_uid.
    let id = open_ok(
        &server,
        &m,
        json!({"merchant_uid": format!(" {pp} "), "amount": 50000, "buyer_tel": TEL}),
    )
    .await;
    let result = submit_window(&server, &id, &card_form(CARD_OK)).await;
    let (_, body) = client.get(&format!("/payments/find/{pp}")).await;
    assert_eq!(body["response"]["status"], "paid", "{body} {result}");
    assert_eq!(body["response"]["amount"], 50000);
}

async fn card_form_never_echoes_card_data(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = server.merchant_client().await;
    let merchant_uid = uid("echo");
    let id = open_ok(
        &server,
        &m,
        json!({"merchant_uid": merchant_uid, "amount": 1000, "buyer_tel": TEL}),
    )
    .await;
    let (_, _, csrf) = page(&server, &id).await;
    let post = |body: Value| {
        let http = server.anon().http;
        let url = server.url(&format!("/window/{id}"));
        async move {
            let resp = http.post(url).json(&body).send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    // A value of the wrong type: the field is named, its value is not.
    for field in ["card_number", "birth", "expiry"] {
        let (status, text) =
            post(json!({"csrf": csrf, field: [4092023012345678_i64, 820213, 1239]})).await;
        assert_eq!(status, 400, "{field}: {text}");
        assert!(text.contains(field), "{field}: {text}");
        for secret in ["4092023012345678", "820213", "1239"] {
            assert!(!text.contains(secret), "{field} echoed {secret}: {text}");
        }
    }
    // JSON numbers are taken as their digits and charged; nothing is echoed either.
    let (status, text) = post(json!({"csrf": csrf, "card_number": 4092023012345678_i64,
        "expiry": 1239, "birth": 820213, "pwd_2digit": "00"}))
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains("4092023012345678") && !text.contains("820213"), "{text}");
    let (_, body) = client.get(&format!("/payments/find/{merchant_uid}")).await;
    assert_eq!(body["response"]["status"], "paid", "{body}");
}

async fn window_checks_notice_url(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let m = server.create_merchant();
    for url in ["gopher://example.com/x", "http://10.0.0.7/hook", "http://127.0.0.1:9/hook"] {
        let resp = open(
            &server,
            &m,
            json!({"merchant_uid": uid("n"), "amount": 1000, "buyer_tel": TEL, "notice_url": url}),
        )
        .await;
        assert_eq!(resp.0, 400, "{url}: {resp:?}");
        assert!(resp.1["message"].as_str().unwrap().contains("notice_url"), "{url}: {resp:?}");
    }
}

async fn window_amount_ceiling(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let m = server.create_merchant();
    let resp = open(
        &server,
        &m,
        json!({"merchant_uid": uid("max"), "amount": i64::MAX, "buyer_tel": TEL}),
    )
    .await;
    assert_eq!(resp.0, 400, "{resp:?}");
    assert_eq!(resp.1["code"], -1, "{resp:?}");
}

async fn window_refuses_merchant_uid_reserved_by_schedule(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = server.merchant_client().await;
    let customer_uid = uid("sched");
    client.issue_key_ok(&customer_uid, CARD_OK).await;
    let reserved = uid("reserved");
    let at = in_an_hour();
    assert_ok(
        &client
            .post_json(
                "/subscribe/payments/schedule",
                &json!({"customer_uid": customer_uid,
                    "schedules": [{"merchant_uid": reserved, "schedule_at": at, "amount": 1000}]}),
            )
            .await,
        "schedule",
    );
    let refused =
        open(&server, &m, json!({"merchant_uid": reserved, "amount": 1000, "buyer_tel": TEL}))
            .await;
    assert_failure(&refused, "window on a scheduled merchant_uid");
    assert!(refused.1["message"].as_str().unwrap().contains("schedule"), "{refused:?}");
}

/// `openimp channel list --json`: provider → channel key.
fn channel_keys(server: &TestServer, m: &Merchant) -> Vec<(String, String)> {
    let list = server.env.cli_json(&["channel", "list", "--merchant", &m.imp_code, "--json"]);
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["pg_provider"].as_str().unwrap().to_owned(),
                c["channel_key"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn channel_keys_select_the_channel(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = server.merchant_client().await;
    let keys = channel_keys(&server, &m);
    assert_eq!(keys.len(), 2, "{keys:?}");
    let key_of = |provider: &str| keys.iter().find(|(p, _)| p == provider).unwrap().1.clone();
    let (kicc, inicis) = (key_of("kicc"), key_of("html5_inicis"));
    assert!(kicc.starts_with("channel-key-") && kicc != inicis, "{keys:?}");
    let text = server.env.cli(&["channel", "list", "--merchant", &m.imp_code]);
    assert!(text.stdout.contains(&kicc), "the text listing shows keys: {}", text.stdout);

    // onetime: the key picks KG Inicis over the default (KICC) channel; KICC's key picks KICC,
    // which has no keyed API and refuses; an unknown key is refused; nothing reaches a PG.
    server.env.cli_json(&[
        "channel",
        "update",
        "--merchant",
        &m.imp_code,
        "--pg-provider",
        "kicc",
        "--mid",
        "T5102001",
        "--default",
    ]);
    let mut body = json!({"merchant_uid": uid("ck"), "amount": 1000, "card_number": CARD_OK,
        "expiry": EXPIRY, "birth": BIRTH, "pwd_2digit": PWD2, "channelKey": inicis});
    let paid = assert_ok(&client.post_json("/subscribe/payments/onetime", &body).await, "onetime");
    assert_eq!(paid["pg_provider"], "html5_inicis", "{paid}");
    let ledger_before = server.ledger().len();
    body["merchant_uid"] = json!(uid("ck"));
    body["channelKey"] = json!(kicc);
    let refused = client.post_json("/subscribe/payments/onetime", &body).await;
    assert_failure(&refused, "keyed onetime on KICC");
    assert!(refused.1["message"].as_str().unwrap().contains("kicc.T5102001"), "{refused:?}");
    body["merchant_uid"] = json!(uid("ck"));
    body["channelKey"] = json!("channel-key-unknown");
    body["pg"] = json!("kicc");
    let refused = client.post_json("/subscribe/payments/onetime", &body).await;
    assert_failure(&refused, "unknown channelKey");
    assert!(refused.1["message"].as_str().unwrap().contains("channelKey"), "{refused:?}");
    assert_eq!(server.ledger().len(), ledger_before, "nothing was sent to a PG");

    // Billing keys: issued on the named channel; `again` with another channel's key is refused.
    let customer_uid = uid("ck_cust");
    let issued = assert_ok(
        &client
            .post_json(
                &format!("/subscribe/customers/{customer_uid}"),
                &json!({"card_number": CARD_OK, "expiry": EXPIRY, "birth": BIRTH,
                    "pwd_2digit": PWD2, "channelKey": inicis}),
            )
            .await,
        "issue on KG Inicis",
    );
    assert_eq!(issued["pg_provider"], "html5_inicis", "{issued}");
    let again = |channel_key: &str| {
        json!({"customer_uid": customer_uid, "merchant_uid": uid("ag"), "amount": 1000,
            "name": "정기결제", "channelKey": channel_key})
    };
    let paid =
        assert_ok(&client.post_json("/subscribe/payments/again", &again(&inicis)).await, "again");
    assert_eq!(paid["pg_provider"], "html5_inicis");
    for wrong in [kicc.as_str(), "channel-key-unknown"] {
        let refused = client.post_json("/subscribe/payments/again", &again(wrong)).await;
        assert_failure(&refused, "again on another channel");
    }
    let at = in_an_hour();
    let refused = client
        .post_json(
            "/subscribe/payments/schedule",
            &json!({"customer_uid": customer_uid, "channelKey": "channel-key-unknown",
                "schedules": [{"merchant_uid": uid("s"), "schedule_at": at, "amount": 1000}]}),
        )
        .await;
    assert_failure(&refused, "schedule with an unknown channelKey");

    // The window: the key picks its channel; an unknown one is refused.
    let merchant_uid = uid("w");
    let window = open_ok(
        &server,
        &m,
        json!({"merchant_uid": merchant_uid, "amount": 1000, "channelKey": kicc}),
    )
    .await;
    let result = submit_window(&server, &window, &card_form(CARD_OK)).await;
    let (_, body) = client.get(&format!("/payments/find/{merchant_uid}")).await;
    assert_eq!(body["response"]["status"], "paid", "{body} {result}");
    assert_eq!(body["response"]["pg_provider"], "kicc", "{body}");
    let refused = open(
        &server,
        &m,
        json!({"merchant_uid": uid("w"), "amount": 1000, "channelKey": "channel-key-nope"}),
    )
    .await;
    assert_failure(&refused, "window with an unknown channelKey");
}

async fn kg_inicis_window_fields_and_pay_methods(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = server.merchant_client().await;
    let refused =
        open(&server, &m, json!({"pg": "html5_inicis", "merchant_uid": uid("t"), "amount": 1000}))
            .await;
    assert_eq!(refused.0, 400, "{refused:?}");
    assert!(refused.1["message"].as_str().unwrap().contains("buyer_tel"), "{refused:?}");
    // The default channel is KG Inicis too.
    let refused = open(&server, &m, json!({"merchant_uid": uid("t"), "amount": 1000})).await;
    assert!(refused.1["message"].as_str().unwrap().contains("buyer_tel"), "{refused:?}");
    open_ok(&server, &m, json!({"pg": "kicc", "merchant_uid": uid("t"), "amount": 1000})).await;

    for (method, emb) in [
        ("chai", json!("chai")),
        ("cultureland", Value::Null),
        ("smartculture", Value::Null),
        ("happymoney", Value::Null),
    ] {
        let merchant_uid = uid(method);
        let id = open_ok(
            &server,
            &m,
            json!({"pg": "html5_inicis", "pay_method": method, "merchant_uid": merchant_uid,
                "amount": 5000, "buyer_tel": TEL}),
        )
        .await;
        submit_window(&server, &id, &[]).await;
        let (_, body) = client.get(&format!("/payments/find/{merchant_uid}")).await;
        let payment = &body["response"];
        assert_eq!(payment["status"], "paid", "{method}: {body}");
        assert_eq!(payment["pay_method"], method, "{body}");
        assert_eq!(payment["emb_pg_provider"], emb, "{method}: {body}");
    }
}

async fn pg_settings_banks_and_cards(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = server.merchant_client().await;
    let settings = assert_ok(&client.get("/users/pg").await, "/users/pg");
    let settings = settings.as_array().unwrap();
    let keys = channel_keys(&server, &m);
    // Both sandbox channels open windows (payment); KG Inicis also allows keyed charges
    // (api_payment), KICC has no keyed API.
    assert_eq!(settings.len(), 3, "{settings:?}");
    assert_eq!(settings[0]["pg_provider"], "html5_inicis", "default first: {settings:?}");
    let kicc_keyed =
        settings.iter().find(|s| s["pg_provider"] == "kicc" && s["type"] == "api_payment");
    assert!(kicc_keyed.is_none(), "{settings:?}");
    for (provider, key) in &keys {
        let kinds: &[&str] =
            if provider == "kicc" { &["payment"] } else { &["payment", "api_payment"] };
        for kind in kinds {
            let found =
                settings.iter().find(|s| s["pg_provider"] == *provider && s["type"] == *kind);
            let found = found.unwrap_or_else(|| panic!("{provider} {kind}: {settings:?}"));
            assert_eq!(found["channel_key"], *key);
            assert_eq!(found["sandbox"], true);
            assert!(found["pg_id"].as_str().is_some_and(|id| !id.is_empty()));
        }
    }

    let banks = assert_ok(&client.get("/banks").await, "/banks");
    assert!(banks.as_array().unwrap().contains(&json!({"code": "004", "name": "국민은행"})));
    let bank = assert_ok(&client.get("/banks/088").await, "/banks/088");
    assert_eq!(bank, json!({"code": "088", "name": "신한은행"}));
    let cards = assert_ok(&client.get("/cards").await, "/cards");
    assert!(cards.as_array().unwrap().contains(&json!({"code": "366", "name": "신한카드"})));
    let card = assert_ok(&client.get("/cards/381").await, "/cards/381");
    assert_eq!(card, json!({"code": "381", "name": "KB국민카드"}));
    for path in ["/banks/999", "/cards/999"] {
        let resp = client.get(path).await;
        assert_eq!(resp.0, 404, "{path}: {resp:?}");
        assert_failure(&resp, path);
    }
    for path in ["/users/pg", "/banks", "/cards/366"] {
        let resp = server.anon().get(path).await;
        assert_eq!(resp.0, 401, "{path} needs a token: {resp:?}");
    }
}

/// Finding 23: a server that stops between the claim and the result leaves the session
/// `processing`; once a submit can no longer be running, its page shows the payment instead of
/// a form whose every submit answers "already used".
async fn stuck_window_shows_its_payment(backend: Backend) {
    let env = Env::new(&backend).await;
    let pg_timeout = vec![("OPENIMP_PG_TIMEOUT_SECS".to_owned(), "1".to_owned())];
    let merchant_uid = uid("stuck");
    let (m, id);
    {
        let crash = ServerOpts {
            fault_crash_after_pg_call: true,
            env: pg_timeout.clone(),
            ..ServerOpts::default()
        };
        let mut server = TestServer::start_in(env.clone(), crash).await;
        m = server.create_merchant();
        id = open_ok(
            &server,
            &m,
            json!({"merchant_uid": merchant_uid, "amount": 1000, "buyer_tel": TEL}),
        )
        .await;
        let (_, _, csrf) = page(&server, &id).await;
        let mut pairs = vec![("csrf", csrf.as_str())];
        pairs.extend(card_form(CARD_OK));
        let result = server
            .anon()
            .http
            .post(server.url(&format!("/window/{id}")))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_encode(&pairs))
            .send()
            .await;
        assert!(result.is_err(), "the browser sees a broken connection: {result:?}");
        let status = server.wait_exit(Duration::from_secs(15)).await;
        assert!(status.is_some(), "the server aborted after the PG call; logs:\n{}", server.logs());
    }
    let settle = ServerOpts {
        reconcile_interval_secs: Some(1),
        reconcile_after_secs: Some(0),
        env: pg_timeout,
        ..ServerOpts::default()
    };
    let server = TestServer::start_in(env.clone(), settle).await;
    let client = server.client(&m).await;
    let paid = eventually(Duration::from_secs(30), "the reconciler settles the payment", || {
        let client = client.clone();
        let merchant_uid = merchant_uid.clone();
        async move {
            let (_, body) = client.get(&format!("/payments/find/{merchant_uid}")).await;
            (body["response"]["status"] == "paid").then(|| body["response"].clone())
        }
    })
    .await;
    let imp_uid = paid["imp_uid"].as_str().unwrap().to_owned();
    let shown = format!("imp_uid</dt><dd>{imp_uid}<");
    let text = eventually(Duration::from_secs(15), "the stuck window shows its payment", || {
        let (server, id, shown) = (&server, &id, &shown);
        async move {
            let (status, text, csrf) = page(server, id).await;
            (status == 200 && csrf.is_empty() && text.contains(shown.as_str())).then_some(text)
        }
    })
    .await;
    assert!(!text.contains("name=\"card_number\""), "no card form: {text}");
}
