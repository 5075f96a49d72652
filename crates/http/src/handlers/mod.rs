//! One module per resource; one function per operation.

pub mod codes;
pub mod meta;
pub mod payments;
pub mod pg_settings;
pub mod schedules;
pub mod subscribe;
pub mod users;

use openimp_core::ApiError;

/// A required string field, or the i'mport-style "missing parameter" error.
pub(crate) fn required(value: Option<String>, field: &str) -> Result<String, ApiError> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).ok_or_else(|| {
        ApiError::invalid(format!("{field} 파라메터가 누락되었습니다. ({field} is required)"))
    })
}

/// A required integer field.
pub(crate) fn required_i64(value: Option<i64>, field: &str) -> Result<i64, ApiError> {
    value.ok_or_else(|| {
        ApiError::invalid(format!("{field} 파라메터가 누락되었습니다. ({field} is required)"))
    })
}

/// A list of at most `max` items, or a 400 naming it.
pub(crate) fn at_most_items<T>(items: &[T], field: &str, max: usize) -> Result<(), ApiError> {
    if items.len() > max {
        return Err(ApiError::invalid(format!(
            "{field} 목록은 {max}개를 넘을 수 없습니다. ({field} has more than {max} items)"
        )));
    }
    Ok(())
}
