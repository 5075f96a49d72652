//! The dashboard: the last 30 KST days' approved volume and approval rate, drawn by the server
//! as SVG (no script, no third-party library), and the recent failures.

use axum::http::StatusCode;
use axum::response::Response;
use chrono::TimeZone;
use minijinja::context;
use openimp_core::time::now;
use openimp_store::console::{self, DailyVolume, KST_OFFSET_SECS};
use openimp_store::payments::{self, PaymentFilter, Sorting};

use super::{frame, MerchantPage};
use crate::i18n::{text, Lang};
use crate::render::{kst_offset, won};
use crate::session::Refusal;

const DAYS: i64 = 30;
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 30.0;

/// `GET /console/m/{code}`.
pub async fn page(page: MerchantPage) -> Response {
    let MerchantPage { state, signed, scope, uri } = page;
    let today = (now() + KST_OFFSET_SECS).div_euclid(86400);
    let first = today - (DAYS - 1);
    let from = first * 86400 - KST_OFFSET_SECS;
    let to = (today + 1) * 86400 - KST_OFFSET_SECS;
    let found = console::daily_volume(&state.gateway.db, scope.code(), from, to).await;
    let Ok(found) = found else {
        return super::refuse(&state, &signed, uri.path(), Refusal::Unavailable);
    };
    let days: Vec<DailyVolume> = (first..=today)
        .map(|day| {
            found
                .iter()
                .find(|d| d.day == day)
                .cloned()
                .unwrap_or(DailyVolume { day, ..DailyVolume::default() })
        })
        .collect();
    let failed = PaymentFilter { status: Some("failed".to_owned()), ..PaymentFilter::default() };
    let failures =
        match payments::list(&state.gateway.db, scope.code(), &failed, Sorting::StartedDesc, 1, 10)
            .await
        {
            Ok((rows, _)) => state.gateway.payment_views(&rows).await.unwrap_or_default(),
            Err(_) => return super::refuse(&state, &signed, uri.path(), Refusal::Unavailable),
        };
    let total_amount: i64 = days.iter().map(|d| d.approved_amount).sum();
    let total_approved: i64 = days.iter().map(|d| d.approved).sum();
    let total_failed: i64 = days.iter().map(|d| d.failed).sum();
    let rate_text =
        rate(total_approved, total_failed).map_or_else(|| "-".to_owned(), |r| format!("{r:.1}%"));
    let extra = context! {
        total_amount => total_amount,
        total_approved => total_approved,
        rate_text => rate_text,
        volume_svg => volume_chart(signed.lang, &days),
        rate_svg => rate_chart(signed.lang, &days),
        failures => failures,
    };
    frame(&signed, &scope, "dashboard", &uri, None).render(
        &state.templates,
        StatusCode::OK,
        "dashboard.html",
        extra,
    )
}

/// Approved of settled attempts, in percent; None when nothing settled.
fn rate(approved: i64, failed: i64) -> Option<f64> {
    let settled = approved + failed;
    (settled > 0).then(|| approved as f64 * 100.0 / settled as f64)
}

fn day_label(day: i64) -> String {
    let midnight = day * 86400 - KST_OFFSET_SECS;
    kst_offset()
        .timestamp_opt(midnight, 0)
        .single()
        .map_or_else(String::new, |at| at.format("%m-%d").to_string())
}

/// The frame both charts share: axes, the y labels, a date under every fifth day.
fn frame_svg(label: &str, top_label: &str) -> String {
    let mut svg = format!(
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(label)
    );
    let bottom = HEIGHT - BOTTOM;
    svg.push_str(&format!(
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{bottom}\"/>"
    ));
    svg.push_str(&format!(
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\"/>",
        WIDTH - RIGHT
    ));
    svg.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        LEFT - 4.0,
        TOP + 8.0,
        escape(top_label)
    ));
    svg.push_str(&format!(
        "<text x=\"{}\" y=\"{bottom}\" text-anchor=\"end\">0</text>",
        LEFT - 4.0
    ));
    svg
}

