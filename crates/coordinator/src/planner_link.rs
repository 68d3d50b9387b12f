//! The coordinator's side of the planner session: whether it runs, whether
//! a turn is under way, the notes waiting for its next turn, and whether it
//! failed. Kept apart from the main loop so that the rule a headless run's
//! exit status depends on ("is the planner done?") is one small, tested type.

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

use crate::planner::PlannerMessage;

pub(crate) struct PlannerLink {
    /// Where prompts go; `None` before the first prompt and once it is gone.
    prompts: Option<UnboundedSender<String>>,
    /// Handed to the planner session when it starts; `None` afterwards.
    events: Option<UnboundedSender<PlannerMessage>>,
    /// A prompt was sent and its turn has not ended yet.
    busy: bool,
    /// What happened since its last turn, delivered in one batch.
    notes: Vec<String>,
    /// It could not start, died, or a turn failed.
    failed: bool,
    /// What went wrong, oldest first: a failed turn, refused permissions,
    /// failed tool calls, the reason it is gone. Told when nothing was planned.
    troubles: Vec<String>,
    /// What it said in its last turn (the start of it).
    said: String,
}

/// How much of the planner's words a "nothing was planned" reason quotes.
const QUOTE_CHARS: usize = 300;

impl PlannerLink {
    /// A link whose session will report on `events` once started.
    pub(crate) fn new(events: UnboundedSender<PlannerMessage>) -> PlannerLink {
        PlannerLink {
            prompts: None,
            events: Some(events),
            busy: false,
            notes: Vec::new(),
            failed: false,
            troubles: Vec::new(),
            said: String::new(),
        }
    }

    /// The next prompt starts the session (its standing instructions go first).
    pub(crate) fn needs_start(&self) -> bool {
        self.prompts.is_none() && self.events.is_some()
    }

    /// A session is running (it may be between turns).
    pub(crate) fn is_running(&self) -> bool {
        self.prompts.is_some()
    }

    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    /// What went wrong with a planner that [`PlannerLink::failed`].
    pub(crate) fn why_it_failed(&self) -> String {
        match self.troubles.as_slice() {
            [] => "the planner failed".into(),
            troubles => format!("the planner failed: {}", troubles.join("; ")),
        }
    }

    /// Why a run in which the planner made no task made none, from what
    /// the session reported. `refusal_hint` is said after refused
    /// permissions (e.g. that nobody can answer them headless).
    pub(crate) fn why_nothing_was_planned(&self, refusal_hint: Option<&str>) -> String {
        if self.events.is_some() {
            return "the planner never started: it was given no request".into();
        }
        let mut why = self.troubles.clone();
        if let Some(hint) = refusal_hint
            && self.troubles.iter().any(|t| t.contains("was refused"))
        {
            why.push(hint.to_string());
        }
        let said = self.said.trim();
        if why.is_empty() && said.is_empty() {
            return "the planner ended its turn without making a task or saying anything".into();
        }
        if !said.is_empty() {
            let quote: String = said.chars().take(QUOTE_CHARS).collect();
            let more = if said.chars().count() > QUOTE_CHARS {
                "…"
            } else {
                ""
            };
            why.push(format!("it answered: \"{quote}{more}\""));
        }
        format!("the planner made no task: {}", why.join("; "))
    }

    /// Nothing is under way and nothing waits to be told to it.
    pub(crate) fn is_idle(&self) -> bool {
        !self.busy && (self.prompts.is_none() || self.notes.is_empty())
    }

    pub(crate) fn note(&mut self, text: String) {
        self.notes.push(text);
    }

