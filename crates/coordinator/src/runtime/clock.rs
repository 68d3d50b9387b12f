//! The awake clock the stall monitor runs on: monotonic time that counts only
//! while the coordinator runs, so that a coordinator stopped (`kill -STOP`) or
//! suspended (a VM, a laptop lid) does not hold the time it slept against its
//! workers, which went on working and reporting meanwhile.

use std::time::{Duration, Instant};

/// The most one observation adds: four ticks of the main loop. A longer gap
/// between two looks at the clock means the process did not run (stopped,
/// suspended) or its loop was held up; either way nobody read the workers'
/// reports in that time, so only this much of it counts.
pub(super) const MAX_STEP: Duration = Duration::from_secs(1);

/// Milliseconds of awake time since the clock started.
#[derive(Debug)]
pub(super) struct AwakeClock {
    last: Instant,
    awake: Duration,
    max_step: Duration,
}

impl AwakeClock {
    pub(super) fn new(start: Instant, max_step: Duration) -> AwakeClock {
        AwakeClock {
            last: start,
            awake: Duration::ZERO,
            max_step,
        }
    }

    /// Awake milliseconds, looking at the system's monotonic clock now.
    pub(super) fn now_ms(&mut self) -> u64 {
        self.observe(Instant::now())
    }

    /// Awake milliseconds at `now`: the time since the last observation
    /// counts up to `max_step`; the value never goes back.
    pub(super) fn observe(&mut self, now: Instant) -> u64 {
        let gap = now.saturating_duration_since(self.last);
        self.last = self.last.max(now);
        self.awake += gap.min(self.max_step);
        u64::try_from(self.awake.as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake time source: the clock is told the instants it sees.
    struct Fake {
        start: Instant,
        clock: AwakeClock,
    }

    impl Fake {
        fn new() -> Fake {
            let start = Instant::now();
            Fake {
                start,
                clock: AwakeClock::new(start, MAX_STEP),
            }
        }

        fn at_ms(&mut self, ms: u64) -> u64 {
            self.clock.observe(self.start + Duration::from_millis(ms))
        }
    }

    #[test]
    fn time_counts_in_full_while_the_loop_looks_at_it_often() {
        let mut fake = Fake::new();
        let seen: Vec<u64> = (1..=40).map(|tick| fake.at_ms(tick * 250)).collect();
        assert_eq!(seen.last(), Some(&10_000));
        assert!(seen.windows(2).all(|w| w[1] - w[0] == 250), "{seen:?}");
    }

    #[test]
    fn a_stop_longer_than_the_cap_counts_as_the_cap_only() {
        let mut fake = Fake::new();
        assert_eq!(fake.at_ms(250), 250);
        // Stopped for ten minutes between two ticks.
        assert_eq!(fake.at_ms(250 + 600_000), 250 + 1000);
        // And afterwards time runs normally again.
        assert_eq!(fake.at_ms(250 + 600_250), 250 + 1000 + 250);
    }

    #[test]
    fn it_never_goes_back_even_when_shown_an_earlier_instant() {
        let mut fake = Fake::new();
        assert_eq!(fake.at_ms(500), 500);
        assert_eq!(fake.at_ms(400), 500);
        // The earlier instant did not move the reference point back.
        assert_eq!(fake.at_ms(600), 600);
    }

    #[test]
    fn the_system_clock_reading_moves_forward() {
        let mut clock = AwakeClock::new(Instant::now(), MAX_STEP);
        let first = clock.now_ms();
        assert!(clock.now_ms() >= first);
    }
}
