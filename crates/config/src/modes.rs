//! Session modes per preset: which of an agent's mode ids ask the client
//! before acting (so enki's permission policy decides) and which let the
//! agent approve its own actions, and the mode enki switches each role to.
//!
//! Sources (their ACP adapters' `availableModes`):
//! - claude (`claude-agent-acp`): `default` asks; `auto` (a model classifier
//!   approves), `acceptEdits`, `dontAsk` (denies what its own settings do not
//!   allow, never asks) and `bypassPermissions` decide themselves; `plan`
//!   runs nothing.
//! - codex (`codex-acp`): `read-only` asks before every edit and command;
//!   `agent` (older `auto`) edits its workspace unasked; `agent-full-access`
//!   (older `full-access`) never asks.
//! - gemini: `default` asks; `autoEdit`, `yolo` and `auto` decide; `plan` is
//!   read-only.
//! - opencode: its modes are its agents (`build`, `plan`); what they ask is
//!   opencode's own permission config (by default `build` asks nothing), so
//!   none is known to ask.
//! - sim: enki's scripted agent uses Claude's ids.

use crate::agent::{AgentRole, Preset};

/// What a mode means for enki's permission policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModeKind {
    /// The agent asks the client (`session/request_permission`) before it
    /// edits or runs anything, or it cannot act at all.
    Asks,
    /// The agent approves (some of) its own actions: enki's policy is not
    /// consulted for them.
    AgentDecides,
    /// A mode id enki does not know.
    Unknown,
}

struct ModeTable {
    asks: &'static [&'static str],
    decides: &'static [&'static str],
    /// The asking modes to switch to, best first.
    switch_to: &'static [&'static str],
}

const CLAUDE: ModeTable = ModeTable {
    asks: &["default", "plan"],
    decides: &["auto", "acceptEdits", "dontAsk", "bypassPermissions"],
    switch_to: &["default"],
};

const CODEX: ModeTable = ModeTable {
    asks: &["read-only"],
    decides: &["agent", "auto", "agent-full-access", "full-access"],
    switch_to: &["read-only"],
};

const GEMINI: ModeTable = ModeTable {
    asks: &["default", "plan"],
    decides: &["autoEdit", "auto_edit", "yolo", "auto"],
    switch_to: &["default"],
};

const OPENCODE: ModeTable = ModeTable {
    asks: &[],
    decides: &["build", "plan"],
    switch_to: &[],
};

/// For agents that are no preset: every id a preset gives a meaning, where
/// the presets agree.
const ANY: ModeTable = ModeTable {
    asks: &["default", "read-only", "ask"],
    decides: &[
        "auto",
        "acceptEdits",
        "dontAsk",
        "bypassPermissions",
        "agent-full-access",
        "full-access",
        "autoEdit",
        "yolo",
    ],
    switch_to: &["default", "read-only", "ask"],
};

fn table(preset: Option<Preset>) -> &'static ModeTable {
    match preset {
        Some(Preset::Claude | Preset::Sim) => &CLAUDE,
        Some(Preset::Codex) => &CODEX,
        Some(Preset::Gemini) => &GEMINI,
        Some(Preset::OpenCode) => &OPENCODE,
        None => &ANY,
    }
}

/// What mode `id` means for an agent of `preset` (`None`: a custom command).
pub fn mode_kind(preset: Option<Preset>, id: &str) -> ModeKind {
    let table = table(preset);
    if table.asks.contains(&id) {
        ModeKind::Asks
    } else if table.decides.contains(&id) {
        ModeKind::AgentDecides
    } else {
        ModeKind::Unknown
    }
}

/// The asking modes a session of `role` is switched to, best first; the
/// first one the agent offers is used. Every role wants the same: an agent
/// that asks before acting (the planner's and merger's limits come from
/// their permission policies, not from a mode that stops all execution, as
/// they must still call enki's tools).
pub fn asking_modes(preset: Option<Preset>, _role: AgentRole) -> &'static [&'static str] {
    table(preset).switch_to
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_preset_knows_which_modes_ask() {
        let cases: &[(Option<Preset>, &str, ModeKind)] = &[
            (Some(Preset::Claude), "default", ModeKind::Asks),
            (Some(Preset::Claude), "plan", ModeKind::Asks),
            (Some(Preset::Claude), "auto", ModeKind::AgentDecides),
            (Some(Preset::Claude), "acceptEdits", ModeKind::AgentDecides),
            (Some(Preset::Claude), "dontAsk", ModeKind::AgentDecides),
            (
                Some(Preset::Claude),
                "bypassPermissions",
                ModeKind::AgentDecides,
            ),
            (Some(Preset::Claude), "read-only", ModeKind::Unknown),
            (Some(Preset::Codex), "read-only", ModeKind::Asks),
            (Some(Preset::Codex), "agent", ModeKind::AgentDecides),
            (Some(Preset::Codex), "auto", ModeKind::AgentDecides),
            (
                Some(Preset::Codex),
                "agent-full-access",
                ModeKind::AgentDecides,
            ),
            (Some(Preset::Codex), "full-access", ModeKind::AgentDecides),
            (Some(Preset::Codex), "default", ModeKind::Unknown),
            (Some(Preset::Gemini), "default", ModeKind::Asks),
            (Some(Preset::Gemini), "autoEdit", ModeKind::AgentDecides),
            (Some(Preset::Gemini), "yolo", ModeKind::AgentDecides),
            (Some(Preset::OpenCode), "build", ModeKind::AgentDecides),
            (Some(Preset::OpenCode), "plan", ModeKind::AgentDecides),
            (Some(Preset::Sim), "default", ModeKind::Asks),
            (Some(Preset::Sim), "auto", ModeKind::AgentDecides),
            (None, "default", ModeKind::Asks),
            (None, "read-only", ModeKind::Asks),
            (None, "yolo", ModeKind::AgentDecides),
            (None, "bypassPermissions", ModeKind::AgentDecides),
            (None, "plan", ModeKind::Unknown),
            (None, "architect", ModeKind::Unknown),
        ];
        for (preset, id, kind) in cases {
            assert_eq!(mode_kind(*preset, id), *kind, "{preset:?} {id}");
        }
    }

    #[test]
    fn every_mode_switched_to_asks() {
        for preset in Preset::ALL.iter().copied().map(Some).chain([None]) {
            for role in AgentRole::ALL {
                for id in asking_modes(preset, *role) {
                    assert_eq!(mode_kind(preset, id), ModeKind::Asks, "{preset:?} {id}");
                }
            }
        }
        assert_eq!(
            asking_modes(Some(Preset::Claude), AgentRole::Worker),
            ["default"]
        );
        assert_eq!(
            asking_modes(Some(Preset::Codex), AgentRole::Coordinator),
            ["read-only"]
        );
        assert!(asking_modes(Some(Preset::OpenCode), AgentRole::Merger).is_empty());
    }
}
