//! 시스템 설정: the PG설정 tab (seed 002's form: PG사 추가, PG사, 테스트모드(Sandbox), PG상점아이디
//! (MID), the PG keys, 전체 저장) and the account tab (가맹점 식별코드, REST API key, secret
//! regeneration, webhook URL and signing secret, 호출 테스트). Channels change only through the
//! gateway's channel methods; secrets are shown masked and replaced only when typed anew.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use minijinja::context;
use openimp_core::ApiError;
use openimp_service::merchants::{ChannelSettings, ChannelSummary, NewChannel};
use openimp_service::ApiResult;
use openimp_store::webhooks;

use super::{checked, field, frame, message, see_other, FormFields, MerchantChange, MerchantPage};
use crate::audit;
use crate::i18n::{text, Lang};
use crate::render::Notice;
use crate::session::{Refusal, Scope, Signed};
use crate::ConsoleState;

/// The PG사 choice: (provider, the name i'mport's console shows).
pub const PROVIDERS: &[(&str, &str)] = &[
    ("html5_inicis", "KG이니시스(웹표준결제창)"),
    ("inicis", "KG이니시스(ActiveX)"),
    ("kicc", "KICC"),
];

/// The PG keys a channel may hold: (secret name in the channel's sealed map, label key).
pub const SECRET_FIELDS: &[(&str, &str)] = &[
    ("sign_key", "secret_sign_key"),
    ("merchant_key", "secret_merchant_key"),
    ("iniapi_key", "secret_iniapi_key"),
    ("iniapi_iv", "secret_iniapi_iv"),
    ("kicc_secret_key", "secret_kicc_secret_key"),
];

/// A message after a redirect, from a fixed list (never text from the URL).
pub fn done_notice(lang: Lang, query: &HashMap<String, String>) -> Option<Notice> {
    let key = match query.get("done").map(String::as_str)? {
        "saved" => "msg_saved",
        "removed" => "msg_channel_removed",
        "cancelled" => "msg_cancelled",
        "key_deleted" => "msg_key_deleted",
        "revoked" => "msg_revoked",
        "resent" => "msg_resent",
        _ => return None,
    };
    Some(Notice::ok(text(lang, key)))
}

fn provider_names() -> BTreeMap<&'static str, &'static str> {
    PROVIDERS.iter().copied().collect()
}

fn secret_labels(lang: Lang) -> BTreeMap<&'static str, String> {
    SECRET_FIELDS.iter().map(|(name, key)| (*name, text(lang, key))).collect()
}

/// `GET .../settings`: the PG설정 tab.
pub async fn pg_tab(page: MerchantPage, Query(query): Query<HashMap<String, String>>) -> Response {
    let MerchantPage { state, signed, scope, uri } = page;
    let notice = done_notice(signed.lang, &query);
    render_pg_tab(&state, &signed, &scope, &uri, notice, StatusCode::OK).await
}

async fn render_pg_tab(
    state: &ConsoleState,
    signed: &Signed,
    scope: &Scope,
    uri: &Uri,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let channels = match state.gateway.list_channels(scope.code()).await {
        Ok(channels) => channels,
        Err(err) => {
            return frame(signed, scope, "settings", uri, None)
                .refusal(&state.templates, refusal_of(&err))
        }
    };
    let extra = context! {
        tab => "pg",
        channels => channels,
        provider_names => provider_names(),
        secret_labels => secret_labels(signed.lang),
    };
    frame(signed, scope, "settings", uri, notice).render(
        &state.templates,
        status,
        "settings.html",
        extra,
    )
}

fn refusal_of(err: &openimp_core::ApiError) -> Refusal {
    match err {
        openimp_core::ApiError::NotFound(_) => Refusal::NotFound,
        _ => Refusal::Unavailable,
    }
}

/// The channel form's values (never a secret).
#[derive(Debug, Clone, serde::Serialize)]
struct ChannelFormValues {
    pg_provider: String,
    mid: String,
    test_mode: bool,
    is_default: bool,
    keyed_billing: bool,
    endpoint: String,
}

impl ChannelFormValues {
    fn of_form(form: &FormFields) -> ChannelFormValues {
        ChannelFormValues {
            pg_provider: field(form, "pg_provider").unwrap_or("html5_inicis").to_owned(),
            mid: field(form, "mid").unwrap_or("").to_owned(),
            test_mode: checked(form, "test_mode"),
            is_default: checked(form, "is_default"),
            keyed_billing: checked(form, "keyed_billing"),
            endpoint: field(form, "endpoint").unwrap_or("").to_owned(),
        }
    }

    fn of_channel(channel: &ChannelSummary) -> ChannelFormValues {
        ChannelFormValues {
            pg_provider: channel.pg_provider.clone(),
            mid: channel.mid.clone(),
            test_mode: channel.test_mode,
            is_default: channel.is_default,
            keyed_billing: channel.keyed_billing,
            endpoint: channel.endpoint.clone().unwrap_or_default(),
        }
    }
}

