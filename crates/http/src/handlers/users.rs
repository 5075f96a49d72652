//! `POST /users/getToken`.

use axum::extract::State;

use openimp_core::wire::AccessToken;
use openimp_core::ApiError;

use crate::envelope::{ok, Envelope, HttpError, HttpResult};
use crate::params::Body;
use crate::requests::TokenRequest;
use crate::AppState;

/// Issues an access token (30 minutes; the same token while valid, extended in its last minute).
#[utoipa::path(post, path = "/users/getToken", tag = "auth", request_body = TokenRequest,
    responses((status = 200, body = Envelope<AccessToken>), (status = 401, description = "wrong imp_key or imp_secret")))]
pub async fn get_token(
    State(state): State<AppState>,
    Body(request): Body<TokenRequest>,
) -> HttpResult {
    let key = request.imp_key.filter(|k| !k.is_empty());
    let secret = request.imp_secret.filter(|s| !s.is_empty());
    let (Some(key), Some(secret)) = (key, secret) else {
        return Err(HttpError(ApiError::invalid("imp_key, imp_secret 파라메터가 누락되었습니다.")));
    };
    Ok(ok(state.gateway.get_token(&key, &secret).await?))
}
