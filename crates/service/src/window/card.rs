//! The card form of the window: a billing key issued or the card charged.

use openimp_core::card::{card_company_by_code, sandbox_card_profile, CardInput, RawCard};
use openimp_core::states::PaymentStatus;
use openimp_core::time::now;
use openimp_core::ApiError;
use openimp_pg::PaymentSource;
use openimp_store::merchants;
use openimp_store::payments;
use openimp_store::window;
use serde_json::Value;

use super::rsp::{charge_rsp, error_code, failure, order_fields, rsp_of};
use super::session::check_csrf;
use super::{CardForm, Submitted, WindowView};
use crate::billing::IssueKeyCommand;
use crate::charge::Attempt;
use crate::{ApiResult, Gateway, MerchantId};

impl Gateway {
    /// The card form came back: issue the key or charge the card.
    pub async fn submit_window(&self, id: &str, form: CardForm) -> ApiResult<Submitted> {
        let view = self.window_view(id).await?;
        let session = &view.session;
        check_csrf(session, &form.csrf)?;
        if session.state != "open" {
            return Err(ApiError::rejected(
                "이미 처리된 결제창입니다. (this window was already used)",
            ));
        }
        if view.expired {
            return Err(ApiError::rejected(
                "결제창 유효시간(15분)이 지났습니다. 다시 시도해주세요. (the window expired)",
            ));
        }
        let request = &view.request;
        if request.pay_method != "card" {
            return self.submit_method(id, &view, form).await;
        }
        let card = match parse_card(&form) {
            Ok(card) => card,
            Err(err) => return Ok(Submitted::Retry(err.envelope_parts().2)),
        };
        let (company, _) = sandbox_card_profile(&card.number);
        let chosen = form.card_code.as_deref().map(str::trim).filter(|c| !c.is_empty());
        if let Some(chosen) = chosen.or(request.direct_code.as_deref()) {
            if chosen != company.code {
                let name = card_company_by_code(chosen).map_or(chosen, |c| c.name);
                return Ok(Submitted::Retry(format!(
                    "{name} 카드가 아닙니다. 카드번호를 확인하세요. (the card number is not a {name} card)"
                )));
            }
        }
        if !request.enabled_cards.iter().any(|c| c == company.code) {
            return Ok(Submitted::Retry(format!(
                "{}는 이 주문에서 사용할 수 없습니다. (this card company is not accepted for this order)",
                company.name
            )));
        }
        let quota = if request.direct_code.is_some() {
            request.direct_quota
        } else {
            match form.quota.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
                None => 0,
                Some(q) => match q.parse::<i64>() {
                    Ok(0) => 0,
                    Ok(q) if request.quota_options.contains(&q) => q,
                    _ => {
                        return Ok(Submitted::Retry(
                            "선택할 수 없는 할부개월입니다. (instalment not offered)".to_owned(),
                        ))
                    }
                },
            }
        };
        if !window::claim(&self.db, id, &form.csrf, now()).await? {
            return Err(ApiError::rejected(
                "이미 처리된 결제창입니다. (this window was already used)",
            ));
        }
        let rsp = self.complete(&view, card, quota).await;
        let rsp = match rsp {
            Ok(rsp) => rsp,
            Err(err) => failure(&request.merchant_uid, None, "F500", &err.envelope_parts().2),
        };
        let imp_uid = rsp.get("imp_uid").and_then(Value::as_str).map(str::to_owned);
        window::finish(&self.db, id, imp_uid.as_deref(), &rsp.to_string(), now()).await?;
        Ok(Submitted::Done(rsp))
    }

    async fn complete(&self, view: &WindowView, card: CardInput, quota: i64) -> ApiResult<Value> {
        let session = &view.session;
        let request = &view.request;
        let merchant = MerchantId(session.merchant_id.clone());
        let channel = merchants::get_channel(&self.db, &session.merchant_id, &session.channel_id)
            .await?
            .ok_or_else(|| {
                ApiError::rejected("결제창의 PG 채널이 삭제되었습니다. (the channel was removed)")
            })?;
        if let Some(customer_uid) = &request.customer_uid {
            let issue = IssueKeyCommand {
                customer_uid: customer_uid.clone(),
                customer_id: request.customer_id.clone(),
                customer_name: request.buyer_name.clone(),
                customer_tel: request.buyer_tel.clone(),
                customer_email: request.buyer_email.clone(),
                customer_addr: request.buyer_addr.clone(),
                customer_postcode: request.buyer_postcode.clone(),
                ..IssueKeyCommand::default()
            };
            let masked = card.masked();
            // A live key may have appeared since the window opened: ask again.
            let issued = match self.check_window_may_issue(merchant.as_str(), request).await {
                Ok(replace) => {
                    self.issue_on_channel(&merchant, &channel, card, issue, replace).await
                }
                Err(err) => Err(err),
            };
            let now = now();
            let mut row = self.window_row(view, now);
            let error = match &issued {
                Ok((stored, _)) => {
                    row.status = PaymentStatus::Paid;
                    row.paid_at = now;
                    row.card_code = stored.card_code.clone();
                    row.card_name = stored.card_name.clone();
                    row.card_number = stored.card_number.clone();
                    row.card_type = stored.card_type;
                    None
                }
                Err(err) => {
                    let message = err.envelope_parts().2;
                    row.status = PaymentStatus::Failed;
                    row.failed_at = now;
                    row.fail_reason = Some(message.clone());
                    row.card_number = Some(masked);
                    Some(message)
                }
            };
            if let Err(refusal) = payments::insert_attempt(&self.db, &mut row, None).await? {
                return Err(self.insert_refusal_error(&row, refusal).await);
            }
            let payment = crate::view::payment(&row, &[]);
            return Ok(match error {
                None => rsp_of(&payment, None),
                Some(message) => rsp_of(&payment, Some((error_code(&message), message.as_str()))),
            });
        }
        let order = order_fields(request, quota);
        let attempt = Attempt {
            merchant_id: session.merchant_id.clone(),
            channel,
            currency: openimp_core::money::check_currency(Some(&request.currency))?,
            customer_uid: None,
            usage: None,
            card_number: Some(card.masked()),
            channel_kind: if session.device == "mobile" { "mobile" } else { "pc" },
            pay_method: "card",
            user_agent: session.user_agent.clone(),
        };
        let payment = self.charge(attempt, order, PaymentSource::Keyed(card)).await?;
        Ok(charge_rsp(&payment))
    }
}

