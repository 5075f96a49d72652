//! Payment lookups: by imp_uid, multi-get, find/findAll by merchant_uid, list by status.

#[macro_use]
mod common;

use common::*;
use serde_json::Value;

dual_backend_tests!(
    get_by_imp_uid,
    multi_get_payments,
    find_and_find_all,
    list_by_status,
    extreme_query_parameters,
);

fn imp_uids(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("expected an array: {list}"))
        .iter()
        .map(|p| p["imp_uid"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

async fn get_by_imp_uid(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let p = client.onetime_paid(&uid("get"), 1000).await;
    let imp_uid = p["imp_uid"].as_str().unwrap();
    let got = client.payment(imp_uid).await;
    assert_eq!(got["imp_uid"], imp_uid);
    assert_eq!(got["status"], "paid");
    assert_eq!(got["amount"], 1000);

    for missing in ["imps_000000000000", "imp_123", "nothing"] {
        let resp = client.get(&format!("/payments/{missing}")).await;
        assert_eq!(resp.0, 404, "unknown imp_uid {missing}: {}", resp.1);
        assert_failure(&resp, "unknown imp_uid");
    }
}

async fn multi_get_payments(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let mu_a = uid("a");
    let mu_b = uid("b");
    let mu_c = uid("c");
    let a = client.onetime_paid(&mu_a, 1000).await;
    let b = client.onetime_paid(&mu_b, 2000).await;
    let c = client.onetime_paid(&mu_c, 3000).await;
    let (ia, ib, ic) = (
        a["imp_uid"].as_str().unwrap(),
        b["imp_uid"].as_str().unwrap(),
        c["imp_uid"].as_str().unwrap(),
    );
    let mut all = vec![ia.to_owned(), ib.to_owned(), ic.to_owned()];
    all.sort();

    // imp_uid[] and merchant_uid[] together, raw brackets.
    let resp =
        client.get(&format!("/payments?imp_uid[]={ia}&imp_uid[]={ib}&merchant_uid[]={mu_c}")).await;
    let list = assert_ok(&resp, "multi-get");
    assert_eq!(imp_uids(&list), all);

    // Encoded brackets.
    let resp = client.get(&format!("/payments?imp_uid%5B%5D={ia}&merchant_uid%5B%5D={mu_b}")).await;
    let list = assert_ok(&resp, "multi-get (encoded)");
    let mut want = vec![ia.to_owned(), ib.to_owned()];
    want.sort();
    assert_eq!(imp_uids(&list), want);

    // Some missing: 207, only the found ones.
    let resp = client
        .get(&format!("/payments?imp_uid[]={ia}&imp_uid[]=imps_999999999999&merchant_uid[]=nope"))
        .await;
    assert_eq!(resp.0, 207, "some missing: {}", resp.1);
    assert_eq!(resp.1["code"], 0, "{}", resp.1);
    assert_eq!(imp_uids(&resp.1["response"]), vec![ia.to_owned()]);

    // None found: 404.
    let resp = client.get("/payments?imp_uid[]=imps_999999999999&merchant_uid[]=nope").await;
    assert_eq!(resp.0, 404, "none found: {}", resp.1);
    assert_ne!(resp.1["code"], 0);
}

async fn find_and_find_all(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let mu = uid("find");
    // A declined attempt, then a paid one, under one merchant_uid.
    let (_, declined) = client.onetime(&mu, 5000, &card("0002")).await;
    assert_eq!(declined["code"], 0, "{declined}");
    assert_eq!(declined["response"]["status"], "failed", "{declined}");
    let failed_uid = declined["response"]["imp_uid"].as_str().unwrap().to_owned();
    // Make sure started_at differs so the default sorting (-started) is well defined.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let paid = client.onetime_paid(&mu, 5000).await;
    let paid_uid = paid["imp_uid"].as_str().unwrap().to_owned();

    let found = assert_ok(&client.get(&format!("/payments/find/{mu}")).await, "find");
    assert_eq!(
        found["imp_uid"],
        paid_uid.as_str(),
        "find returns the newest attempt (-started): {found}"
    );
    let found = assert_ok(&client.get(&format!("/payments/find/{mu}/paid")).await, "find paid");
    assert_eq!(found["imp_uid"], paid_uid.as_str());
    let found = assert_ok(&client.get(&format!("/payments/find/{mu}/failed")).await, "find failed");
    assert_eq!(found["imp_uid"], failed_uid.as_str());
    let found = assert_ok(
        &client.get(&format!("/payments/find/{mu}?sorting=started")).await,
        "find sorting=started",
    );
    assert_eq!(
        found["imp_uid"],
        failed_uid.as_str(),
        "sorting=started returns the oldest: {found}"
    );

    let none = client.get(&format!("/payments/find/{mu}/cancelled")).await;
    assert_eq!(none.0, 404, "find cancelled: {}", none.1);
    let none = client.get("/payments/find/no_such_order").await;
    assert_eq!(none.0, 404, "find unknown: {}", none.1);
    assert_failure(&none, "find unknown");

    let all = assert_ok(&client.get(&format!("/payments/findAll/{mu}")).await, "findAll");
    assert_paged(&all, "findAll");
    assert_eq!(all["total"], 2, "{all}");
    let mut want = vec![failed_uid.clone(), paid_uid.clone()];
    want.sort();
    assert_eq!(imp_uids(&all["list"]), want);

    let failed_only =
        assert_ok(&client.get(&format!("/payments/findAll/{mu}/failed")).await, "findAll failed");
    assert_eq!(failed_only["total"], 1, "{failed_only}");
    assert_eq!(imp_uids(&failed_only["list"]), vec![failed_uid.clone()]);

    let paged = assert_ok(
        &client.get(&format!("/payments/findAll/{mu}?page=1&limit=1")).await,
        "findAll limit=1",
    );
    assert_eq!(paged["total"], 2, "{paged}");
    assert_eq!(paged["list"].as_array().unwrap().len(), 1, "{paged}");
    assert_eq!(paged["previous"], 0, "{paged}");
    assert_eq!(paged["next"], 2, "{paged}");

    let none = client.get("/payments/findAll/no_such_order").await;
    assert_eq!(none.0, 404, "findAll unknown: {}", none.1);
}

async fn list_by_status(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let mut paid = Vec::new();
    for i in 0..3 {
        let p = client.onetime_paid(&uid(&format!("paid{i}")), 1000 + i).await;
        paid.push(p["imp_uid"].as_str().unwrap().to_owned());
    }
    paid.sort();
    let (_, declined) = client.onetime(&uid("failed"), 1000, &card("0003")).await;
    assert_eq!(declined["response"]["status"], "failed", "{declined}");

    let all_paid = assert_ok(&client.get("/payments/status/paid").await, "status/paid");
    assert_paged(&all_paid, "status/paid");
    assert_eq!(all_paid["total"], 3, "{all_paid}");
    assert_eq!(imp_uids(&all_paid["list"]), paid);
    assert_eq!(all_paid["previous"], 0);
    assert_eq!(all_paid["next"], 0);

    let page1 = assert_ok(&client.get("/payments/status/paid?page=1&limit=2").await, "page 1");
    assert_eq!(page1["total"], 3, "{page1}");
    assert_eq!(page1["list"].as_array().unwrap().len(), 2, "{page1}");
    assert_eq!(page1["previous"], 0, "{page1}");
    assert_eq!(page1["next"], 2, "{page1}");
    let page2 = assert_ok(&client.get("/payments/status/paid?page=2&limit=2").await, "page 2");
    assert_eq!(page2["list"].as_array().unwrap().len(), 1, "{page2}");
    assert_eq!(page2["previous"], 1, "{page2}");
    assert_eq!(page2["next"], 0, "{page2}");
    let mut both: Vec<String> =
        imp_uids(&page1["list"]).into_iter().chain(imp_uids(&page2["list"])).collect();
    both.sort();
    assert_eq!(both, paid, "pages partition the list");

    let all = assert_ok(&client.get("/payments/status/all").await, "status/all");
    assert_eq!(all["total"], 4, "{all}");
    let failed = assert_ok(&client.get("/payments/status/failed").await, "status/failed");
    assert_eq!(failed["total"], 1, "{failed}");
    let ready = assert_ok(&client.get("/payments/status/ready").await, "status/ready");
    assert_eq!(ready["total"], 0, "{ready}");
    let cancelled = assert_ok(&client.get("/payments/status/cancelled").await, "status/cancelled");
    assert_eq!(cancelled["total"], 0, "{cancelled}");

    for sorting in ["-started", "started", "-paid", "paid", "-updated", "updated"] {
        let r = assert_ok(
            &client.get(&format!("/payments/status/paid?sorting={sorting}")).await,
            sorting,
        );
        assert_eq!(r["total"], 3, "sorting={sorting}: {r}");
    }

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as i64;
    let window = assert_ok(
        &client.get(&format!("/payments/status/paid?from={}&to={}", now - 3600, now + 60)).await,
        "from/to around now",
    );
    assert_eq!(window["total"], 3, "{window}");
    let past = assert_ok(
        &client
            .get(&format!("/payments/status/paid?from={}&to={}", now - 86400 * 10, now - 86400 * 9))
            .await,
        "from/to in the past",
    );
    assert_eq!(past["total"], 0, "{past}");

    let bad = client.get("/payments/status/bogus").await;
    assert_eq!(bad.0, 400, "unknown status: {}", bad.1);
    assert_failure(&bad, "unknown status");
    let bad = client.get(&format!("/payments/status/paid?from={}&to={}", now, now - 3600)).await;
    assert_eq!(bad.0, 400, "from after to: {}", bad.1);
}

/// Out-of-range numbers in query strings are a 400 (or an empty page), never a dropped
/// connection or a 5xx.
async fn extreme_query_parameters(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    let mu = uid("extreme");
    client.again_paid(&cu, &mu, 1000).await;
    let max = i64::MAX;
    let min = i64::MIN;
    // Each case has one right answer: out of range is a 400 naming the parameter; the edges
    // of the ranges are served.
    let times = "from and to must be UNIX seconds";
    let pages = "page must be 1..=1000000";
    let cases: Vec<(String, u16, &str)> = vec![
        (format!("/payments/status/all?from={min}&to={max}"), 400, times),
        (format!("/payments/status/all?from=0&to={max}"), 400, times),
        (format!("/payments/status/all?from={min}"), 400, times),
        (format!("/payments/status/paid?page={max}"), 400, pages),
        (format!("/payments/status/paid?page={max}&limit=1000"), 400, pages),
        ("/payments/status/paid?page=-1".to_owned(), 400, pages),
        (format!("/payments/findAll/{mu}?page={max}&limit=1000"), 400, pages),
        (format!("/subscribe/customers/{cu}/payments?page={max}"), 400, pages),
        ("/payments/status/paid?page=99999999999999999999".to_owned(), 400, "invalid parameters"),
        ("/payments/status/all?from=0".to_owned(), 400, "at most 90 days"),
        ("/payments/status/paid?page=1000000&limit=1000".to_owned(), 200, ""),
    ];
    let mut problems = Vec::new();
    for (path, want, needle) in &cases {
        match client.request(reqwest::Method::GET, path).send().await {
            Err(e) => problems.push(format!("GET {path}: connection dropped ({e})")),
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = to_value(&resp.text().await.unwrap());
                let right = if *want == 200 {
                    status == 200 && body["code"] == 0
                } else {
                    status == *want
                        && body["code"] == -1
                        && body["message"].as_str().is_some_and(|m| m.contains(needle))
                };
                if !right {
                    problems
                        .push(format!("GET {path}: want {want} ({needle}), got {status}: {body}"));
                }
            }
        }
    }
    let panics: Vec<String> =
        server.logs().lines().filter(|l| l.contains("panicked")).map(str::to_owned).collect();
    assert!(problems.is_empty() && panics.is_empty(), "{problems:#?}\nserver panics: {panics:#?}");
}
