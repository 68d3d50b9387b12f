//! Notifications are never dropped: those that come too close together
//! are held and merged into one ([`Coalescer`]), and a permission request
//! goes out at once.

use std::time::{Duration, Instant};

/// Desktop notifications go out at most this often (the bell still rings
/// each time); what comes in between is merged into the next one.
pub const MIN_GAP: Duration = Duration::from_secs(2);
/// Lines of a merged notification's body.
const MAX_MERGED_LINES: usize = 5;

/// One desktop notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub title: String,
    pub body: String,
    /// Needs an answer (a permission request): never held back.
    pub urgent: bool,
}

/// When desktop notifications go out, with the clock given by the caller
/// (so it is tested without waiting): the first at once, then at most one
/// per `gap`; notes in between are held and go out merged when the gap
/// has passed, or at once with an urgent note.
#[derive(Debug)]
pub struct Coalescer {
    gap: Duration,
    last: Option<Instant>,
    held: Vec<Note>,
}

impl Coalescer {
    pub fn new(gap: Duration) -> Coalescer {
        Coalescer {
            gap,
            last: None,
            held: Vec::new(),
        }
    }

    fn gap_passed(&self, now: Instant) -> bool {
        self.last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.gap)
    }

    /// Takes a note; returns what to show now, if anything.
    pub fn push(&mut self, now: Instant, note: Note) -> Option<Note> {
        let urgent = note.urgent;
        self.held.push(note);
        if urgent || self.gap_passed(now) {
            self.release(now)
        } else {
            None
        }
    }

    /// When held notes are due, if any are held.
    pub fn due(&self) -> Option<Instant> {
        if self.held.is_empty() {
            return None;
        }
        Some(self.last.map_or_else(Instant::now, |last| last + self.gap))
    }

    /// The held notes, merged, once the gap has passed.
    pub fn poll(&mut self, now: Instant) -> Option<Note> {
        if self.held.is_empty() || !self.gap_passed(now) {
            return None;
        }
        self.release(now)
    }

    /// Everything held, merged, whatever the gap (the process is ending).
    pub fn poll_now(&mut self) -> Option<Note> {
        self.release(Instant::now())
    }

    fn release(&mut self, now: Instant) -> Option<Note> {
        let note = merge(std::mem::take(&mut self.held))?;
        self.last = Some(now);
        Some(note)
    }
}

/// One note for several: the count in the title (a permission request's
/// title when one is among them), a line per note in the body.
pub(crate) fn merge(mut notes: Vec<Note>) -> Option<Note> {
    if notes.len() <= 1 {
        return notes.pop();
    }
    let urgent = notes.iter().find(|n| n.urgent).map(|n| n.title.clone());
    let title = match urgent {
        Some(title) => format!("{title} (and {} more)", notes.len() - 1),
        None => format!("enki: {} updates", notes.len()),
    };
    let mut lines: Vec<String> = notes
        .iter()
        .take(MAX_MERGED_LINES)
        .map(|n| {
            let title = n.title.strip_prefix("enki: ").unwrap_or(&n.title);
            format!("{title}: {}", n.body)
        })
        .collect();
    if notes.len() > MAX_MERGED_LINES {
        lines.push(format!("… and {} more", notes.len() - MAX_MERGED_LINES));
    }
    Some(Note {
        title,
        body: lines.join("\n"),
        urgent: notes.iter().any(|n| n.urgent),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(title: &str, body: &str, urgent: bool) -> Note {
        Note {
            title: title.into(),
            body: body.into(),
            urgent,
        }
    }

    #[test]
    fn close_notifications_are_merged_not_dropped() {
        let gap = Duration::from_secs(2);
        let mut c = Coalescer::new(gap);
        let t0 = Instant::now();
        let first = note("enki: mail from [api] Implement", "Hello", false);
        assert_eq!(c.push(t0, first.clone()), Some(first));
        assert_eq!(c.due(), None);
        // Within the gap: held, due when the gap has passed.
        let ms = Duration::from_millis;
        assert_eq!(
            c.push(t0 + ms(300), note("enki: execution done", "A", false)),
            None
        );
        assert_eq!(
            c.push(t0 + ms(900), note("enki: execution failed", "B", false)),
            None
        );
        assert_eq!(c.due(), Some(t0 + gap));
        assert_eq!(c.poll(t0 + ms(1_999)), None);
        let merged = c.poll(t0 + gap).expect("due");
        assert_eq!(merged.title, "enki: 2 updates");
        assert_eq!(merged.body, "execution done: A\nexecution failed: B");
        assert_eq!(c.due(), None);
        assert_eq!(c.poll(t0 + ms(10_000)), None);
        // Long after the last one: shown at once.
        let later = note("enki: execution done", "C", false);
        assert_eq!(c.push(t0 + ms(10_000), later.clone()), Some(later));
    }

    #[test]
    fn a_permission_request_goes_out_at_once_with_what_was_held() {
        let mut c = Coalescer::new(Duration::from_secs(2));
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert!(
            c.push(t0, note("enki: execution done", "A", false))
                .is_some()
        );
        assert_eq!(
            c.push(t0 + ms(100), note("enki: mail from planner", "hi", false)),
            None
        );
        let ask = note(
            "enki needs your permission",
            "[api]: Run rm -rf build",
            true,
        );
        let shown = c.push(t0 + ms(200), ask).expect("urgent goes out at once");
        assert_eq!(shown.title, "enki needs your permission (and 1 more)");
        assert_eq!(
            shown.body,
            "mail from planner: hi\nenki needs your permission: [api]: Run rm -rf build"
        );
        assert!(shown.urgent);
        // Another request right after is not held back either.
        let again = note("enki needs your permission", "[docs]: Edit a.md", true);
        assert_eq!(c.push(t0 + ms(300), again.clone()), Some(again));
        assert_eq!(c.due(), None);
    }

    #[test]
    fn many_held_notes_are_summed_up() {
        let mut c = Coalescer::new(Duration::from_secs(2));
        let t0 = Instant::now();
        c.push(t0, note("enki: x", "0", false));
        for i in 1..=8 {
            c.push(
                t0 + Duration::from_millis(i),
                note("enki: x", &i.to_string(), false),
            );
        }
        let merged = c.poll(t0 + Duration::from_secs(2)).expect("due");
        assert_eq!(merged.title, "enki: 8 updates");
        assert_eq!(merged.body.lines().count(), MAX_MERGED_LINES + 1);
        assert!(merged.body.ends_with("… and 3 more"));
    }
}
