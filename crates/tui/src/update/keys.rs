//! Keys to actions. What a key means depends on what is on screen (a
//! confirmation, a permission prompt, an overlay, the completion popup)
//! and on which pane has the focus; this is decided here, in one pure
//! function, and carried out by [`crate::update::apply`].

use enki_acp::PermissionDecision;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::state::{App, Focus, Overlay, View};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Ctrl-C: quit (asking while workers run).
    Interrupt,
    ConfirmYes,
    ConfirmNo,
    /// Raise the spent budget on offer and resume its execution.
    RaiseBudget,
    /// Answer the permission request on top (the prompt is open).
    Answer(PermissionDecision),
    /// F2 / Ctrl-P: open the permission prompt to answer what waits.
    OpenPrompt,
    /// Esc on the prompt: close it unanswered; the request keeps waiting.
    DeferPrompt,
    /// F3: the next thing waiting on the person.
    NextNeed,
    /// `e` in a transcript: tool calls' whole output, or their last lines.
    ToggleOutputs,
    /// `r` in the mail pane: answer the selected message.
    Reply,
    /// `a` in a review: the work lands.
    Approve,
    /// `x` in a review: asks whether to reject the work.
    Reject,
    /// `← →` in a review: the previous or next file's patch.
    ReviewFile(isize),
    Help,
    CloseOverlay,
    OverlayScroll(isize),
    // Editing the message.
    Insert(char),
    NewLine,
    Backspace,
    Delete,
    Left,
    Right,
    WordLeft,
    WordRight,
    Home,
    End,
    KillToStart,
    KillToEnd,
    DeleteWord,
    /// Up in the message: the line above, or older history.
    HistoryUp,
    HistoryDown,
    CompletionNext,
    CompletionPrev,
    CompletionAccept,
    CompletionDismiss,
    Submit,
    // Panes.
    FocusNext,
    FocusPrev,
    FocusInput,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Enter on a pane: open the selected row.
    Open,
    /// Esc: back to the chat, or to the message box.
    Back,
    Redraw,
}

impl Action {
    /// Whether the action may change the message text or cursor (and so
    /// the completion popup).
    pub fn edits_input(self) -> bool {
        matches!(
            self,
            Action::Insert(_)
                | Action::NewLine
                | Action::Backspace
                | Action::Delete
                | Action::Left
                | Action::Right
                | Action::WordLeft
                | Action::WordRight
                | Action::Home
                | Action::End
                | Action::KillToStart
                | Action::KillToEnd
                | Action::DeleteWord
                | Action::HistoryUp
                | Action::HistoryDown
                | Action::CompletionAccept
        )
    }
}

