//! The stall rules as a table of small stories, and the state a task shows.

use super::*;

const BOUNDS: Bounds = Bounds {
    stall_ms: 1000,
    retry_ms: 3000,
};

/// A worker whose turn started at 0.
fn working() -> Liveness {
    let mut l = Liveness::new(0);
    l.observe(Sign::TurnStarted, 0);
    l
}

fn state(l: &Liveness, now: u64) -> AgentState {
    l.judge(now, BOUNDS).state
}

fn gives_up(l: &Liveness, now: u64) -> Option<GiveUp> {
    l.judge(now, BOUNDS).give_up
}

#[test]
fn a_new_worker_is_idle_until_its_turn_starts_then_working() {
    let mut l = Liveness::new(0);
    assert_eq!(
        l.judge(10, BOUNDS),
        Judgement {
            state: AgentState::Idle,
            reason: Some("starting".into()),
            give_up: None
        }
    );
    l.observe(Sign::TurnStarted, 20);
    assert_eq!(state(&l, 30), AgentState::Working);
}

#[test]
fn progress_resets_the_stall_clock_and_noise_does_not() {
    for (sign, resets) in [
        (Sign::Said("hello".into()), true),
        (Sign::Progress, true),
        (Sign::ToolFailed("Run tests: exit 1".into()), true),
        (Sign::Plan(7), true),
        (Sign::Noise, false),
        (
            Sign::Retrying("API Error: Connection error, retrying".into()),
            false,
        ),
    ] {
        let mut l = working();
        l.observe(sign.clone(), 900);
        assert_eq!(
            gives_up(&l, 1500).is_none(),
            resets,
            "{sign:?} at 900, judged at 1500"
        );
    }
}

#[test]
fn an_unchanged_plan_is_not_progress() {
    let mut l = working();
    l.observe(Sign::Plan(1), 100);
    l.observe(Sign::Plan(1), 900);
    assert!(matches!(gives_up(&l, 1100), Some(GiveUp::Stalled(_))));
    l.observe(Sign::Plan(2), 1100);
    assert_eq!(gives_up(&l, 1200), None);
}

#[test]
fn half_the_timeout_without_progress_shows_stalled_with_its_last_words() {
    let mut l = working();
    l.observe(Sign::Said("Running the ".into()), 100);
    l.observe(Sign::Said("whole suite now.".into()), 100);
    assert_eq!(state(&l, 500), AgentState::Working);
    let judged = l.judge(600, BOUNDS);
    assert_eq!(judged.state, AgentState::Stalled);
    assert_eq!(
        judged.reason.as_deref(),
        Some("no progress since it said «Running the whole suite now.»")
    );
    assert_eq!(judged.give_up, None);
    // At the timeout it is given up on, in its own words.
    let Some(GiveUp::Stalled(why)) = gives_up(&l, 1100) else {
        panic!("not stalled")
    };
    assert_eq!(
        why,
        "stalled: no progress for 1 s; it last said: «Running the whole suite now.»"
    );
}

#[test]
fn a_new_message_replaces_the_last_words_and_a_failed_tool_is_kept() {
    let mut l = working();
    l.observe(Sign::Said("first".into()), 10);
    l.observe(Sign::Progress, 20);
    l.observe(Sign::Said("second".into()), 30);
    l.observe(Sign::ToolFailed("cargo test: exit status 101".into()), 40);
    assert_eq!(l.last_words().as_deref(), Some("second"));
    assert_eq!(
        l.epitaph().as_deref(),
        Some("it last said: «second»; its last error: cargo test: exit status 101")
    );
    // Long words keep their end, where an agent says what went wrong.
    let mut l = working();
    l.observe(Sign::Said(format!("{} the end", "x".repeat(2000))), 10);
    let words = l.last_words().unwrap();
    assert!(
        words.starts_with('…') && words.ends_with("the end"),
        "{words}"
    );
    assert_eq!(words.chars().count(), WORDS_KEPT + 1);
    assert_eq!(working().epitaph(), None);
}

#[test]
fn the_clock_pauses_while_a_permission_is_awaited() {
    let mut l = working();
    l.observe(Sign::PermissionAsked("Write a.txt".into()), 500);
    let judged = l.judge(100_000, BOUNDS);
    assert_eq!(judged.state, AgentState::WaitingPermission);
    assert_eq!(judged.reason.as_deref(), Some("Write a.txt"));
    assert_eq!(judged.give_up, None, "a person is awaited: never stalled");
    l.observe(Sign::PermissionAnswered("Write a.txt".into()), 100_000);
    // The 500 ms before the question still count; the wait does not.
    assert_eq!(l.quiet_ms(100_000), 500);
    assert_eq!(state(&l, 100_000), AgentState::Stalled);
    assert_eq!(gives_up(&l, 100_400), None);
    assert!(matches!(gives_up(&l, 100_500), Some(GiveUp::Stalled(_))));
}