/// The form's card, with the expiry typed as `MM/YY`.
pub(super) fn parse_card(form: &CardForm) -> ApiResult<CardInput> {
    let expiry = form.expiry.as_deref().map(str::trim).unwrap_or("");
    let digits: String = expiry.chars().filter(char::is_ascii_digit).collect();
    let expiry = if expiry.contains('-') && digits.len() == 6 {
        format!("{}-{}", &digits[..4], &digits[4..])
    } else if digits.len() == 4 {
        format!("20{}-{}", &digits[2..], &digits[..2])
    } else if expiry.is_empty() {
        String::new()
    } else {
        return Err(ApiError::invalid(
            "유효기간은 MM/YY 형식으로 입력하세요. (expiry must be MM/YY)",
        ));
    };
    let birth = form.birth.as_deref().map(str::trim).unwrap_or("");
    if birth.is_empty() {
        return Err(ApiError::invalid(
            "생년월일 6자리 또는 사업자번호 10자리를 입력하세요. (birth date or business number is required)",
        ));
    }
    let pwd = form.pwd_2digit.as_deref().map(str::trim).unwrap_or("");
    if pwd.is_empty() {
        return Err(ApiError::invalid(
            "비밀번호 앞 2자리를 입력하세요. (the first two password digits are required)",
        ));
    }
    CardInput::parse(
        RawCard {
            card_number: form.card_number.as_deref(),
            expiry: Some(&expiry),
            birth: Some(birth),
            pwd_2digit: Some(pwd),
        },
        chrono::Utc::now().date_naive(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_forms() {
        let form = |expiry: &str| CardForm {
            card_number: Some("4092-0230-1234-5678".into()),
            expiry: Some(expiry.into()),
            birth: Some("820213".into()),
            pwd_2digit: Some("00".into()),
            ..CardForm::default()
        };
        assert_eq!(parse_card(&form("12/39")).unwrap().expiry_year, 2039);
        assert_eq!(parse_card(&form("2039-12")).unwrap().expiry_month, 12);
        assert!(parse_card(&form("1/1/1")).is_err());
        assert_eq!(error_code("[51] 잔액부족"), "51");
    }
}
