//! Tests of `limits`: real-looking errors of claude-agent-acp and codex-acp
//! classified, reset times read, and the hold rule.

use serde_json::json;

use super::*;

/// 2025-10-09 08:00:00 UTC.
const NOW: u64 = 1_759_996_800_000;

fn kind_and_reset(
    code: i64,
    message: &str,
    data: Option<Value>,
) -> Option<(LimitKind, Option<u64>)> {
    classify(code, message, data.as_ref(), NOW).map(|l| (l.kind, l.resets_at_ms))
}

#[test]
fn claude_agent_acps_usage_limit_carries_its_reset_in_unix_seconds() {
    let limit = classify(
        -32603,
        "Internal error: Claude AI usage limit reached|1760000400",
        None,
        NOW,
    )
    .unwrap();
    assert_eq!(limit.kind, LimitKind::Quota);
    assert_eq!(limit.resets_at_ms, Some(1_760_000_400_000));
    assert_eq!(limit.message, "Claude AI usage limit reached|1760000400");
}

#[test]
fn the_same_text_as_an_adapters_exception_in_data_details_is_read_too() {
    let data = json!({"details": "Claude AI usage limit reached|1760000400"});
    assert_eq!(
        kind_and_reset(-32603, "Internal error", Some(data)),
        Some((LimitKind::Quota, Some(1_760_000_400_000)))
    );
    // codex-acp's `Error::internal_error().data(e.to_string())`: data is a string.
    let data = json!("stream error: 429 Too Many Requests");
    assert_eq!(
        kind_and_reset(-32603, "Internal error", Some(data)),
        Some((LimitKind::RateLimit, None))
    );
}

#[test]
fn a_usage_limit_in_local_time_is_a_quota_without_a_reset_we_can_read() {
    for message in [
        "Internal error: Claude usage limit reached. Your limit will reset at 5pm (Europe/Warsaw).",
        "Internal error: You've hit your limit · resets Feb 7, 11am (Asia/Seoul)",
        "Internal error: 5-hour limit reached ∙ resets 3pm",
        "You've hit your usage limit. Visit https://chatgpt.com/codex/settings/usage to purchase more credits or try again at 3:28 PM.",
    ] {
        assert_eq!(
            kind_and_reset(-32603, message, None),
            Some((LimitKind::Quota, None)),
            "{message}"
        );
    }
}

#[test]
fn anthropic_api_rate_limits_and_overload_are_told_apart() {
    let rate = r#"Internal error: API Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your account's rate limit. Please try again later."},"request_id":"req_011CTrmdPsD7d9uz7LstkY5g"}"#;
    assert_eq!(
        kind_and_reset(-32603, rate, None),
        Some((LimitKind::RateLimit, None))
    );
    let overloaded = r#"Internal error: API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    assert_eq!(
        kind_and_reset(-32603, overloaded, None),
        Some((LimitKind::Overloaded, None))
    );
    assert_eq!(
        kind_and_reset(
            -32603,
            "Internal error: API Error: Repeated 529 Overloaded errors",
            None
        ),
        Some((LimitKind::Overloaded, None))
    );
}

#[test]
fn an_api_spending_limit_resets_at_the_utc_time_it_names() {
    let message = r#"Internal error: API Error: 400 {"type":"error","error":{"type":"invalid_request_error","message":"You have reached your specified API usage limits. You will regain access on 2026-04-01 at 00:00 UTC."}}"#;
    let limit = classify(-32603, message, None, NOW).unwrap();
    assert_eq!(limit.kind, LimitKind::Quota);
    assert_eq!(limit.resets_at_ms, Some(1_775_001_600_000));
    assert_eq!(utc(1_775_001_600_000), "2026-04-01 00:00:00 UTC");
}

