//! Named crash points. `crash_point!("land:intent_recorded")` marks a place
//! where a coordinator dying (kill -9, power loss) must lose nothing; the
//! crash tests make the process die exactly there.
//!
//! Built without the `failpoints` feature (every build but the tests'), a
//! crash point is nothing at all. Built with it, `ENKI_FAILPOINTS` chooses
//! where to die, by SIGKILL, as an outside kill would:
//! - `NAME`: the first time `NAME` is passed;
//! - `NAME@N`: the N-th time `NAME` is passed;
//! - `any@N`: the N-th crash point passed, whatever its name (random
//!   points under a seed).
//!
//! Names are listed in [`POINTS`], [`REVIEW_POINTS`],
//! [`RESOLUTION_REVIEW_POINTS`] and [`POOL_POINTS`]; a test asserts each is
//! reached.
//!
//! The same builds can pretend a condition of the machine the tests cannot
//! produce (a kernel without Landlock): [`pretending`] with `ENKI_PRETEND`.

/// Every crash point, in the order a landing passes them.
pub const POINTS: &[&str] = &[
    "copy:created",
    "worker:session_opened",
    "worker:committed",
    "land:computed",
    "merger:started",
    "merger:resolved",
    "verify:passed",
    "land:intent_recorded",
    "land:checkout_moved",
    "land:ref_moved",
    "land:merged_recorded",
    "land:task_done",
    "cleanup:copy_removed",
    "cleanup:done",
];

/// The crash points of review before landing (`review = "ask"`), passed
/// only when a person approves work; `crash_safety::review` kills at each.
pub const REVIEW_POINTS: &[&str] = &["review:approved"];

/// The crash points of review of a merger's resolution, passed when the
/// merger resolved a conflict of a task whose review asks: right after the
/// resolution is held (before the base can move); `crash_safety::review`
/// kills there, then again at the approval of the held resolution.
pub const RESOLUTION_REVIEW_POINTS: &[&str] = &["review:resolution_held"];

/// The crash points of keeping landed copies for the next tasks (see
/// `enki_workspace`'s pool): a landed copy parked, one taken for a new
/// task, and one renewed but not yet unmarked; `crash_safety::pooled` kills
/// at each.
pub const POOL_POINTS: &[&str] = &["pool:parked", "pool:taken", "pool:renewed"];

/// The conditions `ENKI_PRETEND` (comma-separated) may name.
pub const PRETENDED: &[&str] = &[
    // The kernel has no Landlock (`enki_sandbox::landlock_abi` says so).
    "no_landlock",
];

/// Whether `ENKI_PRETEND` asks this process to pretend `condition` holds;
/// always false without the `failpoints` feature.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn pretending(_condition: &'static str) -> bool {
    false
}

/// Whether `ENKI_PRETEND` asks this process to pretend `condition` holds.
#[cfg(feature = "failpoints")]
pub fn pretending(condition: &'static str) -> bool {
    debug_assert!(PRETENDED.contains(&condition), "unlisted {condition}");
    std::env::var("ENKI_PRETEND").is_ok_and(|v| v.split(',').any(|c| c.trim() == condition))
}

/// Dies here when `ENKI_FAILPOINTS` says so (a no-op without the feature).
#[macro_export]
macro_rules! crash_point {
    ($name:literal) => {
        $crate::reached($name)
    };
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn reached(_name: &'static str) {}

#[cfg(feature = "failpoints")]
pub use armed::reached;

#[cfg(feature = "failpoints")]
mod armed {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    /// Where to die: a point's name (or `None` for any), and which passage.
    struct Plan {
        name: Option<String>,
        nth: u64,
    }

    fn parse(spec: &str) -> Option<Plan> {
        let spec = spec.trim();
        if spec.is_empty() {
            return None;
        }
        let (name, nth) = match spec.rsplit_once('@') {
            Some((name, n)) => (name, n.parse().ok()?),
            None => (spec, 1),
        };
        Some(Plan {
            name: (name != "any").then(|| name.to_string()),
            nth,
        })
    }

    fn plan() -> Option<&'static Plan> {
        static PLAN: OnceLock<Option<Plan>> = OnceLock::new();
        PLAN.get_or_init(|| parse(&std::env::var("ENKI_FAILPOINTS").ok()?))
            .as_ref()
    }

    /// Passages so far, by name (`""` counts every point).
    static PASSED: Mutex<Option<HashMap<&'static str, u64>>> = Mutex::new(None);

    pub fn reached(name: &'static str) {
        let Some(plan) = plan() else {
            return;
        };
        let key = if plan.name.is_some() { name } else { "" };
        if plan.name.as_deref().is_some_and(|wanted| wanted != name) {
            return;
        }
        let count = {
            let mut passed = PASSED.lock().unwrap_or_else(|e| e.into_inner());
            let counts = passed.get_or_insert_with(HashMap::new);
            let count = counts.entry(key).or_insert(0);
            *count += 1;
            *count
        };
        if count == plan.nth {
            eprintln!("enki: crash point {name} reached: dying by SIGKILL (ENKI_FAILPOINTS)");
            // SAFETY: kill(2) on our own pid; it does not return.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn specs_name_a_point_and_a_passage() {
            let plan = parse("land:ref_moved").unwrap();
            assert_eq!(
                (plan.name.as_deref(), plan.nth),
                (Some("land:ref_moved"), 1)
            );
            let plan = parse("land:ref_moved@3").unwrap();
            assert_eq!(plan.nth, 3);
            let plan = parse("any@17").unwrap();
            assert_eq!((plan.name, plan.nth), (None, 17));
            assert!(parse("").is_none());
            assert!(parse("x@many").is_none());
        }
    }
}
