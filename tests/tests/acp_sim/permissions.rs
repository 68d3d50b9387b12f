//! Permission questions: decisions by each policy, and a cancel while a
//! question is still pending.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use enki_acp::{
    AgentEvent, AllowAll, DenyAll, PermissionDecision, PermissionPolicy, PermissionRequest,
    PermissionVerdict, StopReason, WithinCwd,
};
use enki_tests::one_turn;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::{Fixture, Sim, message_text, trace, within};

/// A policy that never decides and reports each question on a channel.
struct Undecided(UnboundedSender<PermissionRequest>);

impl PermissionPolicy for Undecided {
    fn decide(
        &self,
        request: PermissionRequest,
    ) -> Pin<Box<dyn Future<Output = PermissionVerdict> + Send>> {
        let _ = self.0.send(request);
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn cancel_while_a_permission_question_is_pending() {
    let fixture = Fixture::new(&[(
        "ask.toml",
        &one_turn("{ permission = \"Run the migrations\" },\n{ say = \"never\" }"),
    )]);
    let (asked_tx, mut asked) = unbounded_channel();
    let mut sim = Sim::start(&fixture, Arc::new(Undecided(asked_tx))).await;
    let turn = tokio::spawn({
        let client = sim.client.clone();
        let session = sim.session.clone();
        async move { client.prompt(&session, "[[sim:ask]]").await }
    });
    let request = within("the permission question", asked.recv())
        .await
        .unwrap();
    assert_eq!(request.session_id, sim.session);
    assert_eq!(request.session_cwd, fixture.cwd());
    assert_eq!(request.title, "Run the migrations");
    assert_eq!(request.kind.as_deref(), Some("other"));
    let kinds: Vec<&str> = request.raw["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["allow_once", "allow_always", "reject_once", "reject_always"]
    );

    within("cancel", sim.client.cancel(&sim.session))
        .await
        .unwrap();
    let stop = within("the cancelled turn", turn).await.unwrap().unwrap();
    assert_eq!(stop, StopReason::Cancelled);
    let events = sim.drain();
    // A question a person must answer is told as one, then its answer.
    assert_eq!(
        events,
        [
            AgentEvent::PermissionAsked {
                session_id: sim.session.clone(),
                title: "Run the migrations".into(),
            },
            AgentEvent::Permission {
                session_id: sim.session.clone(),
                title: "Run the migrations".into(),
                decision: PermissionDecision::Cancelled,
                reason: "the turn was cancelled before it was answered".into(),
            }
        ]
    );
    sim.finish().await;
}

/// Always answers the same decision.
struct Always(PermissionDecision);

impl PermissionPolicy for Always {
    fn decide(
        &self,
        _request: PermissionRequest,
    ) -> Pin<Box<dyn Future<Output = PermissionVerdict> + Send>> {
        PermissionVerdict::new(self.0, "the test says so").ready()
    }
}

#[tokio::test]
async fn permission_requests_allowed_and_denied_by_the_policy() {
    let fixture = Fixture::new(&[
        (
            "strict.toml",
            &one_turn(
                "{ permission = \"Edit src/lib.rs\", on_deny = \"fail\" },\n{ say = \"permitted\" }",
            ),
        ),
        (
            "lenient.toml",
            &one_turn(
                "{ permission = \"Delete the cache\", on_deny = \"continue\" },\n{ say = \" after\" }",
            ),
        ),
    ]);
    use PermissionDecision::*;
    let cases: [(
        Arc<dyn PermissionPolicy>,
        &str,
        PermissionDecision,
        StopReason,
    ); 7] = [
        (Arc::new(AllowAll), "strict", AllowOnce, StopReason::EndTurn),
        // No locations: inside the cwd.
        (
            Arc::new(WithinCwd),
            "strict",
            AllowOnce,
            StopReason::EndTurn,
        ),
        (
            Arc::new(Always(AllowAlways)),
            "strict",
            AllowAlways,
            StopReason::EndTurn,
        ),
        (Arc::new(DenyAll), "strict", RejectOnce, StopReason::Refusal),
        (
            Arc::new(Always(RejectAlways)),
            "strict",
            RejectAlways,
            StopReason::Refusal,
        ),
        (
            Arc::new(DenyAll),
            "lenient",
            RejectOnce,
            StopReason::EndTurn,
        ),
        (
            Arc::new(AllowAll),
            "lenient",
            AllowOnce,
            StopReason::EndTurn,
        ),
    ];
    for (policy, script, decision, expected_stop) in cases {
        let what = format!("{script} with {decision}");
        let mut sim = Sim::start(&fixture, policy).await;
        let stop = sim.prompt(&format!("[[sim:{script}]]")).await.unwrap();
        assert_eq!(stop, expected_stop, "{what}");
        let events = sim.drain();
        let title = if script == "strict" {
            "Edit src/lib.rs"
        } else {
            "Delete the cache"
        };
        let AgentEvent::Permission {
            session_id,
            title: asked,
            decision: answered,
            reason,
        } = &events[0]
        else {
            panic!("{what}: not a permission first: {events:?}");
        };
        assert_eq!(
            (session_id, asked.as_str(), *answered),
            (&sim.session, title, decision),
            "{what}"
        );
        assert!(!reason.is_empty(), "{what}: no reason");
        assert_eq!(
            trace(&events),
            [format!("permission {decision}"), "message".to_string()],
            "{what}"
        );
        let text = message_text(&events);
        match (script, decision.is_allowed()) {
            ("strict", true) => assert_eq!(text, "permitted", "{what}"),
            ("strict", false) => {
                let reason = if decision == RejectOnce {
                    "reject-once"
                } else {
                    "reject-always"
                };
                assert_eq!(
                    text,
                    format!(
                        "Permission denied for \"Edit src/lib.rs\" (the client chose {reason}); stopping."
                    ),
                    "{what}"
                );
            }
            (_, true) => assert_eq!(text, " after", "{what}"),
            (_, false) => {
                assert!(text.contains("going on"), "{what}: {text}");
                assert!(text.ends_with(" after"), "{what}: {text}");
            }
        }
        sim.finish().await;
    }
}
