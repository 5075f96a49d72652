//! The one error type of openimp, and its mapping to the i'mport envelope.
//!
//! i'mport reports business failures as HTTP 200 with a non-zero `code` (the official Python
//! client throws away the body of any non-200 answer), so only authentication, unknown objects,
//! malformed requests and server trouble use other HTTP statuses.

use std::fmt;

/// What went wrong, in domain terms. Messages are Korean like the original service's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No token, or an unknown or expired token.
    Unauthorized,
    /// `POST /users/getToken` with a wrong key or secret.
    BadCredentials,
    /// `POST /users/getToken` while the key or the client address is locked out after too many
    /// failed attempts (HTTP 429).
    TooManyAttempts,
    /// The object does not exist, or belongs to another merchant.
    NotFound(String),
    /// The request is malformed: a missing or ill-typed field, an out-of-range page.
    InvalidRequest(String),
    /// A business rule refused the request (duplicate merchant_uid, cancel beyond balance, ...).
    Rejected(String),
    /// The PG refused the card data itself (authentication failed), `code -1` like i'mport.
    CardRejected(String),
    /// An `Idempotency-Key` reused with another request body.
    IdempotencyMismatch,
    /// An `Idempotency-Key` whose first request is still being processed.
    IdempotencyInProgress,
    /// The HTTP method is not allowed on this path.
    MethodNotAllowed,
    /// The database (or another dependency) cannot be reached right now.
    Unavailable(String),
    /// The database refuses writes: the disk is full, or the data directory (or the database)
    /// is read-only. Nothing of the failed write was committed.
    Unwritable(String),
    /// A bug or an unexpected failure; the detail is logged, never sent.
    Internal(String),
}

impl ApiError {
    /// (HTTP status, envelope `code`, envelope `message`): the single mapping of errors to the wire.
    pub fn envelope_parts(&self) -> (u16, i64, String) {
        match self {
            ApiError::Unauthorized => (401, -1, "Unauthorized".to_owned()),
            ApiError::BadCredentials => {
                (401, -1, "인증에 실패하였습니다. API키와 secret을 확인하세요.".to_owned())
            }
            ApiError::TooManyAttempts => (
                429,
                -1,
                "인증 실패가 너무 많습니다. 잠시 후 다시 시도하세요. (too many failed attempts; retry later)".to_owned(),
            ),
            ApiError::NotFound(message) => (404, -1, message.clone()),
            ApiError::InvalidRequest(message) => (400, -1, message.clone()),
            ApiError::Rejected(message) => (200, 1, message.clone()),
            ApiError::CardRejected(message) => (200, -1, message.clone()),
            ApiError::IdempotencyMismatch => (
                422,
                -1,
                "같은 Idempotency-Key로 다른 요청을 보낼 수 없습니다. (Idempotency-Key reused with a different request)".to_owned(),
            ),
            ApiError::IdempotencyInProgress => (
                409,
                -1,
                "같은 Idempotency-Key의 요청이 처리 중입니다. (a request with this Idempotency-Key is still in progress)".to_owned(),
            ),
            ApiError::MethodNotAllowed => (405, -1, "Method Not Allowed".to_owned()),
            ApiError::Unavailable(_) => (
                503,
                -1,
                "일시적으로 서비스를 이용할 수 없습니다. 잠시 후 다시 시도해주세요. (service temporarily unavailable)".to_owned(),
            ),
            ApiError::Unwritable(_) => (
                503,
                -1,
                "데이터베이스에 기록할 수 없습니다. 디스크가 가득 찼거나 데이터 디렉터리(데이터베이스)가 읽기 전용입니다. 잠시 후 다시 시도해주세요. (the database cannot be written: the disk is full or the data directory is read-only; try again later)".to_owned(),
            ),
            ApiError::Internal(_) => (
                500,
                -1,
                "서버 내부 오류가 발생했습니다. (internal server error)".to_owned(),
            ),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::InvalidRequest(message.into())
    }

    pub fn rejected(message: impl Into<String>) -> Self {
        ApiError::Rejected(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::NotFound(message.into())
    }

    pub fn internal(detail: impl fmt::Display) -> Self {
        ApiError::Internal(detail.to_string())
    }

    /// The standard not-found message for payments.
    pub fn payment_not_found() -> Self {
        ApiError::NotFound("존재하지 않는 결제정보입니다.".to_owned())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Internal(detail)
            | ApiError::Unavailable(detail)
            | ApiError::Unwritable(detail) => {
                write!(f, "{}: {detail}", self.envelope_parts().2)
            }
            other => f.write_str(&other.envelope_parts().2),
        }
    }
}

impl std::error::Error for ApiError {}

pub type ApiResult<T> = Result<T, ApiError>;