fn slot(days: usize) -> f64 {
    (WIDTH - LEFT - RIGHT) / days.max(1) as f64
}

fn date_labels(svg: &mut String, days: &[DailyVolume]) {
    let width = slot(days.len());
    for (i, day) in days.iter().enumerate() {
        if i % 5 == 0 || i + 1 == days.len() {
            let x = LEFT + width * (i as f64 + 0.5);
            svg.push_str(&format!(
                "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                HEIGHT - 10.0,
                day_label(day.day)
            ));
        }
    }
}

/// Bars of each day's approved amount.
pub fn volume_chart(lang: Lang, days: &[DailyVolume]) -> String {
    let max = days.iter().map(|d| d.approved_amount).max().unwrap_or(0).max(1);
    let mut svg = frame_svg(&text(lang, "daily_volume"), &won(lang, max));
    let width = slot(days.len());
    let plot = HEIGHT - TOP - BOTTOM;
    for (i, day) in days.iter().enumerate() {
        let height = plot * day.approved_amount as f64 / max as f64;
        let x = LEFT + width * i as f64 + width * 0.15;
        let y = HEIGHT - BOTTOM - height;
        svg.push_str(&format!(
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{height:.1}\"><title>{} {} ({})</title></rect>",
            width * 0.7,
            day_label(day.day),
            won(lang, day.approved_amount),
            day.approved
        ));
    }
    date_labels(&mut svg, days);
    svg.push_str("</svg>");
    svg
}

/// A line through each day's approval rate (days without settled attempts are skipped).
pub fn rate_chart(lang: Lang, days: &[DailyVolume]) -> String {
    let mut svg = frame_svg(&text(lang, "daily_approval_rate"), "100%");
    let width = slot(days.len());
    let plot = HEIGHT - TOP - BOTTOM;
    let points: Vec<(f64, f64, String)> = days
        .iter()
        .enumerate()
        .filter_map(|(i, day)| {
            let percent = rate(day.approved, day.failed)?;
            let x = LEFT + width * (i as f64 + 0.5);
            let y = HEIGHT - BOTTOM - plot * percent / 100.0;
            Some((
                x,
                y,
                format!(
                    "{} {percent:.1}% ({}/{})",
                    day_label(day.day),
                    day.approved,
                    day.approved + day.failed
                ),
            ))
        })
        .collect();
    if points.len() > 1 {
        let path: Vec<String> = points.iter().map(|(x, y, _)| format!("{x:.1},{y:.1}")).collect();
        svg.push_str(&format!("<polyline class=\"line\" points=\"{}\"/>", path.join(" ")));
    }
    for (x, y, title) in &points {
        svg.push_str(&format!("<circle class=\"dot\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\"><title>{title}</title></circle>"));
    }
    date_labels(&mut svg, days);
    svg.push_str("</svg>");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(day: i64, approved_amount: i64, approved: i64, failed: i64) -> DailyVolume {
        DailyVolume { day, approved_amount, approved, failed, attempts: approved + failed }
    }

    #[test]
    fn bars_scale_to_the_largest_day() {
        let days = [day(20000, 1000, 1, 0), day(20001, 0, 0, 0), day(20002, 4000, 2, 2)];
        let svg = volume_chart(Lang::Ko, &days);
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 3);
        // The tallest bar fills the plot (180 px); the one of 1,000 a quarter of it.
        assert!(svg.contains("height=\"180.0\""), "{svg}");
        assert!(svg.contains("height=\"45.0\""), "{svg}");
        assert!(svg.contains("4,000원"), "{svg}");
    }

    #[test]
    fn the_rate_line_skips_days_without_settled_attempts() {
        let days = [day(20000, 1000, 1, 0), day(20001, 0, 0, 0), day(20002, 4000, 2, 2)];
        let svg = rate_chart(Lang::En, &days);
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("100.0% (1/1)") && svg.contains("50.0% (2/4)"), "{svg}");
        assert_eq!(rate(0, 0), None);
    }
}
