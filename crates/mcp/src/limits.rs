//! What one MCP session may ask of the server: tool calls at a bounded rate
//! (a token bucket, `[mcp] rate_limit`), and tool results of a bounded size.

use std::time::{Duration, Instant};

use enki_config::RateLimitConfig;
use serde_json::{Value, json};

/// The most a tool result (its text and its `structuredContent` together)
/// may hold. Listings page well below it; this is the net under everything.
pub const RESULT_CAP: usize = 256 * 1024;

/// A token bucket: it holds up to `burst` tokens, gains `per_second` a
/// second, and each call takes one. Time comes from the caller, so tests
/// drive it with their own clock.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(config: RateLimitConfig, now: Instant) -> TokenBucket {
        let burst = f64::from(config.burst.max(1));
        TokenBucket {
            per_second: f64::from(config.per_second.max(1)),
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes one token at `now`, or says how long until there is one.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        if now > self.last {
            let gained = now.duration_since(self.last).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + gained).min(self.burst);
            self.last = now;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.per_second,
            ))
        }
    }
}

/// The rate limit of one session's tool calls, on the real clock.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    config: RateLimitConfig,
    bucket: TokenBucket,
}

impl RateLimiter {
    pub fn new(config: RateLimitConfig) -> RateLimiter {
        RateLimiter {
            config,
            bucket: TokenBucket::new(config, Instant::now()),
        }
    }

    /// `Ok` when a tool call may run now; otherwise the tool error to
    /// answer, saying in how many seconds to retry.
    pub fn admit(&mut self) -> Result<(), String> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&mut self, now: Instant) -> Result<(), String> {
        self.bucket
            .take(now)
            .map_err(|wait| refusal(self.config, wait))
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new(RateLimitConfig::default())
    }
}

/// The tool error of a call over the limit.
fn refusal(config: RateLimitConfig, wait: Duration) -> String {
    // Rounded up to the hundredth, so retrying then always succeeds.
    let seconds = (wait.as_secs_f64() * 100.0).ceil().max(1.0) / 100.0;
    format!(
        "rate limit: this session may make {} tool calls a second ({} at once), and it made more; nothing was done. Retry in {seconds:.2} seconds. (The limit is `[mcp] rate_limit` in enki.toml.)",
        config.per_second, config.burst
    )
}