/// The action for a key press, or `None` when the key does nothing here.
pub fn map_key(app: &App, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);
    if ctrl && matches!(key.code, KeyCode::Char('c' | 'C')) {
        return Some(Action::Interrupt);
    }
    if ctrl && matches!(key.code, KeyCode::Char('l' | 'L')) {
        return Some(Action::Redraw);
    }
    if matches!(
        app.overlay,
        Some(Overlay::ConfirmQuit | Overlay::Confirm { .. })
    ) {
        return match key.code {
            KeyCode::Char('y' | 'Y') | KeyCode::Enter => Some(Action::ConfirmYes),
            KeyCode::Char('n' | 'N') | KeyCode::Esc => Some(Action::ConfirmNo),
            _ => None,
        };
    }
    if matches!(app.overlay, Some(Overlay::RaiseBudget(_))) {
        return match key.code {
            KeyCode::Char('r' | 'R') => Some(Action::RaiseBudget),
            KeyCode::Char('n' | 'N') | KeyCode::Esc => Some(Action::CloseOverlay),
            _ => None,
        };
    }
    // A permission request never takes keys by itself: it waits in a bar
    // until the user opens the prompt, and only then do the keys shown on
    // the prompt answer it. Typing can never answer a request by accident.
    if app.prompt_open && !app.permissions.is_empty() {
        return match key.code {
            KeyCode::Char('y') if !ctrl && !alt => {
                Some(Action::Answer(PermissionDecision::AllowOnce))
            }
            KeyCode::Char('A') if !ctrl && !alt => {
                Some(Action::Answer(PermissionDecision::AllowAlways))
            }
            KeyCode::Char('n') if !ctrl && !alt => {
                Some(Action::Answer(PermissionDecision::RejectOnce))
            }
            KeyCode::Esc | KeyCode::F(2) => Some(Action::DeferPrompt),
            KeyCode::Char('p' | 'P') if ctrl => Some(Action::DeferPrompt),
            _ => None,
        };
    }
    let open_prompt =
        key.code == KeyCode::F(2) || (ctrl && matches!(key.code, KeyCode::Char('p' | 'P')));
    if open_prompt && !app.permissions.is_empty() {
        return Some(Action::OpenPrompt);
    }
    if key.code == KeyCode::F(3)
        && !matches!(
            app.overlay,
            Some(Overlay::ConfirmQuit | Overlay::Confirm { .. })
        )
    {
        return Some(Action::NextNeed);
    }
    if app.overlay.is_some() {
        return match key.code {
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q' | '?') | KeyCode::F(1) => {
                Some(Action::CloseOverlay)
            }
            KeyCode::Up | KeyCode::Char('k') => Some(Action::OverlayScroll(-1)),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::OverlayScroll(1)),
            KeyCode::PageUp => Some(Action::OverlayScroll(-10)),
            KeyCode::PageDown | KeyCode::Char(' ') => Some(Action::OverlayScroll(10)),
            KeyCode::Home | KeyCode::Char('g') => Some(Action::OverlayScroll(-(isize::MAX / 2))),
            _ => None,
        };
    }
    if key.code == KeyCode::F(1) {
        return Some(Action::Help);
    }
    match key.code {
        KeyCode::Tab if app.input.completion.is_none() || app.focus != Focus::Input => {
            return Some(Action::FocusNext);
        }
        KeyCode::BackTab => return Some(Action::FocusPrev),
        KeyCode::PageUp => return Some(Action::PageUp),
        KeyCode::PageDown => return Some(Action::PageDown),
        _ => {}
    }
    if app.focus == Focus::Input {
        input_key(app, key, ctrl, alt, shift)
    } else if app.focus == Focus::Mail && key.code == KeyCode::Char('r') && !ctrl && !alt {
        Some(Action::Reply)
    } else if app.focus == Focus::Main
        && matches!(app.view, View::Review(_))
        && !ctrl
        && !alt
        && let Some(action) = review_key(key.code)
    {
        Some(action)
    } else if app.focus == Focus::Main
        && matches!(app.view, View::Transcript(_))
        && key.code == KeyCode::Char('e')
        && !ctrl
        && !alt
    {
        Some(Action::ToggleOutputs)
    } else {
        pane_key(key, ctrl, alt)
    }
}

/// The keys of a review in the main view.
fn review_key(code: KeyCode) -> Option<Action> {
    match code {
        KeyCode::Char('a') => Some(Action::Approve),
        KeyCode::Char('x') => Some(Action::Reject),
        KeyCode::Left | KeyCode::Char('h' | '[') => Some(Action::ReviewFile(-1)),
        KeyCode::Right | KeyCode::Char('l' | ']') => Some(Action::ReviewFile(1)),
        _ => None,
    }
}

