//! `POST /users/getToken`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::Extensions;

use openimp_core::wire::AccessToken;
use openimp_core::ApiError;

use crate::envelope::{ok, Envelope, HttpError, HttpResult};
use crate::params::Body;
use crate::requests::TokenRequest;
use crate::AppState;

/// Issues an access token (30 minutes; the same token while valid, extended in its last minute).
/// Failed attempts are throttled per imp_key and per client address (the TCP peer: behind a
/// reverse proxy, the proxy's address).
#[utoipa::path(post, path = "/users/getToken", tag = "auth", request_body = TokenRequest,
    responses((status = 200, body = Envelope<AccessToken>), (status = 401, description = "wrong imp_key or imp_secret"),
        (status = 429, description = "too many failed attempts for this imp_key or from this address; retry later")))]
pub async fn get_token(
    State(state): State<AppState>,
    extensions: Extensions,
    Body(request): Body<TokenRequest>,
) -> HttpResult {
    let client = extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    let key = request.imp_key.filter(|k| !k.is_empty());
    let secret = request.imp_secret.filter(|s| !s.is_empty());
    let (Some(key), Some(secret)) = (key, secret) else {
        return Err(HttpError(ApiError::invalid("imp_key, imp_secret 파라메터가 누락되었습니다.")));
    };
    Ok(ok(state.gateway.get_token(&key, &secret, client).await?))
}
