//! The rows of each list pane and where its selection is, kept by row
//! key so it survives rows coming and going.

use super::WorkerState;
use super::{App, Focus, View};

/// What F3 found waiting on the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextNeed {
    /// Shown (the permission prompt, a transcript, the mail pane).
    Shown,
    /// Work awaiting review: its review is to be opened.
    Review(String),
    Nothing,
}

/// Where each list pane's selection is, by row key.
#[derive(Debug, Clone, Default)]
pub struct Selections {
    pub worker: Option<String>,
    pub task: Option<String>,
    pub merge: Option<String>,
    pub mail: Option<String>,
}

impl App {
    /// Row keys of the tasks pane: `x:<execution>` and `t:<task>`.
    pub fn task_rows(&self) -> Vec<String> {
        let mut rows = Vec::new();
        for execution in &self.snapshot.executions {
            rows.push(format!("x:{}", execution.id));
            if !execution.earlier {
                rows.extend(execution.tasks.iter().map(|t| format!("t:{}", t.id)));
            }
        }
        rows
    }

    fn merge_rows(&self) -> Vec<String> {
        let mut rows: Vec<String> = self
            .snapshot
            .merges
            .iter()
            .map(|m| format!("q:{}", m.task))
            .collect();
        rows.extend(self.recent_merges.iter().map(|m| format!("r:{}", m.task)));
        rows
    }

    pub(crate) fn rows_of(&self, pane: Focus) -> Vec<String> {
        match pane {
            Focus::Workers => self.worker_order().iter().map(|w| w.task.clone()).collect(),
            Focus::Tasks => self.task_rows(),
            Focus::Merges => self.merge_rows(),
            Focus::Mail => self.snapshot.unread.iter().map(|m| m.id.clone()).collect(),
            Focus::Input | Focus::Main => Vec::new(),
        }
    }

    pub(crate) fn selection_mut(&mut self, pane: Focus) -> Option<&mut Option<String>> {
        match pane {
            Focus::Workers => Some(&mut self.selected.worker),
            Focus::Tasks => Some(&mut self.selected.task),
            Focus::Merges => Some(&mut self.selected.merge),
            Focus::Mail => Some(&mut self.selected.mail),
            Focus::Input | Focus::Main => None,
        }
    }

    /// The selected row's index in `pane` (the first row when the
    /// selection is gone).
    pub fn selected_index(&self, pane: Focus) -> Option<usize> {
        let rows = self.rows_of(pane);
        if rows.is_empty() {
            return None;
        }
        let key = match pane {
            Focus::Workers => &self.selected.worker,
            Focus::Tasks => &self.selected.task,
            Focus::Merges => &self.selected.merge,
            Focus::Mail => &self.selected.mail,
            Focus::Input | Focus::Main => return None,
        };
        Some(
            key.as_ref()
                .and_then(|k| rows.iter().position(|r| r == k))
                .unwrap_or(0),
        )
    }

    pub(crate) fn move_selection(&mut self, pane: Focus, delta: isize) {
        let rows = self.rows_of(pane);
        if rows.is_empty() {
            return;
        }
        let current = self.selected_index(pane).unwrap_or(0) as isize;
        let last = rows.len() as isize - 1;
        let next = (current + delta).clamp(0, last) as usize;
        let key = rows.get(next).cloned();
        if let Some(selection) = self.selection_mut(pane) {
            *selection = key;
        }
    }

    pub(crate) fn select_edge(&mut self, pane: Focus, last: bool) {
        let rows = self.rows_of(pane);
        let key = if last { rows.last() } else { rows.first() }.cloned();
        if let Some(selection) = self.selection_mut(pane) {
            *selection = key;
        }
    }

    /// The row the user selected in the tasks pane, if it still exists.
    pub fn chosen_task_row(&self) -> Option<String> {
        self.selected
            .task
            .clone()
            .filter(|key| self.task_rows().contains(key))
    }

    /// Running workers whose agent waits for the person (a question mailed
    /// to the user or the planner), in the workers pane's order.
    pub fn waiting_for_you(&self) -> Vec<String> {
        self.worker_order()
            .iter()
            .filter(|w| {
                w.state == WorkerState::Running && w.agent == enki_core::AgentState::WaitingUser
            })
            .map(|w| w.task.clone())
            .collect()
    }

    /// Tasks whose work waits for the person's review, in the tasks pane's
    /// order.
    pub fn awaiting_review(&self) -> Vec<String> {
        self.snapshot
            .executions
            .iter()
            .flat_map(|x| x.tasks.iter())
            .filter(|t| t.status == "awaiting_review")
            .map(|t| t.id.clone())
            .collect()
    }

    /// How many things wait on the person: permission requests, workers
    /// waiting for an answer, and work waiting for review.
    pub fn needs_you(&self) -> usize {
        self.permissions.len() + self.waiting_for_you().len() + self.awaiting_review().len()
    }

    /// F3: the next thing waiting on the person, in this order: a
    /// permission request (opens the prompt), each worker waiting for an
    /// answer (its transcript, where its question is), each work awaiting
    /// review (the caller opens its review), unread mail for the user (the
    /// mail pane). From a transcript or review in that list, the one after
    /// it (wrapping around).
    pub fn show_next_need(&mut self) -> NextNeed {
        if !self.permissions.is_empty() {
            self.prompt_open = true;
            return NextNeed::Shown;
        }
        let mut needs: Vec<View> = self
            .waiting_for_you()
            .into_iter()
            .map(View::Transcript)
            .collect();
        needs.extend(self.awaiting_review().into_iter().map(View::Review));
        let mail = self
            .snapshot
            .unread
            .iter()
            .find(|m| m.to == "user")
            .map(|m| m.id.clone());
        let shown = needs.iter().position(|v| *v == self.view);
        let next = shown.map_or(0, |i| i + 1);
        match needs
            .get(next)
            .or(if mail.is_none() { needs.first() } else { None })
        {
            Some(View::Transcript(task)) => {
                let task = task.clone();
                self.selected.worker = Some(task.clone());
                self.view = View::Transcript(task);
                self.scroll = 0;
                self.focus = Focus::Main;
                NextNeed::Shown
            }
            Some(View::Review(task)) => NextNeed::Review(task.clone()),
            _ => match mail {
                Some(id) => {
                    self.selected.mail = Some(id);
                    self.focus = Focus::Mail;
                    NextNeed::Shown
                }
                None => NextNeed::Nothing,
            },
        }
    }
}