fn input_key(app: &App, key: KeyEvent, ctrl: bool, alt: bool, shift: bool) -> Option<Action> {
    if app.input.completion.is_some() {
        match key.code {
            KeyCode::Tab | KeyCode::Enter if !alt && !shift => {
                return Some(Action::CompletionAccept);
            }
            KeyCode::Up => return Some(Action::CompletionPrev),
            KeyCode::Down => return Some(Action::CompletionNext),
            KeyCode::Esc => return Some(Action::CompletionDismiss),
            _ => {}
        }
    }
    let action = match key.code {
        KeyCode::Enter if alt || shift || ctrl => Action::NewLine,
        KeyCode::Enter => Action::Submit,
        // Ctrl-J is a line feed: the newline key of terminals that cannot
        // report Shift-Enter.
        KeyCode::Char('j') if ctrl => Action::NewLine,
        KeyCode::Char('a') if ctrl => Action::Home,
        KeyCode::Char('e') if ctrl => Action::End,
        KeyCode::Char('u') if ctrl => Action::KillToStart,
        KeyCode::Char('k') if ctrl => Action::KillToEnd,
        KeyCode::Char('w') if ctrl => Action::DeleteWord,
        KeyCode::Char('b') if alt => Action::WordLeft,
        KeyCode::Char('f') if alt => Action::WordRight,
        KeyCode::Char('?') if app.input.is_empty() => Action::Help,
        KeyCode::Char(_) if ctrl => return None,
        KeyCode::Char(c) => Action::Insert(c),
        KeyCode::Backspace if alt || ctrl => Action::DeleteWord,
        KeyCode::Backspace => Action::Backspace,
        KeyCode::Delete => Action::Delete,
        KeyCode::Left if ctrl || alt => Action::WordLeft,
        KeyCode::Right if ctrl || alt => Action::WordRight,
        KeyCode::Left => Action::Left,
        KeyCode::Right => Action::Right,
        KeyCode::Home if ctrl => Action::Top,
        KeyCode::End if ctrl => Action::Bottom,
        KeyCode::Home => Action::Home,
        KeyCode::End => Action::End,
        KeyCode::Up => Action::HistoryUp,
        KeyCode::Down => Action::HistoryDown,
        KeyCode::Esc => Action::Back,
        _ => return None,
    };
    Some(action)
}