#[test]
fn overlapping_waits_resume_the_clock_only_when_the_last_ends() {
    let mut l = working();
    l.observe(Sign::PermissionAsked("a".into()), 100);
    l.observe(Sign::Questions(vec!["Which database?".into()]), 200);
    l.observe(Sign::PermissionAnswered("a".into()), 5_000);
    let judged = l.judge(50_000, BOUNDS);
    assert_eq!(judged.state, AgentState::WaitingUser);
    assert_eq!(judged.reason.as_deref(), Some("Which database?"));
    assert_eq!(judged.give_up, None);
    l.observe(Sign::Questions(Vec::new()), 60_000);
    assert_eq!(l.quiet_ms(60_000), 100);
    assert_eq!(state(&l, 60_000), AgentState::Working);
}

#[test]
fn progress_while_waiting_restarts_the_paused_clock() {
    let mut l = working();
    l.observe(Sign::Questions(vec!["q".into()]), 800);
    l.observe(Sign::Said("while I wait".into()), 5_000);
    l.observe(Sign::Questions(Vec::new()), 9_000);
    assert_eq!(l.quiet_ms(9_000), 0);
}

#[test]
fn retrying_past_the_bound_gives_up_with_the_agents_words() {
    let mut l = working();
    l.observe(Sign::Retrying("Reconnecting... 1/5".into()), 0);
    // Identical or newer notices neither reset the stall clock nor the streak.
    l.observe(Sign::Retrying("Reconnecting... 1/5".into()), 400);
    l.observe(Sign::Retrying("Reconnecting... 2/5".into()), 800);
    let judged = l.judge(900, BOUNDS);
    assert_eq!(judged.state, AgentState::Retrying);
    assert_eq!(judged.reason.as_deref(), Some("Reconnecting... 2/5"));
    assert_eq!(judged.give_up, None);
    // With a stall bound past the retry bound, the retry bound decides.
    let long_stall = Bounds {
        stall_ms: 60_000,
        retry_ms: 3000,
    };
    assert_eq!(l.judge(2999, long_stall).give_up, None);
    let Some(GiveUp::Unreachable(why)) = l.judge(3000, long_stall).give_up else {
        panic!("not given up")
    };
    assert!(why.contains("for 3 s"), "{why}");
    assert!(why.ends_with("it said: «Reconnecting... 2/5»"), "{why}");
    // Progress ends the streak.
    l.observe(Sign::Said("back".into()), 2000);
    assert_eq!(l.judge(3000, long_stall).state, AgentState::Working);
    assert_eq!(l.judge(3000, long_stall).give_up, None);
}

#[test]
fn a_retrying_agent_with_the_shorter_stall_bound_stalls_in_its_words() {
    let mut l = working();
    l.observe(Sign::Said("API Error: Connection error.".into()), 0);
    l.observe(Sign::Retrying("Reconnecting... 1/5".into()), 100);
    let Some(GiveUp::Stalled(why)) = gives_up(&l, 1000) else {
        panic!("not stalled")
    };
    assert!(why.contains("«API Error: Connection error.»"), "{why}");
}

#[test]
fn a_task_shows_its_live_state_while_running_and_its_status_otherwise() {
    use AgentState as A;
    use TaskStatus as T;
    /// A status and a live state, and the state and reason shown.
    type Case<'a> = (T, Option<(A, Option<&'a str>)>, A, Option<&'a str>);
    let live = Some((A::WaitingUser, Some("Which database?")));
    let cases: &[Case<'_>] = &[
        (T::Running, live, A::WaitingUser, Some("Which database?")),
        (T::Running, None, A::Idle, Some("starting")),
        (T::WorkerDone, live, A::Done, Some("its work waits to land")),
        (T::Done, live, A::Done, None),
        (T::Failed, live, A::Failed, Some("boom")),
        (T::Ready, live, A::Idle, Some("waiting for a worker slot")),
        (T::Pending, None, A::Idle, Some("waiting for what it needs")),
        (T::Paused, None, A::Idle, Some("paused")),
        (T::Cancelled, None, A::Idle, Some("cancelled")),
    ];
    for (status, live, state, reason) in cases {
        let shown = shown_state(*status, *live, Some("boom"));
        assert_eq!((shown.0, shown.1.as_deref()), (*state, *reason), "{status}");
    }
    assert!(A::WaitingUser.waits_for_a_person() && A::WaitingPermission.waits_for_a_person());
    assert!(!A::Retrying.waits_for_a_person() && !A::Stalled.waits_for_a_person());
}