    /// Sends a prompt, starting the session with `start` first when none
    /// runs yet. Refused (with what to tell the user) once the session is gone.
    pub(crate) fn prompt(
        &mut self,
        text: String,
        start: impl FnOnce(UnboundedReceiver<String>, UnboundedSender<PlannerMessage>) -> JoinHandle<()>,
    ) -> Result<(), String> {
        if self.prompts.is_none() {
            let Some(events) = self.events.take() else {
                return Err("the planner agent has stopped (see the warning above); start enki again to talk to a new planner".into());
            };
            let (prompts_tx, prompts_rx) = unbounded_channel();
            // A session task that ends without saying why (a panic) still
            // reports itself gone, so nobody waits on it forever.
            let watchdog = events.clone();
            let session = start(prompts_rx, events);
            tokio::spawn(async move {
                if let Err(e) = session.await {
                    let _ = watchdog.send(PlannerMessage::Gone(format!(
                        "the planner session ended unexpectedly: {e}"
                    )));
                }
            });
            self.prompts = Some(prompts_tx);
        }
        self.send(text);
        Ok(())
    }

    /// The planner counts as busy from the moment a prompt is meant for it
    /// until its `TurnEnded` or `Gone` arrives, even when the send fails: a
    /// send fails only once the session task has ended, and that task (or
    /// the watchdog) always reports `Gone`. Counting a failed send as idle
    /// let a headless run exit 0 before it read that its planner never started.
    fn send(&mut self, text: String) {
        if let Some(prompts) = &self.prompts {
            let _ = prompts.send(text);
            self.busy = true;
        }
    }

    /// Hands the planner what happened since its last turn, in one batch,
    /// when it is between turns.
    pub(crate) fn deliver_notes(&mut self) {
        if self.busy || self.notes.is_empty() || self.prompts.is_none() {
            return;
        }
        let notes = std::mem::take(&mut self.notes);
        let lines: Vec<String> = notes.iter().map(|n| format!("- {n}")).collect();
        self.send(format!(
            "Events since your last turn:\n{}",
            lines.join("\n")
        ));
    }

    /// Keeps the state in step with what the session reports.
    pub(crate) fn observe(&mut self, message: &PlannerMessage) {
        match message {
            // Waiting for a limit's reset: the turn is still under way.
            PlannerMessage::Ready
            | PlannerMessage::Tool(_)
            | PlannerMessage::Usage(_)
            | PlannerMessage::Held(_) => {}
            PlannerMessage::Text(text) => {
                if self.said.len() < QUOTE_CHARS * 4 {
                    self.said.push_str(text);
                }
            }
            // Messages are quoted one after the other, never glued.
            PlannerMessage::MessageEnd => {
                if !self.said.ends_with(char::is_whitespace) && !self.said.is_empty() {
                    self.said.push(' ');
                }
            }
            PlannerMessage::ToolFailed { title, reason } => {
                self.troubles.push(match reason.trim() {
                    "" => format!("its call to {title} failed"),
                    reason => format!("its call to {title} failed: {reason}"),
                })
            }
            PlannerMessage::Refused {
                title,
                decision,
                reason,
            } => self.troubles.push(format!(
                "its call to {title} was refused ({decision}): {reason}"
            )),
            PlannerMessage::TurnEnded(result) => {
                self.busy = false;
                // A failed turn: the planner did not finish what it was asked.
                if let Err(e) = result {
                    self.failed = true;
                    self.troubles.push(format!("its turn failed: {e}"));
                }
            }
            PlannerMessage::Gone(reason) => {
                self.failed = true;
                self.busy = false;
                self.prompts = None;
                self.notes.clear();
                self.troubles.push(reason.clone());
            }
        }
    }

