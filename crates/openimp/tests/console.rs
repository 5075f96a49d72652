//! The merchant web console over real HTTP, on SQLite and PostgreSQL: accounts from the CLI
//! (password from stdin or a file), sign-in with its cookie flags, CSRF refused, the lockout,
//! a viewer refused, another merchant's objects answering 404 by every URL, a partial refund
//! from the console with its webhook and audit entry, seed 002's PG settings, operators.

#[macro_use]
mod common;
mod console_harness;
mod support;

use std::time::Duration;

use common::*;
use console_harness::*;
use reqwest::StatusCode;
use serde_json::json;
use support::*;

dual_backend_tests!(
    sign_in_and_out,
    csrf_is_refused,
    lockout_after_repeated_failures,
    viewer_sees_but_changes_nothing,
    another_merchants_objects_are_not_found,
    partial_refund_sends_its_webhook,
    seed_002_pg_settings,
    operator_manages_every_merchant,
    forwarded_proto_and_no_console,
    secret_regeneration_is_shown_once,
    payment_search_and_pages,
);

async fn sign_in_and_out(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let merchant = server.create_merchant();
    let email = merchant_user(&server.env, &merchant, "owner");

    // Signed out: every page sends to the sign-in page, which has the labelled fields.
    let mut browser = Browser::new(&server);
    let home = browser.get(&format!("/console/m/{}", merchant.imp_code)).await;
    assert!(home.status.is_redirection() && home.location == "/console/login", "{}", home.status);
    let form = browser.get("/console/login").await;
    for label in [">이메일</label>", ">비밀번호</label>", ">로그인</button>"] {
        assert!(form.body.contains(label), "{label} in {}", form.body);
    }
    let login_cookie = form.set_cookies.iter().any(|c| c.starts_with("openimp_console_login="));
    assert!(login_cookie, "the sign-in form sets its CSRF cookie");

    let wrong = browser.sign_in(&email, "not-the-password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("이메일 또는 비밀번호가 올바르지 않습니다"), "{}", wrong.body);
    assert!(!browser.cookies.contains_key("openimp_console"));

    // Emails are case-insensitive. The session cookie: HttpOnly, SameSite=Strict, not Secure
    // over plain http.
    let ok = browser.sign_in(&email.to_uppercase(), PASSWORD).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let session =
        ok.set_cookies.iter().find(|c| c.starts_with("openimp_console=")).expect("session cookie");
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Strict")
            && session.contains("Path=/console"),
        "{session}"
    );
    assert!(!session.contains("Secure"), "{session}");
    let home = browser.get("/console").await;
    assert_eq!(home.location, format!("/console/m/{}", merchant.imp_code));
    let dashboard = browser.get(&home.location).await;
    assert_eq!(dashboard.status, 200);
    assert!(dashboard.body.contains("<svg") && dashboard.body.contains(&merchant.imp_code));
    let absolute = dashboard.body.replace("http://www.w3.org/2000/svg", "");
    assert!(
        !absolute.contains("http://") && !absolute.contains("https://"),
        "no third-party URL in the dashboard"
    );

    // Sign-out ends the session on the server: the old cookie no longer works.
    let old_cookie = browser.cookies.get("openimp_console").cloned().expect("cookie");
    let csrf = dashboard.csrf();
    let out = browser.post("/console/logout", &[("csrf", &csrf)]).await;
    assert!(out.status.is_redirection() && out.location == "/console/login");
    let mut replay = Browser::new(&server);
    replay.cookies.insert("openimp_console".to_owned(), old_cookie);
    let after = replay.get(&format!("/console/m/{}/payments", merchant.imp_code)).await;
    assert_eq!(after.location, "/console/login", "a signed-out session is gone");

    // Accounts: a short password, an unknown merchant, a taken email are refused; there is no
    // password flag at all.
    let short = create_user(
        &server.env,
        &["--merchant", &merchant.imp_code, "--email", "x@example.com"],
        "short",
    );
    assert!(!short.status.success());
    let unknown = create_user(
        &server.env,
        &["--merchant", "imp00000000", "--email", "y@example.com"],
        PASSWORD,
    );
    assert!(!unknown.status.success());
    let taken =
        create_user(&server.env, &["--merchant", &merchant.imp_code, "--email", &email], PASSWORD);
    assert!(
        !taken.status.success()
            && String::from_utf8_lossy(&taken.stderr).contains("already exists")
    );
    let flag = server.env.cli(&[
        "user",
        "create",
        "--operator",
        "--email",
        "z@example.com",
        "--password",
        PASSWORD,
    ]);
    assert!(!flag.success, "no --password flag");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    let from_file = server.env.cli_json(&[
        "user",
        "create",
        "--operator",
        "--email",
        "ops@example.com",
        "--password-file",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(from_file["role"], "operator");
    assert_eq!(
        Browser::new(&server).sign_in("ops@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
}

async fn csrf_is_refused(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (merchant, client) = server.merchant_client().await;
    let email = merchant_user(&server.env, &merchant, "owner");
    let imp_uid = paid_payment(&client, 1000).await;

    // The sign-in form without its cookie's token.
    let mut stranger = Browser::new(&server);
    let refused = stranger
        .post("/console/login", &[("csrf", "forged"), ("email", &email), ("password", PASSWORD)])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!stranger.cookies.contains_key("openimp_console"));

    let mut browser = Browser::signed_in(&server, &email).await;
    let path = format!("/console/m/{}/payments/{imp_uid}", merchant.imp_code);
    let csrf = browser.csrf(&path).await;
    for token in ["", "0000", &"f".repeat(csrf.len())] {
        let page = browser
            .post(
                &format!("{path}/cancel"),
                &[("csrf", token), ("reason", "csrf"), ("checksum", "1000")],
            )
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "token {token:?}");
    }
    for action in merchant_changes(&merchant.imp_code) {
        let page = browser.post(&action, &[("csrf", "forged"), ("reason", "csrf")]).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{action}");
        assert!(page.body.contains("요청을 확인할 수 없습니다"), "{action}: {}", page.body);
    }
    let payment = client.payment(&imp_uid).await;
    assert_eq!(
        (payment["status"].as_str(), payment["cancel_amount"].as_i64()),
        (Some("paid"), Some(0))
    );
    assert!(server.ledger_for(&imp_uid, "cancel").is_empty(), "nothing reached the PG");
    // Sign-out needs the token too.
    let out = browser.post("/console/logout", &[("csrf", "wrong")]).await;
    assert_eq!(out.status, StatusCode::FORBIDDEN);
    assert_eq!(browser.get(&path).await.status, 200, "still signed in");
}

async fn lockout_after_repeated_failures(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let merchant = server.create_merchant();
    let email = merchant_user(&server.env, &merchant, "owner");
    let other = merchant_user(&server.env, &merchant, "viewer");
    let mut browser = Browser::new(&server);
    for attempt in 0..5 {
        let page = browser.sign_in(&email, &format!("wrong-{attempt}")).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // Locked: even the right password is refused, and says why.
    let locked = browser.sign_in(&email, PASSWORD).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.body.contains("로그인 실패가 너무 많습니다"), "{}", locked.body);
    assert!(!browser.cookies.contains_key("openimp_console"));
    // Another account is not locked by them.
    assert_eq!(Browser::new(&server).sign_in(&other, PASSWORD).await.status, StatusCode::SEE_OTHER);
    // An unknown email is counted the same way (no telling which emails exist).
    let mut guesser = Browser::new(&server);
    for _ in 0..5 {
        assert_eq!(
            guesser.sign_in("nobody@example.com", "x").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        guesser.sign_in("nobody@example.com", "x").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn viewer_sees_but_changes_nothing(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (merchant, client) = server.merchant_client().await;
    let viewer = merchant_user(&server.env, &merchant, "viewer");
    let imp_uid = paid_payment(&client, 1000).await;
    let code = &merchant.imp_code;
    let mut browser = Browser::signed_in(&server, &viewer).await;
    for path in [
        "",
        "/payments",
        "/billing-keys",
        "/schedules",
        "/webhooks",
        "/settings",
        "/settings/account",
        "/audit",
    ] {
        assert_eq!(browser.get(&format!("/console/m/{code}{path}")).await.status, 200, "{path}");
    }
    let account = browser.get(&format!("/console/m/{code}/settings/account")).await;
    assert!(
        account.body.contains("whsec_********") && !account.body.contains("<details>"),
        "a viewer does not see the signing secret"
    );
    let path = format!("/console/m/{code}/payments/{imp_uid}");
    let page = browser.get(&path).await;
    assert!(page.body.contains("조회 전용 계정은 결제를 취소할 수 없습니다"));
    let csrf = page.csrf();
    let refused = browser
        .post(
            &format!("{path}/cancel"),
            &[("csrf", &csrf), ("reason", "viewer"), ("checksum", "1000")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("권한이 없습니다"), "{}", refused.body);
    let channels = server.env.cli_json(&["channel", "list", "--merchant", code, "--json"]);
    let first = channels[0]["id"].as_str().unwrap();
    for (action, form) in [
        (
            format!("/console/m/{code}/settings/channels"),
            vec![("pg_provider", "kicc"), ("mid", "T9")],
        ),
        (format!("/console/m/{code}/settings/channels/{first}/delete"), vec![]),
        (format!("/console/m/{code}/settings/secret"), vec![]),
        (format!("/console/m/{code}/settings/webhook"), vec![("webhook_url", "")]),
    ] {
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend(form);
        assert_eq!(browser.post(&action, &fields).await.status, StatusCode::FORBIDDEN, "{action}");
    }
    for action in merchant_changes(code) {
        let page = browser.post(&action, &[("csrf", &csrf), ("reason", "viewer")]).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{action}");
        assert!(page.body.contains("권한이 없습니다"), "{action}: {}", page.body);
    }
    // Operators' pages are not a viewer's (nor an owner's): not found.
    assert_eq!(browser.get("/console/merchants").await.status, StatusCode::NOT_FOUND);
    let create = browser.post("/console/merchants", &[("csrf", &csrf), ("name", "x")]).await;
    assert_eq!(create.status, StatusCode::NOT_FOUND);
    let payment = client.payment(&imp_uid).await;
    assert_eq!(payment["status"], "paid");
    assert_eq!(server.env.cli_json(&["channel", "list", "--merchant", code, "--json"]), channels);
    // The REST secret still works: it was not regenerated.
    server.client(&merchant).await;
}

async fn another_merchants_objects_are_not_found(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (mine, _) = server.merchant_client().await;
    let (theirs, their_client) = server.merchant_client().await;
    let email = merchant_user(&server.env, &mine, "owner");
    let their_payment = paid_payment(&their_client, 1000).await;
    let key = uid("cust");
    their_client.issue_key_ok(&key, CARD_OK).await;
    let mut browser = Browser::signed_in(&server, &email).await;
    let csrf = browser.csrf(&format!("/console/m/{}/payments", mine.imp_code)).await;
    let (my, their) = (&mine.imp_code, &theirs.imp_code);
    for path in [
        format!("/console/m/{my}/payments/{their_payment}"),
        format!("/console/m/{their}/payments/{their_payment}"),
        format!("/console/m/{their}"),
        format!("/console/m/{their}/payments"),
        format!("/console/m/{their}/settings"),
        format!("/console/m/{their}/audit"),
        format!("/console/m/{my}/billing-keys/{key}"),
        format!("/console/m/{their}/billing-keys/{key}"),
        "/console/merchants".to_owned(),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            !page.body.contains(&their_payment)
                || path.contains(&their_payment) && !page.body.contains("결제완료"),
            "{path}"
        );
    }
    for path in [
        format!("/console/m/{my}/payments/{their_payment}/cancel"),
        format!("/console/m/{their}/payments/{their_payment}/cancel"),
        format!("/console/m/{their}/billing-keys/{key}/delete"),
        format!("/console/m/{my}/billing-keys/{key}/delete"),
    ] {
        let page = browser.post(&path, &[("csrf", &csrf), ("reason", "x")]).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Every page and every form of theirs, whatever the ids.
    for path in merchant_pages(their) {
        assert_eq!(browser.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    for path in merchant_changes(their) {
        let page = browser.post(&path, &[("csrf", &csrf), ("reason", "x")]).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
    }
    // A search by their imp_uid finds nothing.
    let search = browser.get(&format!("/console/m/{my}/payments?imp_uid={their_payment}")).await;
    assert!(search.body.contains("내역이 없습니다"), "{}", search.body);
    assert_eq!(their_client.payment(&their_payment).await["status"], "paid");
    assert_ok(
        &their_client.get(&format!("/subscribe/customers/{key}")).await,
        "their key is intact",
    );
}

async fn partial_refund_sends_its_webhook(backend: Backend) {
    let server = TestServer::start_with(&backend, fast_opts()).await;
    let receiver = Receiver::start(0).await;
    let (merchant, client) = server.merchant_client().await;
    let code = &merchant.imp_code;
    let email = merchant_user(&server.env, &merchant, "owner");
    let mut browser = Browser::signed_in(&server, &email).await;

    // The webhook URL is set in the console; 호출 테스트 reaches it with a signed test.
    let account = format!("/console/m/{code}/settings/account");
    let csrf = browser.csrf(&account).await;
    let saved = browser
        .post(
            &format!("/console/m/{code}/settings/webhook"),
            &[("csrf", &csrf), ("webhook_url", &receiver.url("/hook")), ("webhook_format", "json")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let tested =
        browser.post(&format!("/console/m/{code}/settings/webhook/test"), &[("csrf", &csrf)]).await;
    assert_eq!(tested.status, 200);
    assert!(tested.body.contains("HTTP <strong>200</strong>"), "{}", tested.body);
    let test_hit = receiver
        .received()
        .into_iter()
        .find(|r| r.fields()["imp_uid"] == "imp_webhook_test")
        .expect("the test webhook");
    assert!(test_hit.header("webhook-signature").starts_with("v1,"));

    let imp_uid = paid_payment(&client, 1000).await;
    let path = format!("/console/m/{code}/payments/{imp_uid}");
    let page = browser.get(&path).await;
    assert!(page.body.contains("1,000원"));
    let csrf = page.csrf();
    let done = browser
        .post(
            &format!("{path}/cancel"),
            &[
                ("csrf", &csrf),
                ("amount", "300"),
                ("reason", "부분환불 테스트"),
                ("checksum", "1000"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let payment = client.payment(&imp_uid).await;
    assert_eq!(
        (payment["status"].as_str(), payment["cancel_amount"].as_i64()),
        (Some("paid"), Some(300))
    );
    assert_eq!(payment["cancel_history"][0]["reason"], "부분환불 테스트");
    assert_eq!(server.ledger_for(&imp_uid, "cancel").len(), 1, "one cancel at the PG");

    // The same form again (the old balance as checksum) is refused: no second refund.
    let again = browser
        .post(
            &format!("{path}/cancel"),
            &[("csrf", &csrf), ("amount", "300"), ("reason", "두번"), ("checksum", "1000")],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.body.contains("checksum"), "{}", again.body);
    assert_eq!(client.payment(&imp_uid).await["cancel_amount"], 300);

    // A partial cancel leaves the payment paid: the webhook says so, with the cancel's id.
    let hooks = eventually(Duration::from_secs(30), "the cancel's webhook", || async {
        let hits: Vec<Received> = receiver
            .accepted_for(&imp_uid)
            .into_iter()
            .filter(|r| r.fields().get("cancellation_id").is_some())
            .collect();
        (!hits.is_empty()).then_some(hits)
    })
    .await;
    assert_eq!(
        hooks[0].fields()["cancellation_id"],
        payment["cancel_history"][0]["cancellation_id"]
    );
    assert_eq!(hooks[0].fields()["status"], "paid");
    // The payment page shows the cancel and, once delivered, the webhook with its answer.
    let page = eventually(Duration::from_secs(30), "the delivery on the page", || async {
        let mut reader = Browser {
            base: browser.base.clone(),
            http: browser.http.clone(),
            cookies: browser.cookies.clone(),
        };
        let page = reader.get(&path).await;
        page.body.contains("HTTP 200").then_some(page)
    })
    .await;
    assert!(page.body.contains("부분환불 테스트") && page.body.contains("300원"), "{}", page.body);
    let audit = browser.get(&format!("/console/m/{code}/audit")).await;
    for expected in ["결제취소", &imp_uid, &email, "300 KRW", "웹훅 설정 변경", "웹훅 호출 테스트"]
    {
        assert!(audit.body.contains(expected), "{expected} in the audit log: {}", audit.body);
    }
}

async fn seed_002_pg_settings(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let merchant = server.create_merchant();
    let code = &merchant.imp_code;
    let email = merchant_user(&server.env, &merchant, "owner");
    let mut browser = Browser::signed_in(&server, &email).await;
    let form = browser.get(&format!("/console/m/{code}/settings/channels/new")).await;
    for label in [
        "PG사</label>",
        "KG이니시스(웹표준결제창)",
        "KG이니시스(ActiveX)",
        ">KICC<",
        "테스트모드(Sandbox)",
        "PG상점아이디 (MID)",
        "웹표준결제 signKey",
        "빌링용 merchantKey",
        "INIAPI key",
        "INIAPI IV",
        "KICC secret key",
        "전체 저장",
    ] {
        assert!(form.body.contains(label), "{label}");
    }
    let csrf = form.csrf();
    // 테스트모드(Sandbox) OFF: the checkbox is not sent.
    let saved = browser
        .post(
            &format!("/console/m/{code}/settings/channels"),
            &[
                ("csrf", &csrf),
                ("pg_provider", "html5_inicis"),
                ("mid", "INIBillTst"),
                ("sign_key", "SU5JTElURV9UUklQTEVERVNfS0VZU1RS"),
                ("merchant_key", "b09LVzhuTGZVaEY1WmJoQnZzdXpRdz09"),
                ("keyed_billing", "on"),
            ],
        )
        .await;
    // The demo channels already hold html5_inicis.INIBillTst (test mode): the console says so.
    assert_eq!(saved.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", saved.body);
    assert!(saved.body.contains("already has a channel"), "{}", saved.body);
    let channels = server.env.cli_json(&["channel", "list", "--merchant", code, "--json"]);
    let sandbox = channels.as_array().unwrap().iter().find(|c| c["mid"] == "INIBillTst").unwrap()
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let removed = browser
        .post(&format!("/console/m/{code}/settings/channels/{sandbox}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    let saved = browser
        .post(
            &format!("/console/m/{code}/settings/channels"),
            &[
                ("csrf", &csrf),
                ("pg_provider", "html5_inicis"),
                ("mid", "INIBillTst"),
                ("sign_key", "SU5JTElURV9UUklQTEVERVNfS0VZU1RS"),
                ("merchant_key", "b09LVzhuTGZVaEY1WmJoQnZzdXpRdz09"),
                ("keyed_billing", "on"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let channels = server.env.cli_json(&["channel", "list", "--merchant", code, "--json"]);
    let added = channels
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["mid"] == "INIBillTst")
        .expect("the new channel")
        .clone();
    assert_eq!(added["pg_provider"], "html5_inicis");
    assert_eq!(added["test_mode"], false);
    assert_eq!(added["secrets"], json!({"merchant_key": "b0******", "sign_key": "SU******"}));
    // The PG settings page shows it with masked secrets, never the whole key.
    let list = browser.get(&format!("/console/m/{code}/settings")).await;
    assert!(list.body.contains("INIBillTst") && list.body.contains("SU******"));
    assert!(!list.body.contains("SU5JTElURV9UUklQTEVERVNfS0VZU1RS"));
    let edit = browser
        .get(&format!("/console/m/{code}/settings/channels/{}", added["id"].as_str().unwrap()))
        .await;
    assert_eq!(edit.status, 200);
    assert!(
        !edit.body.contains("SU5JTElURV9UUklQTEVERVNfS0VZU1RS")
            && edit.body.contains("placeholder=\"SU******\"")
    );
    // Editing: the same form; only the typed secret is replaced, the channel keeps its key.
    let id = added["id"].as_str().unwrap();
    let edited = browser
        .post(
            &format!("/console/m/{code}/settings/channels/{id}"),
            &[
                ("csrf", &csrf),
                ("test_mode", "on"),
                ("keyed_billing", "on"),
                ("endpoint", "https://stdpay.example.com"),
                ("sign_key", "NEWSIGNKEY0123456789"),
                ("merchant_key", ""),
            ],
        )
        .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER, "{}", edited.body);
    let channels = server.env.cli_json(&["channel", "list", "--merchant", code, "--json"]);
    let after = channels
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .expect("the edited channel")
        .clone();
    assert_eq!(after["test_mode"], true);
    assert_eq!(after["endpoint"], "https://stdpay.example.com");
    assert_eq!(after["channel_key"], added["channel_key"]);
    assert_eq!(after["secrets"], json!({"merchant_key": "b0******", "sign_key": "NE******"}));
    let bad_endpoint = browser
        .post(
            &format!("/console/m/{code}/settings/channels/{id}"),
            &[("csrf", &csrf), ("endpoint", "ftp://x")],
        )
        .await;
    assert_eq!(bad_endpoint.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad_endpoint.body);
    let audit = browser.get(&format!("/console/m/{code}/audit")).await;
    assert!(
        audit.body.contains("PG설정 변경") && audit.body.contains("replaced secrets=[sign_key]"),
        "{}",
        audit.body
    );
    assert!(
        audit.body.contains("PG 추가")
            && audit.body.contains("PG 삭제")
            && audit.body.contains("test_mode=false"),
        "{}",
        audit.body
    );
    assert!(!audit.body.contains("SU5JTElURV9UUklQTEVERVNfS0VZU1RS"), "no secret in the audit log");
    // An unknown provider is refused by the service's rules.
    let bad = browser
        .post(
            &format!("/console/m/{code}/settings/channels"),
            &[("csrf", &csrf), ("pg_provider", "nice"), ("mid", "X")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn operator_manages_every_merchant(backend: Backend) {
    let server = TestServer::start_with(
        &backend,
        ServerOpts {
            extra_args: vec!["--public-url".into(), "https://pay.example.com".into()],
            ..ServerOpts::default()
        },
    )
    .await;
    let (merchant, client) = server.merchant_client().await;
    let imp_uid = paid_payment(&client, 2000).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    std::fs::write(&file, PASSWORD).unwrap();
    server.env.cli_json(&[
        "user",
        "create",
        "--operator",
        "--email",
        "ops@example.com",
        "--password-file",
        file.to_str().unwrap(),
        "--json",
    ]);
    let mut browser = Browser::new(&server);
    let ok = browser.sign_in("ops@example.com", PASSWORD).await;
    // Behind https (the public URL), the session cookie is Secure.
    let session =
        ok.set_cookies.iter().find(|c| c.starts_with("openimp_console=")).expect("session cookie");
    assert!(session.contains("; Secure"), "{session}");
    assert_eq!(browser.get("/console").await.location, "/console/merchants");
    let list = browser.get("/console/merchants").await;
    assert!(list.body.contains(&merchant.imp_code));
    let page = browser.get(&format!("/console/m/{}/payments/{imp_uid}", merchant.imp_code)).await;
    assert_eq!(page.status, 200);
    let csrf = list.csrf();
    let created =
        browser.post("/console/merchants", &[("csrf", &csrf), ("name", "새가맹점")]).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let at = created.body.find("id=\"created-merchant\"").expect("credentials shown");
    let code: String = created.body[at..]
        .split("<code>")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(|c| *c != '<')
        .collect();
    let secret: String = created.body[at..]
        .split("<code>")
        .nth(3)
        .unwrap()
        .chars()
        .take_while(|c| *c != '<')
        .collect();
    let key: String = created.body[at..]
        .split("<code>")
        .nth(2)
        .unwrap()
        .chars()
        .take_while(|c| *c != '<')
        .collect();
    server.client(&Merchant { imp_code: code.clone(), imp_key: key, imp_secret: secret }).await;
    let merchants = server.env.cli_json(&["merchant", "list", "--json"]);
    assert!(merchants
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["imp_code"] == code.as_str() && m["name"] == "새가맹점"));
    let audit = browser.get(&format!("/console/m/{code}/audit")).await;
    assert!(audit.body.contains("가맹점 생성") && audit.body.contains("ops@example.com"));
}

async fn forwarded_proto_and_no_console(backend: Backend) {
    let trusting = ServerOpts {
        extra_args: vec!["--console-trust-forwarded-proto".into()],
        ..ServerOpts::default()
    };
    let server = TestServer::start_with(&backend, trusting).await;
    let merchant = server.create_merchant();
    let email = merchant_user(&server.env, &merchant, "owner");
    // A trusted proxy saying https makes the cookies Secure; without the header they are not.
    let mut browser = Browser::new(&server);
    let form = browser
        .send(
            browser
                .http
                .get(format!("{}/console/login", browser.base))
                .header("x-forwarded-proto", "https"),
        )
        .await;
    assert!(form.set_cookies.iter().all(|c| c.ends_with("; Secure")), "{:?}", form.set_cookies);
    let csrf = form.csrf();
    let request = browser
        .http
        .post(format!("{}/console/login", browser.base))
        .header("x-forwarded-proto", "https")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_encode(&[("csrf", &csrf), ("email", &email), ("password", PASSWORD)]));
    let signed = browser.send(request).await;
    let session =
        signed.set_cookies.iter().find(|c| c.starts_with("openimp_console=")).expect("session");
    assert!(session.ends_with("; Secure"), "{session}");
    let plain = Browser::new(&server).sign_in(&email, PASSWORD).await;
    let session =
        plain.set_cookies.iter().find(|c| c.starts_with("openimp_console=")).expect("session");
    assert!(!session.contains("Secure"), "{session}");
    drop(server);

    // Not trusted (the default): the header is ignored.
    let server = TestServer::start(&backend).await;
    let browser = Browser::new(&server);
    let mut probe = Browser::new(&server);
    let form = probe
        .send(
            browser
                .http
                .get(format!("{}/console/login", browser.base))
                .header("x-forwarded-proto", "https"),
        )
        .await;
    assert!(form.set_cookies.iter().all(|c| !c.contains("Secure")), "{:?}", form.set_cookies);
    drop(server);

    // --no-console: /console is not served (the API's own 404), the API is.
    let off = ServerOpts { extra_args: vec!["--no-console".into()], ..ServerOpts::default() };
    let server = TestServer::start_with(&backend, off).await;
    let mut browser = Browser::new(&server);
    let page = browser.get("/console/login").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("\"code\""), "the API's envelope: {}", page.body);
    let merchant = server.create_merchant();
    server.client(&merchant).await;
}

async fn secret_regeneration_is_shown_once(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (merchant, old_client) = server.merchant_client().await;
    let code = &merchant.imp_code;
    let email = merchant_user(&server.env, &merchant, "owner");
    let mut browser = Browser::signed_in(&server, &email).await;
    let account = format!("/console/m/{code}/settings/account");
    let page = browser.get(&account).await;
    assert!(page.body.contains(code) && page.body.contains(&merchant.imp_key));
    assert!(!page.body.contains(&merchant.imp_secret), "the secret is never shown again");
    let csrf = page.csrf();
    let done =
        browser.post(&format!("/console/m/{code}/settings/secret"), &[("csrf", &csrf)]).await;
    assert_eq!(done.status, 200);
    let at =
        done.body.find("id=\"new-secret\">").expect("the new secret") + "id=\"new-secret\">".len();
    let secret: String = done.body[at..].chars().take_while(|c| *c != '<').collect();
    assert!(secret.len() >= 16, "{secret}");
    // The old secret and its tokens stop working; the new one signs in.
    let (status, body) = old_client.get("/payments/status/paid").await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = server
        .anon()
        .post_json(
            "/users/getToken",
            &json!({"imp_key": merchant.imp_key, "imp_secret": merchant.imp_secret}),
        )
        .await;
    assert_eq!(status, 401);
    server.client(&Merchant { imp_secret: secret.clone(), ..merchant.clone() }).await;
    let again = browser.get(&account).await;
    assert!(!again.body.contains(&secret), "shown once");
    let audit = browser.get(&format!("/console/m/{code}/audit")).await;
    assert!(
        audit.body.contains("REST secret 재발급") && !audit.body.contains(&secret),
        "{}",
        audit.body
    );

    // The webhook signing secret: masked on the page, shown only on its own (audited) form.
    let webhook_secret = server.env.cli(&["merchant", "webhook-secret", "--merchant", code]);
    assert!(webhook_secret.success, "{}", webhook_secret.stderr);
    let webhook_secret = webhook_secret.stdout.trim().to_owned();
    assert!(webhook_secret.starts_with("whsec_"), "{webhook_secret}");
    // As the page spells it (base64's `/` is escaped in HTML).
    let on_page = webhook_secret.replace('/', "&#x2f;");
    let page = browser.get(&account).await;
    assert!(page.body.contains("whsec_********"), "{}", page.body);
    assert!(!page.body.contains(&on_page), "the signing secret is not on the page");
    let shown = browser
        .post(&format!("/console/m/{code}/settings/webhook/secret"), &[("csrf", &page.csrf())])
        .await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains(&format!("id=\"webhook-secret\">{on_page}<")), "{}", shown.body);
    let audit = browser.get(&format!("/console/m/{code}/audit")).await;
    assert!(
        audit.body.contains("웹훅 서명 secret 조회") && !audit.body.contains(&on_page),
        "{}",
        audit.body
    );
}

async fn payment_search_and_pages(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (merchant, client) = server.merchant_client().await;
    let code = &merchant.imp_code;
    let email = merchant_user(&server.env, &merchant, "viewer");
    let prefix = uid("p");
    let kst_today = || {
        chrono::Utc::now()
            .with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap())
            .date_naive()
    };
    let day_before = kst_today();
    for i in 0..23 {
        client.onetime_paid(&format!("{prefix}_{i:02}"), 1000 + i).await;
    }
    let declined = client.onetime(&format!("{prefix}_declined"), 3000, &card("0002")).await;
    let declined = assert_ok(&declined, "a declined charge");
    assert_eq!(declined["status"], "failed");
    let mut browser = Browser::signed_in(&server, &email).await;
    let base = format!("/console/m/{code}/payments");
    let rows = |page: &Page| page.body.matches("<tr>\n      <td><a href=").count();

    // 24 payments, 20 a page, newest first; the pager keeps the search.
    let first = browser.get(&format!("{base}?status=&pay_method=card")).await;
    assert_eq!(rows(&first), 20, "{}", first.body);
    assert!(first.body.contains("href=\"?pay_method=card&amp;page=2\""), "{}", first.body);
    let second = browser.get(&format!("{base}?pay_method=card&page=2")).await;
    assert_eq!(rows(&second), 4);
    // Together the two pages hold every payment once (ties within a second are broken by imp_uid).
    for i in 0..23 {
        let merchant_uid = format!("{prefix}_{i:02}<");
        let seen =
            first.body.matches(&merchant_uid).count() + second.body.matches(&merchant_uid).count();
        assert_eq!(seen, 1, "{merchant_uid}");
    }

    let failed = browser.get(&format!("{base}?status=failed")).await;
    assert_eq!(rows(&failed), 1);
    assert!(failed.body.contains(declined["imp_uid"].as_str().unwrap()));
    // The PG's code is written once, by the service (the sandbox's text no longer carries it).
    assert_eq!(declined["fail_reason"], "[51] 잔액부족");
    let dashboard = browser.get(&format!("/console/m/{code}")).await;
    assert!(dashboard.body.contains("<td>[51] 잔액부족</td>"), "{}", dashboard.body);
    let by_uid = browser.get(&format!("{base}?merchant_uid={prefix}_07")).await;
    assert_eq!(rows(&by_uid), 1);
    assert!(by_uid.body.contains("1,007원"));
    let by_pg = browser.get(&format!("{base}?pg=kicc")).await;
    assert_eq!(rows(&by_pg), 0, "every charge went to the default html5_inicis channel");

    // A bad date says so and does not filter.
    let bad = browser.get(&format!("{base}?from=2026-02-30")).await;
    assert!(bad.body.contains("날짜 형식이 올바르지 않습니다"), "{}", bad.body);
    assert_eq!(rows(&bad), 20);
    // Dates are KST days, both ends included.
    let today = kst_today();
    if today != day_before {
        eprintln!("the KST day changed while the payments were made: date checks left out");
        return;
    }
    let today_rows = browser.get(&format!("{base}?from={today}&to={today}&status=paid")).await;
    assert_eq!(rows(&today_rows), 20);
    assert!(today_rows.body.contains("전체 23"), "{}", today_rows.body);
    let yesterday = today.pred_opt().unwrap();
    let none = browser.get(&format!("{base}?from={yesterday}&to={yesterday}")).await;
    assert_eq!(rows(&none), 0);
}
