//! `GET /users/pg`: the merchant's PG settings (its channels, with their channel keys).

use axum::extract::State;

use crate::auth::Merchant;
use crate::envelope::{ok, HttpResult};
use crate::AppState;

/// `[{pg_provider, pg_id, sandbox, type, channel_name, channel_key}]`, default channel first.
#[utoipa::path(get, path = "/users/pg", tag = "auth",
    responses((status = 200, description = "`[{pg_provider, pg_id, sandbox, type, channel_name, channel_key}]`: the merchant's PG settings"), (status = 401)))]
pub async fn list(State(state): State<AppState>, Merchant(merchant): Merchant) -> HttpResult {
    Ok(ok(state.gateway.pg_settings(&merchant).await?))
}