/// Cuts a tool result down to [`RESULT_CAP`]: `structuredContent` that takes
/// more than half of it is replaced by a note, and text beyond what is left
/// is cut at a character boundary and ends with a marker saying so.
pub fn cap_result(text: String, structured: Option<Value>) -> (String, Option<Value>) {
    let structured_len = structured.as_ref().map_or(0, encoded_len);
    if text.len() + structured_len <= RESULT_CAP {
        return (text, structured);
    }
    let structured = match structured {
        Some(_) if structured_len > RESULT_CAP / 2 => Some(json!({
            "truncated": true,
            "bytes": structured_len,
            "note": format!(
                "the data of this result ({structured_len} bytes) is over the {} KiB a tool result may carry; ask for less (a cursor, a filter, an offset and limit)",
                RESULT_CAP / 1024
            ),
        })),
        other => other,
    };
    let room = RESULT_CAP - structured.as_ref().map_or(0, encoded_len);
    if text.len() <= room {
        return (text, structured);
    }
    let marker = format!(
        "\n[… cut here: this result had {} bytes of text, over the {} KiB a tool result may have; ask for less: a cursor, a filter, an offset and limit]",
        text.len(),
        RESULT_CAP / 1024
    );
    let mut end = room.saturating_sub(marker.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = text;
    cut.truncate(end);
    cut.push_str(&marker);
    (cut, structured)
}

fn encoded_len(value: &Value) -> usize {
    serde_json::to_string(value).map_or(0, |s| s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(per_second: u32, burst: u32) -> RateLimitConfig {
        RateLimitConfig { per_second, burst }
    }

    #[test]
    fn a_full_bucket_allows_a_burst_then_refills_at_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(config(2, 3), start);
        for _ in 0..3 {
            assert_eq!(bucket.take(start), Ok(()));
        }
        let wait = bucket.take(start).expect_err("the burst is used up");
        assert_eq!(
            wait,
            Duration::from_millis(500),
            "one token every half second"
        );
        // Not yet: a quarter second gives half a token.
        let later = start + Duration::from_millis(250);
        let wait = bucket.take(later).expect_err("half a token");
        assert_eq!(wait, Duration::from_millis(250));
        let later = start + Duration::from_millis(500);
        assert_eq!(bucket.take(later), Ok(()));
        assert!(bucket.take(later).is_err());
        // A long quiet spell refills no more than the burst.
        let much_later = later + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(bucket.take(much_later), Ok(()));
        }
        assert!(bucket.take(much_later).is_err());
    }

    #[test]
    fn a_clock_that_goes_back_neither_refills_nor_panics() {
        let start = Instant::now() + Duration::from_secs(10);
        let mut bucket = TokenBucket::new(config(1, 1), start);
        assert_eq!(bucket.take(start), Ok(()));
        assert!(bucket.take(start - Duration::from_secs(5)).is_err());
        assert_eq!(bucket.take(start + Duration::from_secs(1)), Ok(()));
    }

    #[test]
    fn the_sustained_rate_is_the_configured_one() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(config(20, 1), start);
        let admitted = (0..10_000)
            .filter(|i| bucket.take(start + Duration::from_millis(*i)).is_ok())
            .count();
        // Ten seconds at 20 a second, and the first token.
        assert!((200..=201).contains(&admitted), "{admitted}");
    }

    #[test]
    fn a_refusal_says_when_to_retry_and_where_the_limit_is_set() {
        let start = Instant::now();
        let mut limiter = RateLimiter {
            config: config(4, 1),
            bucket: TokenBucket::new(config(4, 1), start),
        };
        assert_eq!(limiter.admit_at(start), Ok(()));
        let text = limiter.admit_at(start).expect_err("over the limit");
        assert!(text.contains("Retry in 0.25 seconds"), "{text}");
        assert!(text.contains("4 tool calls a second (1 at once)"), "{text}");
        assert!(text.contains("[mcp] rate_limit"), "{text}");
        // A tiny wait still reads as a moment to wait, never "0.00".
        assert!(refusal(config(1, 1), Duration::from_micros(10)).contains("Retry in 0.01 seconds"));
    }

    #[test]
    fn small_results_pass_untouched() {
        let data = json!({"a": 1});
        let (text, structured) = cap_result("fine".into(), Some(data.clone()));
        assert_eq!((text.as_str(), structured), ("fine", Some(data)));
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary_with_a_marker() {
        let text = "é".repeat(RESULT_CAP);
        let (cut, structured) = cap_result(text, None);
        assert!(structured.is_none());
        assert!(cut.len() <= RESULT_CAP, "{}", cut.len());
        assert!(cut.starts_with("éé"));
        assert!(cut.ends_with("ask for less: a cursor, a filter, an offset and limit]"));
        assert!(
            cut.contains(&format!("had {} bytes of text", 2 * RESULT_CAP)),
            "{}",
            &cut[cut.len() - 200..]
        );
    }

    #[test]
    fn big_data_is_replaced_by_a_note_and_the_text_shares_what_is_left() {
        let data = json!({"rows": ["x".repeat(RESULT_CAP)]});
        let (text, structured) = cap_result("y".repeat(RESULT_CAP), Some(data));
        let note = structured.expect("a note instead of the data");
        assert_eq!(note["truncated"], true);
        assert!(
            note["bytes"]
                .as_u64()
                .is_some_and(|b| b > RESULT_CAP as u64)
        );
        let total = text.len() + encoded_len(&note);
        assert!(total <= RESULT_CAP, "{total}");
        assert!(text.ends_with(']'), "the text carries the marker too");
    }
}
