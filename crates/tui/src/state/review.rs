//! A task's work under review in the main view, as `enki review` shows it:
//! where it lands, its `[OUTPUT]` (and the merger's, when what waits is the
//! merger's resolution of a conflict), its files with their stats, and one
//! file's patch at a time, coloured. Laid out into lines once per load or
//! file change; the main view scrolls over them.

use enki_coordinator::review::Review;
use enki_core::TaskStatus;
use enki_workspace::FileChange;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::text::sanitize;
use crate::theme;

/// Patch lines shown of one file at most (a generated file can be huge).
const MAX_PATCH_LINES: usize = 5_000;

/// The review in the main view.
#[derive(Debug, Clone)]
pub struct ReviewPane {
    /// The task's full id.
    pub task: String,
    /// The review once read, or why it could not be; `None` while loading.
    pub loaded: Option<Result<Review, String>>,
    /// The file whose patch is shown.
    pub file: usize,
    /// What the view shows, laid out for `loaded` and `file`.
    pub lines: Vec<Line<'static>>,
    /// Rows scrolled down from the top (a review is read from its top).
    pub top: usize,
}

impl ReviewPane {
    /// A review being loaded.
    pub fn loading(task: &str) -> ReviewPane {
        ReviewPane {
            task: task.to_string(),
            loaded: None,
            file: 0,
            lines: vec![Line::styled("reading the diff…", theme::dim())],
            top: 0,
        }
    }

    /// The review read (or why not), shown from its first file.
    pub fn load(&mut self, review: Result<Review, String>) {
        self.loaded = Some(review);
        self.file = 0;
        self.lay_out();
        self.top = 0;
    }

    /// Shows the patch of the file `delta` places on (wrapping around).
    pub fn step_file(&mut self, delta: isize) {
        let Some(Ok(review)) = &self.loaded else {
            return;
        };
        let count = review.diff.files.len();
        if count == 0 {
            return;
        }
        let count = isize::try_from(count).unwrap_or(isize::MAX);
        let at = isize::try_from(self.file).unwrap_or(0);
        self.file = usize::try_from((at + delta).rem_euclid(count)).unwrap_or(0);
        self.lay_out();
        self.top = 0;
    }

    /// The step and round the review is of, once loaded.
    pub fn step(&self) -> Option<&str> {
        match &self.loaded {
            Some(Ok(review)) => Some(review.task.step_id.as_str()),
            _ => None,
        }
    }

    /// Whether what is reviewed is the merger's resolution of a conflict.
    pub fn is_resolution(&self) -> bool {
        matches!(&self.loaded, Some(Ok(review)) if review.resolution.is_some())
    }

    /// The rows a pane of `width` x `height` shows from [`Self::top`], and
    /// the top actually possible (the last screenful at most).
    pub fn rows(&self, width: usize, height: usize) -> (Vec<Line<'static>>, usize) {
        let rows: Vec<Line<'static>> = self
            .lines
            .iter()
            .flat_map(|line| crate::wrap::wrap(line, width))
            .collect();
        let top = self.top.min(rows.len().saturating_sub(height));
        (rows.into_iter().skip(top).take(height).collect(), top)
    }

    fn lay_out(&mut self) {
        self.lines = match &self.loaded {
            None => vec![Line::styled("reading the diff…", theme::dim())],
            Some(Err(why)) => vec![Line::styled(
                format!("cannot show this review: {why}"),
                theme::bad(),
            )],
            Some(Ok(review)) => review_lines(review, self.file),
        };
    }
}

fn change_mark(change: FileChange) -> &'static str {
    match change {
        FileChange::Added => "A",
        FileChange::Modified => "M",
        FileChange::Deleted => "D",
        FileChange::Renamed => "R",
    }
}

/// `+12 −3`, or `binary`.
fn stats(added: Option<u64>, removed: Option<u64>) -> Vec<Span<'static>> {
    match (added, removed) {
        (Some(added), Some(removed)) => vec![
            Span::styled(format!("+{added}"), theme::good()),
            Span::raw(" "),
            Span::styled(format!("−{removed}"), theme::bad()),
        ],
        _ => vec![Span::styled("binary", theme::dim())],
    }
}

