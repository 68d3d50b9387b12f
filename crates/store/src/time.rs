use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The current UTC time as RFC 3339 with sub-second precision; strings in
/// this form sort chronologically.
pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

/// RFC 3339 time `seconds` from now.
pub(crate) fn rfc3339_after(seconds: u64) -> String {
    let secs = i64::try_from(seconds).unwrap_or(i64::MAX / 2);
    let when = OffsetDateTime::now_utc().saturating_add(time::Duration::seconds(secs));
    when.format(&Rfc3339)
        .unwrap_or_else(|_| String::from("9999-12-31T23:59:59Z"))
}
