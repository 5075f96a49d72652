//! The one way services call a PG: in a task of its own, under the one PG timeout, measured,
//! and with one wording for a call that produced no answer.
//!
//! - **Spawned:** the call and whatever records its outcome run in a task of their own, so a
//!   client hanging up (which drops the request's future) can interrupt neither; a PG that
//!   charged or cancelled always gets its answer written down.
//! - **One timeout:** no answer within `GatewayConfig::pg_timeout` is
//!   [`ConnectorError::Unknown`]: the request may have reached the PG, so the outcome is settled
//!   by inquiry (DESIGN.md rule 2), never guessed. The timeout stops the waiting, not the
//!   connector: its call runs on in a task of its own, so what a connector does after the PG's
//!   answer (the net-cancel of a window approval it lost or cannot believe, made inside
//!   `complete_window`) is never cut off half-way by the service giving up. Each of the
//!   connector's HTTP requests is bounded by its own client timeout.
//! - **Metrics:** `openimp_pg_call_duration_seconds` and `openimp_pg_calls_total`, labelled by
//!   provider, operation and outcome.

use std::future::Future;
use std::time::Instant;

use openimp_core::ApiError;
use openimp_pg::{ChannelContext, ConnectorError};

use crate::{ApiResult, Gateway};

/// Which PG operation a call is: its metrics label, and its name in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PgOperation {
    Charge,
    IssueBillingKey,
    BeginWindow,
    CompleteWindow,
    NetCancel,
    Cancel,
    Inquire,
    InquireCancel,
    DeleteBillingKey,
}

impl PgOperation {
    /// The `operation` label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            PgOperation::Charge => "charge",
            PgOperation::IssueBillingKey => "issue_billing_key",
            PgOperation::BeginWindow => "begin_window",
            PgOperation::CompleteWindow => "complete_window",
            PgOperation::NetCancel => "net_cancel",
            PgOperation::Cancel => "cancel",
            PgOperation::Inquire => "inquire",
            PgOperation::InquireCancel => "inquire_cancel",
            PgOperation::DeleteBillingKey => "delete_billing_key",
        }
    }

    /// (Korean, English) names for messages.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            PgOperation::Charge => ("결제", "charge"),
            PgOperation::IssueBillingKey => ("빌링키 발급", "billing key issue"),
            PgOperation::BeginWindow => ("결제창 호출", "payment window start"),
            PgOperation::CompleteWindow => ("결제 승인", "window approval"),
            PgOperation::NetCancel => ("망취소", "net cancel"),
            PgOperation::Cancel => ("취소", "cancel"),
            PgOperation::Inquire => ("결제 조회", "inquiry"),
            PgOperation::InquireCancel => ("취소 조회", "cancel inquiry"),
            PgOperation::DeleteBillingKey => ("빌링키 삭제", "billing key deletion"),
        }
    }

    /// The one mapping of a call that produced no answer to what the merchant is told. An
    /// unknown outcome is not a failure: the merchant is told it is being confirmed.
    pub(crate) fn failure(self, err: ConnectorError) -> ApiError {
        let (ko, en) = self.names();
        match err {
            ConnectorError::Unknown(_) => ApiError::rejected(format!(
                "PG로부터 {ko} 결과를 받지 못했습니다. {ko} 여부를 확인 중이니 잠시 후 결제정보를 다시 조회하세요. (the PG did not answer; the {en} is being confirmed)"
            )),
            ConnectorError::CardRejected { code, message } => {
                ApiError::CardRejected(format!("{ko}에 실패하였습니다. [{code}]{message}"))
            }
            ConnectorError::Unsupported(detail) => ApiError::rejected(detail),
            err @ ConnectorError::NotSent(_) => {
                ApiError::rejected(format!("{ko}에 실패하였습니다. {err} ({en} failed)"))
            }
        }
    }
}

/// The `outcome` label of `openimp_pg_calls_total`.
fn outcome_label<T>(answer: &Result<T, ConnectorError>) -> &'static str {
    match answer {
        Ok(_) => "answered",
        Err(ConnectorError::CardRejected { .. }) => "card_rejected",
        Err(ConnectorError::NotSent(_)) => "not_sent",
        Err(ConnectorError::Unsupported(_)) => "unsupported",
        Err(ConnectorError::Unknown(_)) => "unknown",
    }
}