#[test]
fn codex_acps_error_info_decides_and_its_relative_reset_is_read() {
    let data = json!({
        "message": "You've hit your usage limit. To get more access now, send a request to your admin or try again in 3 days 6 hours 57 minutes.",
        "codex_error_info": "usage_limit_exceeded",
    });
    let wait = ((3 * 24 + 6) * 60 + 57) * 60_000;
    assert_eq!(
        kind_and_reset(-32603, "Internal error", Some(data)),
        Some((LimitKind::Quota, Some(NOW + wait)))
    );
    let data = json!({"message": "server busy", "codex_error_info": "server_overloaded"});
    assert_eq!(
        kind_and_reset(-32603, "Internal error", Some(data)),
        Some((LimitKind::Overloaded, None))
    );
    let data = json!({
        "message": "exceeded retry limit, last status: 429 Too Many Requests",
        "codex_error_info": {"response_too_many_failed_attempts": {"http_status_code": 429}},
    });
    assert_eq!(
        kind_and_reset(-32603, "Internal error", Some(data)),
        Some((LimitKind::RateLimit, None))
    );
    // The app-server protocol's camelCase names.
    let data = json!({"message": "m", "codexErrorInfo": "usageLimitExceeded"});
    assert_eq!(
        kind_and_reset(-32603, "Internal error", Some(data)),
        Some((LimitKind::Quota, None))
    );
}

#[test]
fn other_errors_are_not_limits() {
    for (message, data) in [
        (
            "Internal error: The Claude Agent process exited unexpectedly. Please start a new session.",
            None,
        ),
        ("Authentication required", None),
        (
            "Internal error",
            Some(
                json!({"message": "context window exceeded", "codex_error_info": "context_window_exceeded"}),
            ),
        ),
        (
            "Internal error",
            Some(
                json!({"codex_error_info": {"http_connection_failed": {"http_status_code": 502}}}),
            ),
        ),
        (
            "Internal error: API Error: 500 {\"type\":\"error\",\"error\":{\"type\":\"api_error\"}}",
            None,
        ),
        ("something broke", None),
    ] {
        assert_eq!(
            kind_and_reset(-32603, message, data.clone()),
            None,
            "{message} {data:?}"
        );
    }
}

#[test]
fn relative_waits_take_every_unit_and_stop_at_other_words() {
    assert_eq!(relative("45 minutes."), Some(45 * 60_000));
    assert_eq!(
        relative("2 hours and 5 minutes, or upgrade"),
        Some(125 * 60_000)
    );
    assert_eq!(relative("30s"), Some(30_000));
    assert_eq!(relative("1 day"), Some(86_400_000));
    assert_eq!(relative("a moment"), None);
}

#[test]
fn dates_go_both_ways() {
    for days in [0, 1, 59, 365, 10_957, 20_544, 20_544 + 366] {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
    }
    assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
    assert_eq!(utc(NOW + 61_000), "2025-10-09 08:01:01 UTC");
    assert_eq!(wait(4_000), "4s");
    assert_eq!(wait(250_000), "4m 10s");
    assert_eq!(wait(7_500_000), "2h 5m");
    assert_eq!(wait(3 * 86_400_000 + 3_600_000), "3d 1h");
}

fn limit(kind: LimitKind, resets_at_ms: Option<u64>) -> AgentLimit {
    AgentLimit {
        kind,
        resets_at_ms,
        message: "limited".into(),
    }
}

const BACKOFF: Backoff = Backoff {
    first_ms: 60_000,
    max_ms: 300_000,
};

#[test]
fn the_backoff_doubles_from_the_first_wait_to_its_cap() {
    let waits: Vec<u64> = (1..=6).map(|s| BACKOFF.wait_ms(s)).collect();
    assert_eq!(waits, [60_000, 120_000, 240_000, 300_000, 300_000, 300_000]);
    assert_eq!(BACKOFF.wait_ms(u32::MAX), 300_000);
    let tiny = Backoff {
        first_ms: 5_000,
        max_ms: 1_000,
    };
    assert_eq!(
        tiny.wait_ms(3),
        5_000,
        "a cap below the first wait is the first wait"
    );
}