    /// Stops the session: its prompts channel closes and it shuts down.
    pub(crate) fn close(&mut self) {
        self.prompts = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> (PlannerLink, UnboundedReceiver<PlannerMessage>) {
        let (tx, rx) = unbounded_channel();
        (PlannerLink::new(tx), rx)
    }

    #[tokio::test]
    async fn a_planner_gone_before_its_first_prompt_is_busy_until_its_gone_message_is_read() {
        let (mut link, mut messages) = link();
        // The worst interleaving, forced: the session reports `Gone` and drops
        // its prompts before the first prompt is even sent.
        link.prompt("plan".into(), |prompts, events| {
            events
                .send(PlannerMessage::Gone("did not start".into()))
                .unwrap();
            drop(prompts);
            tokio::spawn(async {})
        })
        .unwrap();
        assert!(
            !link.is_idle(),
            "a planner whose fate is unread is not idle"
        );
        assert!(!link.failed());
        let gone = messages.recv().await.unwrap();
        link.observe(&gone);
        assert!(link.is_idle());
        assert!(link.failed());
        assert!(link.prompt("again".into(), |_, _| unreachable!()).is_err());
    }

    #[tokio::test]
    async fn a_session_task_that_panics_is_reported_gone() {
        let (mut link, mut messages) = link();
        link.prompt("plan".into(), |prompts, _events| {
            tokio::spawn(async move {
                let _keep = prompts;
                panic!("boom");
            })
        })
        .unwrap();
        let message = messages.recv().await.unwrap();
        assert!(
            matches!(&message, PlannerMessage::Gone(reason) if reason.contains("unexpectedly")),
            "{message:?}"
        );
        link.observe(&message);
        assert!(link.is_idle() && link.failed());
    }

    #[tokio::test]
    async fn notes_wait_for_the_end_of_a_turn_and_go_in_one_batch() {
        let (mut link, _messages) = link();
        let (seen_tx, mut seen) = unbounded_channel();
        link.prompt("plan".into(), move |mut prompts, _events| {
            tokio::spawn(async move {
                while let Some(text) = prompts.recv().await {
                    let _ = seen_tx.send(text);
                }
            })
        })
        .unwrap();
        assert_eq!(seen.recv().await.unwrap(), "plan");
        link.note("a finished".into());
        link.note("b failed".into());
        link.deliver_notes();
        assert!(!link.is_idle(), "notes wait while a turn is under way");
        link.observe(&PlannerMessage::TurnEnded(Ok(
            enki_acp::StopReason::EndTurn,
        )));
        assert!(
            !link.is_idle(),
            "undelivered notes keep a running planner from idling"
        );
        link.deliver_notes();
        assert_eq!(
            seen.recv().await.unwrap(),
            "Events since your last turn:\n- a finished\n- b failed"
        );
        link.observe(&PlannerMessage::TurnEnded(Err("no network".into())));
        assert!(link.is_idle() && link.failed());
    }

    #[tokio::test]
    async fn nothing_planned_is_explained_by_what_went_wrong_then_by_what_it_said() {
        let (mut link, _messages) = link();
        link.prompt("plan".into(), |prompts, _events| {
            tokio::spawn(async move {
                let _keep = prompts;
            })
        })
        .unwrap();
        assert_eq!(
            link.why_nothing_was_planned(None),
            "the planner ended its turn without making a task or saying anything"
        );
        link.observe(&PlannerMessage::Text("Which ".into()));
        link.observe(&PlannerMessage::Text("file?".into()));
        link.observe(&PlannerMessage::MessageEnd);
        link.observe(&PlannerMessage::Text("Say which.".into()));
        assert_eq!(
            link.why_nothing_was_planned(Some("nobody can answer")),
            "the planner made no task: it answered: \"Which file? Say which.\""
        );
        link.observe(&PlannerMessage::Refused {
            title: "enki_execution_create".into(),
            decision: enki_acp::PermissionDecision::RejectOnce,
            reason: "no person to ask in a headless run".into(),
        });
        link.observe(&PlannerMessage::TurnEnded(Err("no network".into())));
        assert_eq!(
            link.why_nothing_was_planned(Some("nobody can answer")),
            "the planner made no task: its call to enki_execution_create was refused (reject_once): no person to ask in a headless run; its turn failed: no network; nobody can answer; it answered: \"Which file? Say which.\""
        );
    }
}
