//! `GET /banks`, `GET /banks/{bank_standard_code}`, `GET /cards`,
//! `GET /cards/{card_standard_code}`: the KFTC standard codes (금융결제원 표준코드) openimp knows.
//! A token is required, as i'mport requires one.

use openimp_service::codes;

use crate::auth::Merchant;
use crate::envelope::{ok, HttpResult};
use crate::params::Path;

/// Every bank: `[{code, name}]`.
#[utoipa::path(get, path = "/banks", tag = "codes",
    responses((status = 200, description = "`[{code, name}]`: every bank (KFTC standard codes)"), (status = 401)))]
pub async fn banks(_merchant: Merchant) -> HttpResult {
    Ok(ok(codes::banks()))
}

/// One bank; an unknown code is a 404.
#[utoipa::path(get, path = "/banks/{bank_standard_code}", tag = "codes",
    params(("bank_standard_code" = String, Path)),
    responses((status = 200, description = "`{code, name}`"), (status = 401), (status = 404)))]
pub async fn bank(_merchant: Merchant, Path(code): Path<String>) -> HttpResult {
    Ok(ok(codes::bank(&code)?))
}

/// Every card company: `[{code, name}]`.
#[utoipa::path(get, path = "/cards", tag = "codes",
    responses((status = 200, description = "`[{code, name}]`: every card company (KFTC standard codes)"), (status = 401)))]
pub async fn cards(_merchant: Merchant) -> HttpResult {
    Ok(ok(codes::cards()))
}

/// One card company; an unknown code is a 404.
#[utoipa::path(get, path = "/cards/{card_standard_code}", tag = "codes",
    params(("card_standard_code" = String, Path)),
    responses((status = 200, description = "`{code, name}`"), (status = 401), (status = 404)))]
pub async fn card(_merchant: Merchant, Path(code): Path<String>) -> HttpResult {
    Ok(ok(codes::card(&code)?))
}