/// The channel settings a submitted form asks for, as `channel update` takes them: test mode and
/// keyed billing as ticked; the default flag only when ticked (a channel stops being the default
/// when another one becomes it); the endpoint as typed (empty: none); only the secrets typed
/// anew (an empty field keeps the stored one).
fn settings_of_form(form: &FormFields) -> ChannelSettings {
    ChannelSettings {
        test_mode: Some(checked(form, "test_mode")),
        is_default: checked(form, "is_default").then_some(true),
        keyed_billing: Some(checked(form, "keyed_billing")),
        endpoint: Some(field(form, "endpoint").unwrap_or("").to_owned()),
        secrets: typed_secrets(form),
    }
}

/// The secrets typed into the form (empty fields keep what is stored).
fn typed_secrets(form: &FormFields) -> BTreeMap<String, String> {
    SECRET_FIELDS
        .iter()
        .filter_map(|(name, _)| {
            field(form, name).map(|value| ((*name).to_owned(), value.to_owned()))
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn render_channel_form(
    state: &ConsoleState,
    signed: &Signed,
    scope: &Scope,
    uri: &Uri,
    channel: Option<&ChannelSummary>,
    values: &ChannelFormValues,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let lang = signed.lang;
    let secret_fields: Vec<(&str, String)> =
        SECRET_FIELDS.iter().map(|(name, key)| (*name, text(lang, key))).collect();
    let masked = channel.map(|c| c.secrets.clone()).unwrap_or_default();
    let extra = context! {
        channel => channel,
        form => values,
        providers => PROVIDERS,
        secret_fields => secret_fields,
        masked => masked,
        supports_endpoint => true,
    };
    frame(signed, scope, "settings", uri, notice).render(
        &state.templates,
        status,
        "channel_form.html",
        extra,
    )
}

/// `GET .../settings/channels/new`: PG사 추가.
pub async fn new_channel(page: MerchantPage) -> Response {
    let MerchantPage { state, signed, scope, uri } = page;
    // New channels start in test mode with keyed billing, as `openimp channel add` does.
    let values = ChannelFormValues {
        pg_provider: "html5_inicis".to_owned(),
        mid: String::new(),
        test_mode: true,
        is_default: false,
        keyed_billing: true,
        endpoint: String::new(),
    };
    render_channel_form(&state, &signed, &scope, &uri, None, &values, None, StatusCode::OK)
}

/// `POST .../settings/channels`: 전체 저장 of a new channel.
pub async fn add_channel(change: MerchantChange) -> Response {
    let MerchantChange { state, signed, scope, uri, form } = change;
    let values = ChannelFormValues::of_form(&form);
    let mut settings = settings_of_form(&form);
    // A new channel has no endpoint to clear: an empty field means none.
    settings.endpoint = settings.endpoint.filter(|endpoint| !endpoint.is_empty());
    let new =
        NewChannel { pg_provider: values.pg_provider.clone(), mid: values.mid.clone(), settings };
    let secret_names: Vec<String> = new.settings.secrets.keys().cloned().collect();
    match state.gateway.add_channel(scope.code(), new).await {
        Ok(added) => {
            let detail = format!(
                "{}.{} test_mode={} default={} keyed_billing={} secrets=[{}]",
                added.pg_provider,
                added.mid,
                added.test_mode,
                added.is_default,
                added.keyed_billing,
                secret_names.join(",")
            );
            audit::record(
                &state,
                &signed,
                Some(scope.code()),
                "channel.add",
                &added.channel_key,
                detail,
            )
            .await;
            see_other(&format!("/console/m/{}/settings?done=saved", scope.code()))
        }
        Err(err) => {
            let notice = Some(Notice::error(message(&err)));
            render_channel_form(
                &state,
                &signed,
                &scope,
                &uri,
                None,
                &values,
                notice,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    }
}

async fn find_channel(
    state: &ConsoleState,
    scope: &Scope,
    id: &str,
) -> ApiResult<Option<ChannelSummary>> {
    Ok(state.gateway.list_channels(scope.code()).await?.into_iter().find(|c| c.id == id))
}

/// `GET .../settings/channels/{id}`: the same form, filled, secrets masked.
pub async fn edit_channel(page: MerchantPage, Path((_, id)): Path<(String, String)>) -> Response {
    let MerchantPage { state, signed, scope, uri } = page;
    match find_channel(&state, &scope, &id).await {
        Ok(Some(channel)) => {
            let values = ChannelFormValues::of_channel(&channel);
            render_channel_form(
                &state,
                &signed,
                &scope,
                &uri,
                Some(&channel),
                &values,
                None,
                StatusCode::OK,
            )
        }
        Ok(None) => super::refuse(&state, &signed, uri.path(), Refusal::NotFound),
        Err(err) => super::refuse(&state, &signed, uri.path(), refusal_of(&err)),
    }
}

/// The one place an existing channel is changed: `Gateway::update_channel` keeps its id and
/// channelKey (which payments and billing keys refer to); the PG사 and MID are not editable.
async fn apply_channel_edit(
    state: &ConsoleState,
    scope: &Scope,
    channel: &ChannelSummary,
    form: &FormFields,
) -> ApiResult<ChannelSummary> {
    state
        .gateway
        .update_channel(scope.code(), &channel.pg_provider, &channel.mid, settings_of_form(form))
        .await
}

/// `POST .../settings/channels/{id}`: 전체 저장 of an existing channel.
pub async fn save_channel(
    Path((_, id)): Path<(String, String)>,
    change: MerchantChange,
) -> Response {
    let MerchantChange { state, signed, scope, uri, form } = change;
    let channel = match find_channel(&state, &scope, &id).await {
        Ok(Some(channel)) => channel,
        Ok(None) => return super::refuse(&state, &signed, uri.path(), Refusal::NotFound),
        Err(err) => return super::refuse(&state, &signed, uri.path(), refusal_of(&err)),
    };
    match apply_channel_edit(&state, &scope, &channel, &form).await {
        Ok(saved) => {
            let replaced: Vec<String> = typed_secrets(&form).into_keys().collect();
            let detail = format!(
                "{}.{} test_mode={} default={} keyed_billing={} replaced secrets=[{}]",
                saved.pg_provider,
                saved.mid,
                saved.test_mode,
                saved.is_default,
                saved.keyed_billing,
                replaced.join(",")
            );
            audit::record(
                &state,
                &signed,
                Some(scope.code()),
                "channel.edit",
                &saved.channel_key,
                detail,
            )
            .await;
            see_other(&format!("/console/m/{}/settings?done=saved", scope.code()))
        }
        Err(err) => {
            let mut values = ChannelFormValues::of_form(&form);
            values.pg_provider = channel.pg_provider.clone();
            values.mid = channel.mid.clone();
            let notice = Some(Notice::error(message(&err)));
            render_channel_form(
                &state,
                &signed,
                &scope,
                &uri,
                Some(&channel),
                &values,
                notice,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    }
}

/// `POST .../settings/channels/{id}/delete`.
pub async fn remove_channel(
    Path((_, id)): Path<(String, String)>,
    change: MerchantChange,
) -> Response {
    let MerchantChange { state, signed, scope, uri, .. } = change;
    let channel = match find_channel(&state, &scope, &id).await {
        Ok(Some(channel)) => channel,
        Ok(None) => return super::refuse(&state, &signed, uri.path(), Refusal::NotFound),
        Err(err) => return super::refuse(&state, &signed, uri.path(), refusal_of(&err)),
    };
    match state.gateway.remove_channel(scope.code(), &channel.pg_provider, &channel.mid).await {
        Ok(()) => {
            let detail = format!("{}.{}", channel.pg_provider, channel.mid);
            audit::record(
                &state,
                &signed,
                Some(scope.code()),
                "channel.remove",
                &channel.channel_key,
                detail,
            )
            .await;
            see_other(&format!("/console/m/{}/settings?done=removed", scope.code()))
        }
        Err(err) => {
            let notice = Some(Notice::error(message(&err)));
            render_pg_tab(&state, &signed, &scope, &uri, notice, StatusCode::UNPROCESSABLE_ENTITY)
                .await
        }
    }
}

/// What the account tab shows beyond the merchant itself.
#[derive(Default)]
struct AccountExtras {
    new_secret: Option<String>,
    /// The webhook signing secret, only on the answer to its own form (audited).
    webhook_secret: Option<String>,
    test: Option<openimp_service::webhook::WebhookTest>,
    notice: Option<Notice>,
}

async fn render_account_tab(
    state: &ConsoleState,
    signed: &Signed,
    scope: &Scope,
    uri: &Uri,
    extras: AccountExtras,
    status: StatusCode,
) -> Response {
    let settings = match webhooks::settings(&state.gateway.db, scope.code()).await {
        Ok(Some(settings)) => settings,
        Ok(None) => return super::refuse(state, signed, uri.path(), Refusal::NotFound),
        Err(_) => return super::refuse(state, signed, uri.path(), Refusal::Unavailable),
    };
    let extra = context! {
        tab => "account",
        webhook_url => settings.url.unwrap_or_default(),
        webhook_format => settings.format,
        webhook_secret => extras.webhook_secret,
        new_secret => extras.new_secret,
        test => extras.test,
    };
    frame(signed, scope, "settings", uri, extras.notice).render(
        &state.templates,
        status,
        "settings.html",
        extra,
    )
}

/// The account tab's address: where the answers of its forms are shown.
fn account_uri(scope: &Scope, fallback: Uri) -> Uri {
    format!("/console/m/{}/settings/account", scope.code()).parse().unwrap_or(fallback)
}

/// The account tab again after the gateway refused one of its changes, with the reason.
async fn account_refusal(
    state: &ConsoleState,
    signed: &Signed,
    scope: &Scope,
    uri: Uri,
    err: &ApiError,
) -> Response {
    let extras =
        AccountExtras { notice: Some(Notice::error(message(err))), ..AccountExtras::default() };
    let uri = account_uri(scope, uri);
    render_account_tab(state, signed, scope, &uri, extras, StatusCode::UNPROCESSABLE_ENTITY).await
}

/// `GET .../settings/account`.
pub async fn account_tab(
    page: MerchantPage,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let MerchantPage { state, signed, scope, uri } = page;
    let extras =
        AccountExtras { notice: done_notice(signed.lang, &query), ..AccountExtras::default() };
    render_account_tab(&state, &signed, &scope, &uri, extras, StatusCode::OK).await
}

/// `POST .../settings/secret`: a new REST secret, shown this once; every token revoked.
pub async fn regenerate_secret(change: MerchantChange) -> Response {
    let MerchantChange { state, signed, scope, uri, .. } = change;
    match state.gateway.rotate_secret(scope.code()).await {
        Ok(credentials) => {
            audit::record(
                &state,
                &signed,
                Some(scope.code()),
                "secret.regenerate",
                &credentials.imp_key,
                "tokens revoked".to_owned(),
            )
            .await;
            let extras = AccountExtras {
                new_secret: Some(credentials.imp_secret),
                ..AccountExtras::default()
            };
            render_account_tab(
                &state,
                &signed,
                &scope,
                &account_uri(&scope, uri),
                extras,
                StatusCode::OK,
            )
            .await
        }
        Err(err) => account_refusal(&state, &signed, &scope, uri, &err).await,
    }
}

/// `POST .../settings/webhook/secret`: the webhook signing secret, on this answer only (the
/// account tab shows it masked), for an owner, with an audit entry: a secret is never part of
/// a page anyone signed in merely opens.
pub async fn reveal_webhook_secret(change: MerchantChange) -> Response {
    let MerchantChange { state, signed, scope, uri, .. } = change;
    match state.gateway.webhook_secret(scope.code()).await {
        Ok(secret) => {
            audit::record(
                &state,
                &signed,
                Some(scope.code()),
                "webhook.secret_reveal",
                scope.code(),
                "signing secret shown".to_owned(),
            )
            .await;
            let extras = AccountExtras { webhook_secret: Some(secret), ..AccountExtras::default() };
            let uri = account_uri(&scope, uri);
            render_account_tab(&state, &signed, &scope, &uri, extras, StatusCode::OK).await
        }
        Err(err) => account_refusal(&state, &signed, &scope, uri, &err).await,
    }
}

/// `POST .../settings/webhook`: the webhook URL (empty clears it) and format.
pub async fn save_webhook(change: MerchantChange) -> Response {
    let MerchantChange { state, signed, scope, uri, form } = change;
    let url = field(&form, "webhook_url");
    let format = field(&form, "webhook_format").unwrap_or("json");
    match state.gateway.set_webhook_endpoint(scope.code(), url, format).await {
        Ok(()) => {
            let detail = format!("url={} format={format}", url.unwrap_or("(none)"));
            audit::record(
                &state,
                &signed,
                Some(scope.code()),
                "webhook.update",
                scope.code(),
                detail,
            )
            .await;
            see_other(&format!("/console/m/{}/settings/account?done=saved", scope.code()))
        }
        Err(err) => account_refusal(&state, &signed, &scope, uri, &err).await,
    }
}

/// `POST .../settings/webhook/test`: 호출 테스트, and its answer on the page.
pub async fn test_webhook(change: MerchantChange) -> Response {
    let MerchantChange { state, signed, scope, uri, .. } = change;
    match state.gateway.test_webhook(scope.code()).await {
        Ok(test) => {
            let detail = match (test.http_status, &test.error) {
                (Some(status), _) => format!("{} → HTTP {status}", test.url),
                (None, Some(error)) => format!("{} → {error}", test.url),
                (None, None) => test.url.clone(),
            };
            audit::record(&state, &signed, Some(scope.code()), "webhook.test", &test.id, detail)
                .await;
            let extras = AccountExtras { test: Some(test), ..AccountExtras::default() };
            render_account_tab(
                &state,
                &signed,
                &scope,
                &account_uri(&scope, uri),
                extras,
                StatusCode::OK,
            )
            .await
        }
        Err(err) => account_refusal(&state, &signed, &scope, uri, &err).await,
    }
}