/// The colour of a patch line, by what it is.
fn patch_style(line: &str) -> Style {
    if line.starts_with("diff --git")
        || line.starts_with("+++ ")
        || line.starts_with("--- ")
        || line.starts_with("index ")
    {
        theme::title()
    } else if line.starts_with("@@") {
        theme::info()
    } else if line.starts_with('+') {
        theme::good()
    } else if line.starts_with('-') {
        theme::bad()
    } else {
        Style::new()
    }
}

fn review_lines(review: &Review, file: usize) -> Vec<Line<'static>> {
    let task = &review.task;
    let diff = &review.diff;
    let mut lines = Vec::new();
    let state = if task.status == TaskStatus::AwaitingReview {
        Span::styled("awaits your review", theme::warn())
    } else {
        Span::styled(
            format!("is {} (not awaiting review)", task.status),
            theme::dim(),
        )
    };
    let mut header = vec![Span::styled(
        format!("[{}] {} ", task.step_id, task.title),
        theme::title(),
    )];
    if review.resolution.is_some() {
        header.push(Span::styled("· the merger's resolution ", theme::info()));
    }
    header.extend([
        state,
        Span::styled(format!(" · round {}", task.round), theme::dim()),
    ]);
    lines.push(Line::from(header));
    let made_on = match &review.resolution {
        Some(held) => format!(
            " as resolved on {}",
            held.base.get(..8).unwrap_or(&held.base)
        ),
        None => String::new(),
    };
    let mut summary = vec![Span::styled(
        format!(
            "lands on {}{made_on} from {} · {} file{} · ",
            review.base_branch,
            review.branch,
            diff.files.len(),
            if diff.files.len() == 1 { "" } else { "s" }
        ),
        theme::dim(),
    )];
    summary.extend(stats(Some(diff.added()), Some(diff.removed())));
    lines.push(Line::from(summary));
    lines.push(Line::default());
    lines.push(Line::styled("Output", theme::heading()));
    match review.output.as_deref().map(sanitize) {
        Some(output) if !output.trim().is_empty() => {
            lines.extend(output.lines().map(|l| Line::raw(format!("  {l}"))));
        }
        _ => lines.push(Line::styled("  (the agent gave no [OUTPUT])", theme::dim())),
    }
    if let Some(held) = &review.resolution {
        lines.push(Line::default());
        lines.push(Line::styled("The merger's output", theme::heading()));
        match held.output.as_deref().map(sanitize) {
            Some(output) if !output.trim().is_empty() => {
                lines.extend(output.lines().map(|l| Line::raw(format!("  {l}"))));
            }
            _ => lines.push(Line::styled(
                "  (the merger gave no [OUTPUT])",
                theme::dim(),
            )),
        }
    }
    lines.push(Line::default());
    if diff.files.is_empty() {
        lines.push(Line::styled(
            "No changes: landing it changes nothing.",
            theme::dim(),
        ));
        return lines;
    }
    lines.push(Line::styled("Files (← → shows another)", theme::heading()));
    for (i, f) in diff.files.iter().enumerate() {
        let chosen = i == file;
        let name = match &f.old_path {
            Some(old) => format!("{old} → {}", f.path),
            None => f.path.clone(),
        };
        let mut spans = vec![
            Span::styled(if chosen { "▸ " } else { "  " }, theme::key()),
            Span::styled(format!("{} ", change_mark(f.change)), theme::info()),
            Span::styled(
                format!("{} ", sanitize(&name)),
                if chosen { theme::title() } else { Style::new() },
            ),
        ];
        spans.extend(stats(f.added, f.removed));
        lines.push(Line::from(spans));
    }
    let Some(shown) = diff.files.get(file) else {
        return lines;
    };
    lines.push(Line::default());
    lines.push(Line::styled(
        format!(
            "── {} ({}/{}) ──",
            sanitize(&shown.path),
            file + 1,
            diff.files.len()
        ),
        theme::title(),
    ));
    let patch = sanitize(&shown.patch);
    let total = patch.lines().count();
    for line in patch.lines().take(MAX_PATCH_LINES) {
        lines.push(Line::styled(line.to_string(), patch_style(line)));
    }
    if total > MAX_PATCH_LINES {
        lines.push(Line::styled(
            format!(
                "… {} more lines (`enki review {}` prints them all)",
                total - MAX_PATCH_LINES,
                task.step_id
            ),
            theme::dim(),
        ));
    }
    lines
}
