//! Timestamps as the store writes them: RFC 3339 in UTC, with a fixed six-digit fraction, so that they sort.

use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

/// RFC 3339 in UTC with a fixed six-digit fraction, so that the strings sort
/// chronologically (a variable-length fraction would not).
const FIXED_RFC3339: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

fn format(when: OffsetDateTime) -> String {
    when.format(FIXED_RFC3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00.000000Z"))
}

/// The current UTC time as RFC 3339 with microseconds.
pub fn now_rfc3339() -> String {
    format(OffsetDateTime::now_utc())
}

/// RFC 3339 time `seconds` from now.
pub(crate) fn rfc3339_after(seconds: u64) -> String {
    let secs = i64::try_from(seconds).unwrap_or(i64::MAX / 2);
    format(OffsetDateTime::now_utc().saturating_add(time::Duration::seconds(secs)))
}

/// Whole seconds from `earlier` to `later`, two times as the store writes
/// them; `None` when either does not parse or `later` comes first.
pub fn seconds_between(earlier: &str, later: &str) -> Option<u64> {
    use time::format_description::well_known::Rfc3339;
    let earlier = OffsetDateTime::parse(earlier, &Rfc3339).ok()?;
    let later = OffsetDateTime::parse(later, &Rfc3339).ok()?;
    u64::try_from((later - earlier).whole_seconds()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_a_fixed_width_and_parse_as_rfc3339() {
        let a = now_rfc3339();
        assert_eq!(a.len(), "2026-01-01T00:00:00.000000Z".len());
        let parsed = OffsetDateTime::parse(&a, &time::format_description::well_known::Rfc3339);
        assert!(parsed.is_ok(), "{a}");
        assert!(rfc3339_after(60) > a);
    }

    #[test]
    fn seconds_between_two_stored_times() {
        let a = "2026-01-01T00:00:00.000000Z";
        assert_eq!(
            seconds_between(a, "2026-01-01T01:02:03.900000Z"),
            Some(3723)
        );
        assert_eq!(seconds_between("2026-01-01T01:00:00.000000Z", a), None);
        assert_eq!(seconds_between("soon", a), None);
    }
}
