//! Store rows → the i'mport wire objects.

use std::collections::HashMap;

use openimp_core::wire::{Customer, Payment, PaymentCancel};
use openimp_store::cancels::{self, CancelRow};
use openimp_store::customers::CustomerRow;
use openimp_store::payments::PaymentRow;

use crate::{ApiResult, Gateway};

/// A payment as the API shows it: `pending` (outcome not known yet) is `ready`.
pub fn payment(row: &PaymentRow, cancels: &[CancelRow]) -> Payment {
    let status = row.status.wire().to_owned();
    let cancel_history: Vec<PaymentCancel> = cancels
        .iter()
        .map(|c| PaymentCancel {
            pg_tid: c.pg_tid.clone().unwrap_or_default(),
            amount: c.amount,
            cancelled_at: c.cancelled_at,
            reason: c.reason.clone(),
            cancellation_id: c.cancellation_id.clone(),
            receipt_url: c.receipt_url.clone(),
        })
        .collect();
    let cancel_receipt_urls = cancel_history.iter().filter_map(|c| c.receipt_url.clone()).collect();
    Payment {
        imp_uid: row.imp_uid.clone(),
        merchant_uid: row.merchant_uid.clone(),
        pay_method: row.pay_method.clone(),
        channel: row.channel.clone(),
        pg_provider: row.pg_provider.clone(),
        emb_pg_provider: row.method.emb_pg_provider.clone(),
        pg_tid: row.pg_tid.clone(),
        pg_id: row.pg_id.clone(),
        escrow: false,
        apply_num: row.apply_num.clone(),
        bank_code: row.method.bank_code.clone(),
        bank_name: row.method.bank_name.clone(),
        card_code: row.card_code.clone(),
        card_name: row.card_name.clone(),
        card_issuer_code: row.card_code.clone(),
        card_issuer_name: row.card_name.clone(),
        card_publisher_code: None,
        card_publisher_name: None,
        card_quota: row.card_quota,
        card_number: row.card_number.clone(),
        card_type: row.card_type,
        vbank_code: row.method.vbank_code.clone(),
        vbank_name: row.method.vbank_name.clone(),
        vbank_num: row.method.vbank_num.clone(),
        vbank_holder: row.method.vbank_holder.clone(),
        vbank_date: row.method.vbank_date,
        vbank_issued_at: row.method.vbank_issued_at,
        name: row.name.clone(),
        amount: row.amount,
        cancel_amount: row.cancel_amount,
        currency: row.currency.clone(),
        buyer_name: row.buyer_name.clone(),
        buyer_email: row.buyer_email.clone(),
        buyer_tel: row.buyer_tel.clone(),
        buyer_addr: row.buyer_addr.clone(),
        buyer_postcode: row.buyer_postcode.clone(),
        custom_data: row.custom_data.clone(),
        user_agent: row.user_agent.clone(),
        status,
        started_at: row.started_at,
        paid_at: row.paid_at,
        failed_at: row.failed_at,
        cancelled_at: row.cancelled_at,
        fail_reason: row.fail_reason.clone(),
        cancel_reason: row.cancel_reason.clone(),
        receipt_url: row.receipt_url.clone(),
        cancel_history,
        cancel_receipt_urls,
        cash_receipt_issued: false,
        customer_uid: row.customer_uid.clone(),
        customer_uid_usage: row.customer_uid_usage.map(|usage| usage.as_str().to_owned()),
    }
}

pub fn customer(row: &CustomerRow) -> Customer {
    Customer {
        customer_uid: row.customer_uid.clone(),
        pg_provider: row.pg_provider.clone(),
        pg_id: row.pg_id.clone(),
        customer_id: row.customer_id.clone(),
        card_name: row.card_name.clone(),
        card_code: row.card_code.clone(),
        card_issuer_code: row.card_code.clone(),
        card_issuer_name: row.card_name.clone(),
        card_publisher_code: None,
        card_publisher_name: None,
        card_number: row.card_number.clone(),
        card_type: row.card_type,
        customer_name: row.customer_name.clone(),
        customer_tel: row.customer_tel.clone(),
        customer_email: row.customer_email.clone(),
        customer_addr: row.customer_addr.clone(),
        customer_postcode: row.customer_postcode.clone(),
        inserted: row.inserted,
        updated: row.updated,
    }
}

impl Gateway {
    /// Sets the base URL (`http://host:port`) receipt links are made absolute with. Only the
    /// first call counts.
    pub fn set_public_url(&self, url: &str) {
        let _ = self.public_url.set(url.trim_end_matches('/').to_owned());
    }

    /// The base URL merchants and browsers reach this server at, once set.
    pub fn public_url(&self) -> Option<&str> {
        self.public_url.get().map(String::as_str)
    }

    /// Makes the gateway-relative receipt links of a payment absolute.
    pub(crate) fn absolute_links(&self, mut payment: Payment) -> Payment {
        let Some(base) = self.public_url.get() else { return payment };
        let absolute = |url: &mut Option<String>| {
            if let Some(path) = url.as_ref().filter(|u| u.starts_with('/')) {
                *url = Some(format!("{base}{path}"));
            }
        };
        absolute(&mut payment.receipt_url);
        for cancel in &mut payment.cancel_history {
            absolute(&mut cancel.receipt_url);
        }
        payment.cancel_receipt_urls =
            payment.cancel_history.iter().filter_map(|c| c.receipt_url.clone()).collect();
        payment
    }

    /// Wire payments for rows, with their cancel histories fetched in one query.
    pub async fn payment_views(&self, rows: &[PaymentRow]) -> ApiResult<Vec<Payment>> {
        let with_cancels: Vec<&str> =
            rows.iter().filter(|r| r.cancel_reserved > 0).map(|r| r.imp_uid.as_str()).collect();
        let cancels: HashMap<String, Vec<CancelRow>> =
            cancels::cancels_for(&self.db, &with_cancels).await?;
        Ok(rows
            .iter()
            .map(|row| payment(row, cancels.get(&row.imp_uid).map(Vec::as_slice).unwrap_or(&[])))
            .map(|payment| self.absolute_links(payment))
            .collect())
    }

    pub(crate) async fn payment_view(&self, row: &PaymentRow) -> ApiResult<Payment> {
        let mut views = self.payment_views(std::slice::from_ref(row)).await?;
        views.pop().ok_or_else(|| openimp_core::ApiError::internal("payment view missing"))
    }
}
