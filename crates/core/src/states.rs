//! The states of a payment and a schedule, and what a payment was for (`customer_uid_usage`),
//! as enums: a new state is a compile error wherever it is not handled, not a silent string.
//! Each is stored and shown as the text i'mport uses.

use std::fmt;

/// A payment's state. `Pending` is internal (the PG has not answered yet) and shows as `ready`
/// on the wire, as an issued virtual account (`Ready`) does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    #[default]
    Pending,
    Ready,
    Paid,
    Failed,
    Cancelled,
}

impl PaymentStatus {
    /// As stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Ready => "ready",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Cancelled => "cancelled",
        }
    }

    /// As the API shows it.
    pub const fn wire(self) -> &'static str {
        match self {
            PaymentStatus::Pending | PaymentStatus::Ready => "ready",
            other => other.as_str(),
        }
    }

    pub fn parse(text: &str) -> Option<PaymentStatus> {
        Some(match text {
            "pending" => PaymentStatus::Pending,
            "ready" => PaymentStatus::Ready,
            "paid" => PaymentStatus::Paid,
            "failed" => PaymentStatus::Failed,
            "cancelled" => PaymentStatus::Cancelled,
            _ => return None,
        })
    }

    /// A live attempt holds its merchant_uid (the unique index of migration 0005).
    pub const fn is_live(self) -> bool {
        match self {
            PaymentStatus::Pending
            | PaymentStatus::Ready
            | PaymentStatus::Paid
            | PaymentStatus::Cancelled => true,
            PaymentStatus::Failed => false,
        }
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lets code written against the stored text compare without a conversion.
impl PartialEq<&str> for PaymentStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A schedule's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ScheduleStatus {
    #[default]
    Scheduled,
    Executed,
    Revoked,
}

impl ScheduleStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            ScheduleStatus::Scheduled => "scheduled",
            ScheduleStatus::Executed => "executed",
            ScheduleStatus::Revoked => "revoked",
        }
    }

    pub fn parse(text: &str) -> Option<ScheduleStatus> {
        Some(match text {
            "scheduled" => ScheduleStatus::Scheduled,
            "executed" => ScheduleStatus::Executed,
            "revoked" => ScheduleStatus::Revoked,
            _ => return None,
        })
    }
}

impl fmt::Display for ScheduleStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a payment of a billing key was for (`customer_uid_usage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    /// `again` (or `onetime` with a stored key).
    Payment,
    /// The scheduler's own charge of a schedule: the one usage a schedule's reserved
    /// merchant_uid lets through, and the one whose failure sends a webhook.
    Scheduled,
    /// The payment issued the key (a `onetime` that stored it, a billing-key window).
    Issue,
}

impl KeyUsage {
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyUsage::Payment => "payment",
            KeyUsage::Scheduled => "payment.scheduled",
            KeyUsage::Issue => "issue",
        }
    }

    pub fn parse(text: &str) -> Option<KeyUsage> {
        Some(match text {
            "payment" => KeyUsage::Payment,
            "payment.scheduled" => KeyUsage::Scheduled,
            "issue" => KeyUsage::Issue,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in [
            PaymentStatus::Pending,
            PaymentStatus::Ready,
            PaymentStatus::Paid,
            PaymentStatus::Failed,
            PaymentStatus::Cancelled,
        ] {
            assert_eq!(PaymentStatus::parse(s.as_str()), Some(s));
        }
        for s in [ScheduleStatus::Scheduled, ScheduleStatus::Executed, ScheduleStatus::Revoked] {
            assert_eq!(ScheduleStatus::parse(s.as_str()), Some(s));
        }
        for u in [KeyUsage::Payment, KeyUsage::Scheduled, KeyUsage::Issue] {
            assert_eq!(KeyUsage::parse(u.as_str()), Some(u));
        }
        assert_eq!(PaymentStatus::Pending.wire(), "ready");
        assert!(!PaymentStatus::Failed.is_live());
        assert!(PaymentStatus::parse("bogus").is_none());
    }
}
