//! The console's two languages: Korean (the default, with seed 002's exact labels) and English,
//! chosen by a cookie. Templates call `t("key")`; every key they use is in [`TEXTS`] (a test
//! reads the templates to make sure).

use axum::http::HeaderMap;

use crate::session::{cookie, LANG_COOKIE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ko,
    En,
}

impl Lang {
    /// The cookie's choice; Korean without one.
    pub fn of(headers: &HeaderMap) -> Lang {
        match cookie(headers, LANG_COOKIE) {
            Some("en") => Lang::En,
            _ => Lang::Ko,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Ko => Lang::En,
            Lang::En => Lang::Ko,
        }
    }

    /// How the switch to this language names it (in the language itself).
    pub fn name(self) -> &'static str {
        match self {
            Lang::Ko => "한국어",
            Lang::En => "English",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "ko" => Some(Lang::Ko),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// The text of `key` in `lang`; the key itself when missing (caught by the tests).
pub fn text(lang: Lang, key: &str) -> String {
    match TEXTS.iter().find(|(k, _, _)| *k == key) {
        Some((_, ko, en)) => match lang {
            Lang::Ko => (*ko).to_owned(),
            Lang::En => (*en).to_owned(),
        },
        None => key.to_owned(),
    }
}

/// (key, Korean, English).
pub const TEXTS: &[(&str, &str, &str)] = &[
    ("console", "관리자 콘솔", "console"),
    ("skip_to_content", "본문으로 건너뛰기", "Skip to content"),
    ("menu", "메뉴", "Menu"),
    ("dashboard", "대시보드", "Dashboard"),
    ("payments", "결제내역", "Payments"),
    ("payment", "결제", "Payment"),
    ("billing_keys", "빌링키", "Billing keys"),
    ("billing_key", "빌링키", "Billing key"),
    ("schedules", "예약결제", "Scheduled payments"),
    ("schedule", "예약결제", "Scheduled payment"),
    ("webhooks", "웹훅", "Webhooks"),
    ("settings", "시스템 설정", "System settings"),
    ("audit", "감사 로그", "Audit log"),
    ("merchants", "가맹점 관리", "Merchants"),
    ("role_owner", "관리자", "owner"),
    ("role_viewer", "조회 전용", "viewer"),
    ("role_operator", "운영자", "operator"),
    ("sign_in", "로그인", "Sign in"),
    ("sign_out", "로그아웃", "Sign out"),
    ("email", "이메일", "Email"),
    ("password", "비밀번호", "Password"),
    ("back_home", "처음으로", "Back to the start"),
    // 시스템 설정 > PG설정: seed 002's labels.
    ("tab_pg", "PG설정(일반결제 및 정기결제)", "PG settings (payments and subscriptions)"),
    ("tab_account", "내 정보", "My account"),
    ("channels", "등록된 PG", "Registered PGs"),
    ("add_pg", "PG사 추가", "Add a PG"),
    ("edit_channel", "PG설정 편집", "Edit PG settings"),
    ("pg_provider", "PG사", "PG"),
    ("test_mode", "테스트모드(Sandbox)", "Test mode (Sandbox)"),
    ("mid", "PG상점아이디 (MID)", "PG merchant ID (MID)"),
    ("endpoint", "PG 접속 주소 (endpoint)", "PG endpoint"),
    (
        "endpoint_hint",
        "비워 두면 PG사의 기본 주소를 씁니다. 테스트 서버나 프록시를 쓸 때만 입력하세요.",
        "Empty: the PG's own hosts. Only for a test server or a proxy.",
    ),
    (
        "default_hint",
        "기본 PG는 다른 PG를 기본으로 지정하면 바뀝니다.",
        "Another PG becomes the default by ticking it there.",
    ),
    ("secrets", "PG 키", "PG keys"),
    (
        "secrets_hint",
        "저장된 키는 가려서 보여 줍니다. 바꿀 키만 새로 입력하세요. 비워 두면 그대로 둡니다.",
        "Stored keys are shown masked. Type only the keys to replace; empty fields keep them.",
    ),
    ("secret_sign_key", "웹표준결제 signKey", "Web standard payment signKey"),
    ("secret_merchant_key", "빌링용 merchantKey", "Billing merchantKey"),
    ("secret_iniapi_key", "INIAPI key", "INIAPI key"),
    ("secret_iniapi_iv", "INIAPI IV", "INIAPI IV"),
    ("secret_kicc_secret_key", "KICC secret key", "KICC secret key"),
    ("default_channel", "기본 PG", "Default PG"),
    ("keyed_billing", "비인증 정기결제(키인) 계약", "Keyed billing (REST billing keys) contract"),
    ("save_all", "전체 저장", "Save all"),
    ("cancel_edit", "취소", "Cancel"),
    ("edit", "편집", "Edit"),
    ("delete", "삭제", "Delete"),
    ("actions", "작업", "Actions"),
    ("yes", "예", "yes"),
    ("no", "아니오", "no"),
    ("no_channels", "등록된 PG가 없습니다.", "No PG yet."),
    ("confirm_delete_channel", "이 PG설정을 삭제할까요?", "Delete this PG setting?"),
    ("imp_code", "가맹점 식별코드", "Merchant code"),
    ("rest_api_key", "REST API 키", "REST API key"),
    ("rest_api_secret", "REST API secret", "REST API secret"),
    ("regenerate_secret", "REST API secret 재발급", "Regenerate the REST API secret"),
    (
        "confirm_regenerate",
        "새 secret을 발급하면 지금 secret과 발급된 토큰은 바로 쓸 수 없게 됩니다. 계속할까요?",
        "The current secret and its tokens stop working at once. Continue?",
    ),
    (
        "secret_shown_once",
        "이 secret은 지금 한 번만 보여 줍니다. 바로 보관하세요:",
        "This secret is shown this once. Keep it now:",
    ),
    ("webhook", "웹훅(Notification)", "Webhook (notification)"),
    ("webhook_url", "웹훅 URL", "Webhook URL"),
    ("webhook_format", "웹훅 형식", "Webhook format"),
    ("webhook_secret", "웹훅 서명 secret", "Webhook signing secret"),
    ("webhook_test", "호출 테스트", "Send a test"),
    ("webhook_test_result", "호출 테스트 결과", "Test result"),
    ("show", "보기", "Show"),
    ("save", "저장", "Save"),
    // 결제내역
    ("search", "검색", "Search"),
    ("all", "전체", "All"),
    ("status", "상태", "Status"),
    ("status_ready", "미결제", "ready"),
    ("status_paid", "결제완료", "paid"),
    ("status_failed", "결제실패", "failed"),
    ("status_cancelled", "결제취소", "cancelled"),
    ("pay_method", "결제수단", "Pay method"),
    ("date_from", "시작일", "From"),
    ("date_to", "종료일", "To"),
    ("amount", "금액", "Amount"),
    ("cancelled_amount", "취소금액", "Cancelled"),
    ("started_at", "요청시각", "Requested at"),
    ("nothing_found", "내역이 없습니다.", "Nothing found."),
    ("pages", "페이지", "Pages"),
    ("previous", "이전", "Previous"),
    ("next", "다음", "Next"),
    ("total", "전체", "Total"),
    ("order_name", "주문명", "Order name"),
    ("card", "카드", "Card"),
    ("buyer", "구매자", "Buyer"),
    ("history", "결제 이력", "History"),
    ("event_started", "결제 요청", "requested"),
    ("event_approved", "승인", "approved"),
    ("event_failed", "실패", "failed"),
    ("event_cancelled", "취소", "cancelled"),
    ("approval_no", "승인번호", "approval no."),
    ("receipt", "영수증", "receipt"),
    ("attempts", "시도", "Attempts"),
    ("fail_reason", "실패 사유", "Failure reason"),
    ("webhooks_sent", "보낸 웹훅", "Webhooks sent"),
    ("cancel_payment", "결제취소", "Cancel payment"),
    (
        "viewer_note",
        "조회 전용 계정은 결제를 취소할 수 없습니다.",
        "A viewer account cannot cancel payments.",
    ),
    ("cancellable", "취소 가능 금액", "Cancellable"),
    ("cancel_amount", "취소 금액 (원)", "Amount to cancel (KRW)"),
    ("full_cancel_hint", "비우면 전액 취소", "empty: cancel all"),
    ("cancel_reason", "취소 사유", "Reason"),
    (
        "confirm_cancel",
        "결제를 취소할까요? 되돌릴 수 없습니다.",
        "Cancel this payment? This cannot be undone.",
    ),
    // 웹훅
    ("webhook_id", "웹훅 ID", "Webhook id"),
    ("delivery_state", "전송 상태", "Delivery"),
    ("delivery_pending", "전송 대기", "pending"),
    ("delivery_delivered", "전송 완료", "delivered"),
    ("delivery_failed", "전송 실패", "failed"),
    ("no_attempts", "아직 보내지 않음", "not sent yet"),
    ("no_webhooks", "보낸 웹훅이 없습니다.", "No webhooks."),
    ("resend", "재전송", "Resend"),
    // 빌링키
    ("issued_at", "발급시각", "Issued at"),
    ("channel", "PG 채널", "PG channel"),
    ("payments_with_key", "이 빌링키로 한 결제", "Payments with this key"),
    ("delete_key", "빌링키 삭제", "Delete the billing key"),
    (
        "delete_key_hint",
        "삭제하면 이 키로 결제할 수 없고 예약된 결제도 취소됩니다.",
        "Once deleted the key cannot be charged, and its scheduled payments are revoked.",
    ),
    ("confirm_delete_key", "빌링키를 삭제할까요?", "Delete this billing key?"),
    // 예약결제
    ("upcoming", "예정된 결제", "Upcoming"),
    ("executed", "실행된 결제", "Executed"),
    ("schedule_scheduled", "예약됨", "scheduled"),
    ("schedule_executed", "실행됨", "executed"),
    ("schedule_revoked", "취소된 예약", "revoked"),
    ("schedule_at", "예약시각", "Scheduled at"),
    ("executed_at", "실행시각", "Executed at"),
    ("revoked_at", "취소시각", "Revoked at"),
    ("result", "결과", "Result"),
    ("revoke", "예약 취소", "Revoke"),
    ("confirm_revoke", "예약결제를 취소할까요?", "Revoke this scheduled payment?"),
    // 감사 로그
    ("when", "시각", "When"),
    ("who", "사용자", "Who"),
    ("action", "작업", "Action"),
    ("subject", "대상", "Object"),
    ("detail", "내용", "Detail"),
    ("audit_channel.add", "PG 추가", "PG added"),
    ("audit_channel.edit", "PG설정 변경", "PG settings changed"),
    ("audit_channel.remove", "PG 삭제", "PG removed"),
    ("audit_payment.cancel", "결제취소", "payment cancelled"),
    ("audit_billing_key.delete", "빌링키 삭제", "billing key deleted"),
    ("audit_schedule.revoke", "예약결제 취소", "schedule revoked"),
    ("audit_secret.regenerate", "REST secret 재발급", "REST secret regenerated"),
    ("audit_webhook.update", "웹훅 설정 변경", "webhook settings changed"),
    ("audit_webhook.test", "웹훅 호출 테스트", "webhook test sent"),
    ("audit_webhook.secret_reveal", "웹훅 서명 secret 조회", "webhook signing secret shown"),
    ("audit_webhook.resend", "웹훅 재전송", "webhook resent"),
    ("audit_merchant.create", "가맹점 생성", "merchant created"),
    // 대시보드
    ("volume_30d", "최근 30일 결제금액", "Volume, last 30 days"),
    ("approved_30d", "최근 30일 승인 건수", "Approvals, last 30 days"),
    ("approval_rate", "승인율", "Approval rate"),
    ("daily_volume", "일별 결제금액 (최근 30일, KST)", "Daily volume (last 30 days, KST)"),
    (
        "daily_approval_rate",
        "일별 승인율 (최근 30일, KST)",
        "Daily approval rate (last 30 days, KST)",
    ),
    ("recent_failures", "최근 실패", "Recent failures"),
    ("no_failures", "최근 실패한 결제가 없습니다.", "No recent failures."),
    // 가맹점 관리
    ("merchant_name", "가맹점 이름", "Merchant name"),
    ("created_at", "생성시각", "Created at"),
    ("create_merchant", "가맹점 추가", "Create a merchant"),
    ("merchant_created", "가맹점을 만들었습니다.", "Merchant created."),
    // Messages from handlers.
    ("msg_bad_login", "이메일 또는 비밀번호가 올바르지 않습니다.", "Wrong email or password."),
    (
        "msg_locked",
        "로그인 실패가 너무 많습니다. 잠시 후 다시 시도하세요.",
        "Too many failed sign-ins. Try again later.",
    ),
    (
        "msg_bad_form",
        "만료된 양식입니다. 페이지를 새로 고친 뒤 다시 시도하세요.",
        "This form expired. Reload the page and try again.",
    ),
    ("msg_forbidden", "권한이 없습니다", "Not allowed"),
    (
        "msg_forbidden_detail",
        "조회 전용 계정은 아무것도 바꿀 수 없습니다.",
        "A viewer account cannot change anything.",
    ),
    ("msg_csrf", "요청을 확인할 수 없습니다", "Request refused"),
    (
        "msg_csrf_detail",
        "양식의 보안 토큰이 맞지 않습니다. 페이지를 새로 고친 뒤 다시 시도하세요.",
        "The form's security token does not match. Reload the page and try again.",
    ),
    ("msg_not_found", "찾을 수 없습니다", "Not found"),
    (
        "msg_not_found_detail",
        "이 주소에는 보여 드릴 것이 없습니다.",
        "There is nothing to show at this address.",
    ),
    ("msg_unavailable", "잠시 후 다시 시도하세요", "Try again shortly"),
    (
        "msg_unavailable_detail",
        "데이터베이스가 응답하지 않습니다.",
        "The database does not answer.",
    ),
    ("msg_saved", "저장했습니다.", "Saved."),
    ("msg_channel_removed", "PG설정을 삭제했습니다.", "PG setting removed."),
    ("msg_cancelled", "결제를 취소했습니다.", "Payment cancelled."),
    ("msg_key_deleted", "빌링키를 삭제했습니다.", "Billing key deleted."),
    ("msg_revoked", "예약결제를 취소했습니다.", "Schedule revoked."),
    ("msg_resent", "웹훅을 다시 보내도록 예약했습니다.", "Webhook queued again."),
    (
        "msg_bad_amount",
        "취소 금액은 숫자(원)로 입력하세요.",
        "Type the amount in won, digits only.",
    ),
    ("msg_bad_date", "날짜 형식이 올바르지 않습니다 (YYYY-MM-DD).", "Dates are YYYY-MM-DD."),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `t("key")` of every template, and every key a template builds (`"status_" ~ s`),
    /// has both texts; no key is listed twice.
    #[test]
    fn every_template_key_is_translated() {
        let mut keys: Vec<String> = Vec::new();
        for (_, source) in crate::render::TEMPLATES {
            for quote in ['"', '\''] {
                let open = format!("t({quote}");
                let mut rest = *source;
                while let Some(at) = rest.find(&open) {
                    rest = &rest[at + open.len()..];
                    // `t("status_" ~ s)` builds its key: the prefixes are listed below.
                    if let Some(end) = rest.find(quote) {
                        if rest[end + 1..].starts_with(')') {
                            keys.push(rest[..end].to_owned());
                        }
                    }
                }
            }
        }
        for prefix_values in [
            ("role_", &["owner", "viewer", "operator"][..]),
            ("status_", &["ready", "paid", "failed", "cancelled"][..]),
            ("delivery_", &["pending", "delivered", "failed"][..]),
            ("schedule_", &["scheduled", "executed", "revoked"][..]),
        ] {
            for value in prefix_values.1 {
                keys.push(format!("{}{value}", prefix_values.0));
            }
        }
        for (_, label) in crate::pages::settings::SECRET_FIELDS {
            keys.push((*label).to_owned());
        }
        for action in crate::audit::ACTIONS {
            keys.push(format!("audit_{action}"));
        }
        for key in &keys {
            assert!(
                TEXTS.iter().any(|(k, ko, en)| k == key && !ko.is_empty() && !en.is_empty()),
                "no text for {key}"
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (key, _, _) in TEXTS {
            assert!(seen.insert(key), "{key} listed twice");
        }
    }
}