/// `call` under `timeout` (no answer in time is [`ConnectorError::Unknown`]), measured. The
/// timing half of [`Gateway::call_pg`], for a follow-up call made inside the task a
/// `call_pg` already runs (the cancel of a mismatched approval, a window's net-cancel).
pub(crate) async fn timed<T, Call>(
    operation: PgOperation,
    provider: &str,
    timeout: std::time::Duration,
    call: Call,
) -> Result<T, ConnectorError>
where
    Call: Future<Output = Result<T, ConnectorError>>,
{
    let started = Instant::now();
    let answer = match tokio::time::timeout(timeout, call).await {
        Ok(answer) => answer,
        Err(_) => Err(ConnectorError::Unknown(format!("no answer within {timeout:?}"))),
    };
    metrics::histogram!("openimp_pg_call_duration_seconds", "provider" => provider.to_owned(), "operation" => operation.label())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("openimp_pg_calls_total", "provider" => provider.to_owned(), "operation" => operation.label(), "outcome" => outcome_label(&answer))
        .increment(1);
    answer
}

/// `call` in a task of its own: dropping the returned future (a timeout) stops the waiting
/// only, and the call runs to its end. A call that panicked is [`ConnectorError::Unknown`].
fn detached<T, Call>(call: Call) -> impl Future<Output = Result<T, ConnectorError>>
where
    Call: Future<Output = Result<T, ConnectorError>> + Send + 'static,
    T: Send + 'static,
{
    let task = tokio::spawn(call);
    async move {
        task.await.unwrap_or_else(|err| {
            Err(ConnectorError::Unknown(format!(
                "the PG call's task ended without an answer: {err}"
            )))
        })
    }
}

impl Gateway {
    /// Calls the PG with `call`, then hands its answer to `record`, both in a task of their own
    /// (see the module doc). `call` gets `pg_timeout`; no answer in time reaches `record` as
    /// [`ConnectorError::Unknown`].
    pub(crate) async fn call_pg<T, R, Call, Record, Recorded>(
        &self,
        operation: PgOperation,
        context: &ChannelContext,
        call: Call,
        record: Record,
    ) -> ApiResult<R>
    where
        Call: Future<Output = Result<T, ConnectorError>> + Send + 'static,
        Record: FnOnce(Result<T, ConnectorError>) -> Recorded + Send + 'static,
        Recorded: Future<Output = ApiResult<R>> + Send + 'static,
        T: Send + 'static,
        R: Send + 'static,
    {
        let timeout = self.config.pg_timeout;
        let provider = context.pg_provider.clone();
        tokio::spawn(async move {
            let answer = timed(operation, &provider, timeout, detached(call)).await;
            record(answer).await
        })
        .await
        .map_err(ApiError::internal)?
    }

    /// [`Gateway::call_pg`] for a call whose answer the caller handles itself (an inquiry, a
    /// deletion): the answer, with nothing recorded in the task.
    pub(crate) async fn ask_pg<T, Call>(
        &self,
        operation: PgOperation,
        context: &ChannelContext,
        call: Call,
    ) -> ApiResult<Result<T, ConnectorError>>
    where
        Call: Future<Output = Result<T, ConnectorError>> + Send + 'static,
        T: Send + 'static,
    {
        self.call_pg(operation, context, call, |answer| async move { Ok(answer) }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_outcome_is_not_reported_as_a_failure() {
        let refusal = PgOperation::Cancel.failure(ConnectorError::Unknown("timeout".to_owned()));
        let (status, code, message) = refusal.envelope_parts();
        assert_eq!((status, code), (200, 1));
        assert!(message.contains("취소 여부를 확인 중"), "{message}");
        assert!(!message.contains("실패"), "{message}");
    }

    #[tokio::test]
    async fn a_timeout_stops_the_waiting_not_the_call() {
        let (finished, finished_rx) = tokio::sync::oneshot::channel();
        let call = async move {
            // What a connector does after a lost approval: the net-cancel, after the timeout.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            finished.send(()).expect("the test waits for the call");
            Ok::<(), ConnectorError>(())
        };
        let timeout = std::time::Duration::from_millis(1);
        let answer = timed(PgOperation::CompleteWindow, "test", timeout, detached(call)).await;
        assert!(matches!(answer, Err(ConnectorError::Unknown(_))), "{answer:?}");
        // A call dropped at the timeout would drop its sender: this would fail.
        finished_rx.await.expect("the call ran to its end after the service stopped waiting");
    }

    #[tokio::test]
    async fn a_panicking_call_is_an_unknown_outcome() {
        let call = async { panic!("a connector bug") };
        let answer: Result<(), _> = detached(call).await;
        assert!(matches!(answer, Err(ConnectorError::Unknown(_))), "{answer:?}");
    }

    #[test]
    fn nothing_sent_is_a_failure_naming_the_operation() {
        let refusal =
            PgOperation::DeleteBillingKey.failure(ConnectorError::NotSent("refused".to_owned()));
        let (_, code, message) = refusal.envelope_parts();
        assert_eq!(code, 1);
        assert!(message.starts_with("빌링키 삭제에 실패하였습니다."), "{message}");
    }
}
