//! What the console's HTTP tests share: accounts made through `openimp user create`, a cookie
//! keeping browser over reqwest, and the list of every merchant page and change form.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;

use crate::common::*;

pub const PASSWORD: &str = "correct-horse-battery";

/// `openimp user create`, the password on standard input.
pub fn create_user(env: &Env, args: &[&str], password: &str) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["user", "create"]).args(args).arg("--data-dir").arg(env.path());
    if let Some(url) = &env.database_url {
        cmd.arg("--database-url").arg(url);
    }
    cmd.env_remove("OPENIMP_MASTER_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run openimp user create");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write password");
    child.wait_with_output().expect("user create output")
}

pub fn merchant_user(env: &Env, merchant: &Merchant, role: &str) -> String {
    let email = format!("{}@example.com", uid(role));
    let out = create_user(
        env,
        &["--merchant", &merchant.imp_code, "--email", &email, "--role", role],
        PASSWORD,
    );
    assert!(out.status.success(), "user create: {}", String::from_utf8_lossy(&out.stderr));
    email
}

/// A browser: its cookies, no automatic redirects (the tests look at them).
pub struct Browser {
    pub base: String,
    pub http: reqwest::Client,
    pub cookies: HashMap<String, String>,
}

/// An answer: status, Location, body, the raw Set-Cookie lines.
pub struct Page {
    pub status: StatusCode,
    pub location: String,
    pub body: String,
    pub set_cookies: Vec<String>,
}

impl Page {
    /// The value of the first `name="csrf"` field.
    pub fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
        self.body[at..].split('"').next().unwrap_or("").to_owned()
    }
}

impl Browser {
    pub fn new(server: &TestServer) -> Browser {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        Browser { base: server.base_url.clone(), http, cookies: HashMap::new() }
    }

    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookie_line: Vec<String> =
            self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let response =
            request.header(COOKIE, cookie_line.join("; ")).send().await.expect("request");
        let status = response.status();
        let location =
            response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let set_cookies: Vec<String> = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for line in &set_cookies {
            let pair = line.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || line.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let body = response.text().await.unwrap_or_default();
        Page { status, location, body, set_cookies }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(form));
        self.send(request).await
    }

    /// Opens the sign-in page and submits it.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/console/login").await;
        assert_eq!(form.status, 200);
        let csrf = form.csrf();
        self.post("/console/login", &[("csrf", &csrf), ("email", email), ("password", password)])
            .await
    }

    pub async fn signed_in(server: &TestServer, email: &str) -> Browser {
        let mut browser = Browser::new(server);
        let page = browser.sign_in(email, PASSWORD).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "sign in {email}: {}", page.body);
        browser
    }

    /// The CSRF token of the session (from any signed-in page).
    pub async fn csrf(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "GET {path}: {}", page.body);
        page.csrf()
    }
}

/// Every page of merchant `code`, by URL (ids that need not exist: the merchant is checked
/// before any object is looked up).
pub fn merchant_pages(code: &str) -> Vec<String> {
    [
        "",
        "/settings",
        "/settings/account",
        "/settings/channels/new",
        "/settings/channels/ch_x",
        "/payments",
        "/payments/imps_x",
        "/billing-keys",
        "/billing-keys/cust_x",
        "/schedules",
        "/schedules/sched_x",
        "/webhooks",
        "/audit",
    ]
    .iter()
    .map(|path| format!("/console/m/{code}{path}"))
    .collect()
}

/// Every form of merchant `code` that changes something (the merchant, the CSRF token and the
/// role are checked before any object is looked up).
pub fn merchant_changes(code: &str) -> Vec<String> {
    [
        "/settings/channels",
        "/settings/channels/ch_x",
        "/settings/channels/ch_x/delete",
        "/settings/secret",
        "/settings/webhook",
        "/settings/webhook/test",
        "/settings/webhook/secret",
        "/payments/imps_x/cancel",
        "/billing-keys/cust_x/delete",
        "/schedules/sched_x/revoke",
        "/webhooks/msg_x/resend",
    ]
    .iter()
    .map(|path| format!("/console/m/{code}{path}"))
    .collect()
}

pub async fn paid_payment(client: &Client, amount: i64) -> String {
    let payment = client.onetime_paid(&uid("order"), amount).await;
    payment["imp_uid"].as_str().expect("imp_uid").to_owned()
}
