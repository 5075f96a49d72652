//! `Idempotency-Key` on POST requests: the same key with the same request within 24 hours
//! replays the first response; with another request it is refused.

use openimp_core::time::now;
use openimp_core::ApiError;
use openimp_store::idempotency::{self, Claim};

use crate::{ApiResult, Gateway, MerchantId};

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyStart {
    /// First use: run the request, then call [`Gateway::idempotency_finish`].
    Proceed,
    /// Answer with the stored response.
    Replay { status: u16, body: String },
}

impl Gateway {
    pub async fn idempotency_begin(
        &self,
        merchant: &MerchantId,
        key: &str,
        request_hash: &str,
    ) -> ApiResult<IdempotencyStart> {
        if key.is_empty() || key.len() > 255 {
            return Err(ApiError::invalid("Idempotency-Key는 1~255자여야 합니다. (Idempotency-Key must be 1 to 255 characters)"));
        }
        match idempotency::claim(&self.db, merchant.as_str(), key, request_hash, now()).await? {
            Claim::Claimed => Ok(IdempotencyStart::Proceed),
            Claim::Done { request_hash: stored, status, body } if stored == request_hash => {
                Ok(IdempotencyStart::Replay { status, body })
            }
            Claim::InProgress { request_hash: stored } if stored == request_hash => {
                Err(ApiError::IdempotencyInProgress)
            }
            Claim::Done { .. } | Claim::InProgress { .. } => Err(ApiError::IdempotencyMismatch),
        }
    }

    /// Keeps the claim of a request that is still running from being taken over.
    pub async fn idempotency_renew(&self, merchant: &MerchantId, key: &str) -> ApiResult<()> {
        idempotency::renew(&self.db, merchant.as_str(), key, now()).await?;
        Ok(())
    }

    /// Keeps the response for replays. Server-side failures free the key instead, so that a
    /// retry runs again.
    pub async fn idempotency_finish(
        &self,
        merchant: &MerchantId,
        key: &str,
        status: u16,
        body: &str,
    ) -> ApiResult<()> {
        if status >= 500 {
            idempotency::release(&self.db, merchant.as_str(), key).await?;
        } else {
            idempotency::complete(&self.db, merchant.as_str(), key, status, body).await?;
        }
        Ok(())
    }
}