fn pane_key(key: KeyEvent, ctrl: bool, alt: bool) -> Option<Action> {
    let action = match key.code {
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::Home | KeyCode::Char('g') => Action::Top,
        KeyCode::End | KeyCode::Char('G') => Action::Bottom,
        KeyCode::Enter => Action::Open,
        KeyCode::Esc => Action::Back,
        KeyCode::Char('?') => Action::Help,
        // Typing anywhere goes to the message box.
        KeyCode::Char(c) if !ctrl && !alt => Action::Insert(c),
        _ => return None,
    };
    Some(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn with(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn enter_sends_and_modified_enter_breaks_the_line() {
        let app = App::new();
        assert_eq!(map_key(&app, key(KeyCode::Enter)), Some(Action::Submit));
        for modifier in [KeyModifiers::SHIFT, KeyModifiers::ALT] {
            assert_eq!(
                map_key(&app, with(KeyCode::Enter, modifier)),
                Some(Action::NewLine)
            );
        }
        assert_eq!(
            map_key(&app, with(KeyCode::Char('j'), KeyModifiers::CONTROL)),
            Some(Action::NewLine)
        );
    }

    #[test]
    fn ctrl_c_always_interrupts_and_releases_are_ignored() {
        let mut app = App::new();
        let ctrl_c = with(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(map_key(&app, ctrl_c), Some(Action::Interrupt));
        app.overlay = Some(Overlay::Help { scroll: 0 });
        assert_eq!(map_key(&app, ctrl_c), Some(Action::Interrupt));
        let mut release = key(KeyCode::Char('x'));
        release.kind = KeyEventKind::Release;
        assert_eq!(map_key(&app, release), None);
    }

    #[test]
    fn question_mark_is_help_only_in_an_empty_message() {
        let mut app = App::new();
        assert_eq!(map_key(&app, key(KeyCode::Char('?'))), Some(Action::Help));
        app.input.set_text("why");
        assert_eq!(
            map_key(&app, key(KeyCode::Char('?'))),
            Some(Action::Insert('?'))
        );
        assert_eq!(map_key(&app, key(KeyCode::F(1))), Some(Action::Help));
    }

    #[test]
    fn panes_take_navigation_keys_and_pass_typing_on() {
        let mut app = App::new();
        app.focus = Focus::Workers;
        assert_eq!(map_key(&app, key(KeyCode::Char('j'))), Some(Action::Down));
        assert_eq!(map_key(&app, key(KeyCode::Up)), Some(Action::Up));
        assert_eq!(map_key(&app, key(KeyCode::Enter)), Some(Action::Open));
        assert_eq!(
            map_key(&app, key(KeyCode::Char('x'))),
            Some(Action::Insert('x'))
        );
        assert_eq!(map_key(&app, key(KeyCode::Tab)), Some(Action::FocusNext));
        assert_eq!(
            map_key(&app, key(KeyCode::BackTab)),
            Some(Action::FocusPrev)
        );
    }

    fn ask() -> crate::msg::PermissionAsk {
        crate::msg::PermissionAsk {
            id: 1,
            task: None,
            title: "Edit".into(),
            kind: None,
            locations: vec![],
        }
    }

    #[test]
    fn a_waiting_request_leaves_every_key_alone_until_opened() {
        let mut app = App::new();
        app.permissions.push_back(ask());
        for c in ['y', 'a', 'A', 'n', 'd'] {
            assert_eq!(
                map_key(&app, key(KeyCode::Char(c))),
                Some(Action::Insert(c))
            );
        }
        assert_eq!(map_key(&app, key(KeyCode::Tab)), Some(Action::FocusNext));
        assert_eq!(map_key(&app, key(KeyCode::PageUp)), Some(Action::PageUp));
        assert_eq!(map_key(&app, key(KeyCode::Esc)), Some(Action::Back));
        assert_eq!(map_key(&app, key(KeyCode::F(2))), Some(Action::OpenPrompt));
        assert_eq!(
            map_key(&app, with(KeyCode::Char('p'), KeyModifiers::CONTROL)),
            Some(Action::OpenPrompt)
        );
    }

    #[test]
    fn the_open_prompt_answers_with_its_keys_only() {
        let mut app = App::new();
        app.permissions.push_back(ask());
        app.prompt_open = true;
        assert_eq!(
            map_key(&app, key(KeyCode::Char('y'))),
            Some(Action::Answer(PermissionDecision::AllowOnce))
        );
        assert_eq!(
            map_key(&app, key(KeyCode::Char('A'))),
            Some(Action::Answer(PermissionDecision::AllowAlways))
        );
        assert_eq!(
            map_key(&app, key(KeyCode::Char('n'))),
            Some(Action::Answer(PermissionDecision::RejectOnce))
        );
        // Keys the prompt does not show do nothing.
        for c in ['a', 'd', 'x', 'Y'] {
            assert_eq!(map_key(&app, key(KeyCode::Char(c))), None);
        }
        assert_eq!(map_key(&app, key(KeyCode::Enter)), None);
        assert_eq!(map_key(&app, key(KeyCode::Esc)), Some(Action::DeferPrompt));
        // With no request left the flag means nothing.
        app.permissions.clear();
        assert_eq!(
            map_key(&app, key(KeyCode::Char('y'))),
            Some(Action::Insert('y'))
        );
    }

    #[test]
    fn the_quit_confirmation_comes_first() {
        let mut app = App::new();
        app.permissions.push_back(ask());
        app.prompt_open = true;
        app.overlay = Some(Overlay::ConfirmQuit);
        assert_eq!(
            map_key(&app, key(KeyCode::Char('y'))),
            Some(Action::ConfirmYes)
        );
        assert_eq!(map_key(&app, key(KeyCode::Esc)), Some(Action::ConfirmNo));
    }
}