#[test]
fn a_given_reset_time_wins_unless_it_has_passed() {
    let hold = Hold::after(
        None,
        "claude",
        &limit(LimitKind::Quota, Some(NOW + 3_600_000)),
        NOW,
        BACKOFF,
    );
    assert_eq!(
        (hold.until_ms, hold.reset_given, hold.streak),
        (NOW + 3_600_000, true, 1)
    );
    assert!(hold.holds_at(NOW + 3_599_999) && !hold.holds_at(NOW + 3_600_000));
    let stale = Hold::after(
        None,
        "claude",
        &limit(LimitKind::Quota, Some(NOW - 1)),
        NOW,
        BACKOFF,
    );
    assert_eq!((stale.until_ms, stale.reset_given), (NOW + 60_000, false));
}

#[test]
fn limits_in_a_row_double_the_wait_and_one_met_while_held_keeps_the_streak() {
    let first = Hold::after(None, "a", &limit(LimitKind::RateLimit, None), NOW, BACKOFF);
    assert_eq!((first.until_ms, first.streak), (NOW + 60_000, 1));
    // Another worker of the same agent meets it before the hold ends.
    let same = Hold::after(
        Some(&first),
        "a",
        &limit(LimitKind::RateLimit, None),
        NOW + 1_000,
        BACKOFF,
    );
    assert_eq!((same.until_ms, same.streak), (NOW + 61_000, 1));
    // Met again after the hold ran out: twice the wait.
    let later = NOW + 70_000;
    let second = Hold::after(
        Some(&same),
        "a",
        &limit(LimitKind::RateLimit, None),
        later,
        BACKOFF,
    );
    assert_eq!((second.until_ms, second.streak), (later + 120_000, 2));
    // A shorter wait met while a longer hold runs never shortens it.
    let long = Hold::after(
        None,
        "a",
        &limit(LimitKind::Quota, Some(NOW + 9_000_000)),
        NOW,
        BACKOFF,
    );
    let short = Hold::after(
        Some(&long),
        "a",
        &limit(LimitKind::RateLimit, None),
        NOW + 1,
        BACKOFF,
    );
    assert_eq!((short.until_ms, short.reset_given), (NOW + 9_000_000, true));
}

#[test]
fn a_hold_is_described_with_its_time_and_where_the_time_came_from() {
    let hold = Hold::after(
        None,
        "claude",
        &limit(LimitKind::Quota, Some(NOW + 250_000)),
        NOW,
        BACKOFF,
    );
    assert_eq!(
        hold.describe(),
        "agent claude waits for its usage limit until 2025-10-09 08:04:10 UTC (the agent's reset time): limited"
    );
    assert_eq!(hold.brief(), "claude: usage limit until 08:04:10 UTC");
    let backoff = Hold::after(
        None,
        "sim",
        &limit(LimitKind::RateLimit, None),
        NOW,
        BACKOFF,
    );
    assert!(
        backoff
            .describe()
            .contains("(no reset time given: backoff, limit 1 in a row)"),
        "{}",
        backoff.describe()
    );
    assert_eq!(
        hold.announce(&MetBy::Planner),
        "the planner's agent claude hit its usage limit until 2025-10-09 08:04:10 UTC (the agent's reset time): limited; its turn is tried again then"
    );
    assert!(
        backoff
            .announce(&MetBy::Merger { task: "t".into() })
            .starts_with("the merger's agent sim hit its rate limit until "),
        "{}",
        backoff.announce(&MetBy::Merger { task: "t".into() })
    );
    assert_eq!(
        hold.announce(&MetBy::Worker { task: "t".into() }),
        hold.describe()
    );
    for kind in LimitKind::ALL {
        assert_eq!(LimitKind::parse(kind.as_str()), Some(kind));
    }
}
