//! `GET /banks`, `GET /banks/{bank_standard_code}`, `GET /cards`,
//! `GET /cards/{card_standard_code}`: the KFTC standard codes (금융결제원 표준코드) openimp knows.
//! A token is required, as i'mport requires one.

use axum::extract::Path;

use openimp_service::codes;

use crate::auth::Merchant;
use crate::envelope::{ok, HttpResult};

/// Every bank: `[{code, name}]`.
pub async fn banks(Merchant(_): Merchant) -> HttpResult {
    Ok(ok(codes::banks()))
}

/// One bank; an unknown code is a 404.
pub async fn bank(Merchant(_): Merchant, Path(code): Path<String>) -> HttpResult {
    Ok(ok(codes::bank(&code)?))
}

/// Every card company: `[{code, name}]`.
pub async fn cards(Merchant(_): Merchant) -> HttpResult {
    Ok(ok(codes::cards()))
}

/// One card company; an unknown code is a 404.
pub async fn card(Merchant(_): Merchant, Path(code): Path<String>) -> HttpResult {
    Ok(ok(codes::card(&code)?))
}
