//! What keeps git from running anything a worker planted.
//!
//! A worker controls every file of its copy, so enki never lets git find its
//! repository through the copy: a worktree's git directory is looked up in
//! the repository's own `worktrees/` administration ([`admin_dir_of`]),
//! never read from the copy's `.git` file. Every command also overrides the
//! configuration that makes git execute something (hooks, fsmonitor, ssh,
//! external diff, editors, pagers, signing), reads no system configuration
//! and no global one (the user's identity and ignore file are carried over
//! explicitly, see [`USER_KEYS`]), and ignores system and global attributes.
//! An empty `diff.external` makes git fail rather than skip it, so diffs get
//! `--no-ext-diff --no-textconv` instead ([`DIFF_COMMANDS`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::git::GitError;

/// `-c` overrides on every git command: they take precedence over every
/// configuration file, the project's included.
const OVERRIDES: &[&str] = &[
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.sshCommand=ssh",
    "core.editor=true",
    "core.pager=cat",
    "core.askPass=",
    "core.attributesFile=/dev/null",
    "core.alternateRefsCommand=",
    "sequence.editor=true",
    "credential.helper=",
    "protocol.allow=never",
    "protocol.file.allow=always",
    "protocol.ext.allow=never",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "gc.auto=0",
    "maintenance.auto=false",
];

/// Subcommands that could run an external diff or a textconv filter.
const DIFF_COMMANDS: &[&str] = &["diff", "log", "show"];

/// Environment variables git would act on that enki never wants inherited.
const CLEARED_ENV: &[&str] = &[
    "GIT_EXTERNAL_DIFF",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "GIT_PROXY_COMMAND",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_COMMON_DIR",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
];

/// The user settings read from their own configuration once and passed on
/// explicitly, since the commands themselves read no global configuration.
pub(crate) const USER_KEYS: &str = r"^(user\.name|user\.email|core\.excludesfile)$";

/// Applies the overrides and the controlled configuration to `cmd`. With
/// `user_config`, the user's global and system files stay readable: only to
/// read [`USER_KEYS`], which runs nothing.
/// `args` with `--no-ext-diff --no-textconv` after a diff subcommand.
pub(crate) fn with_plain_diff<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut plain = args.to_vec();
    if args.first().is_some_and(|sub| DIFF_COMMANDS.contains(sub)) {
        plain.splice(1..1, ["--no-ext-diff", "--no-textconv"]);
    }
    plain
}

pub(crate) fn harden(cmd: &mut Command, user_config: bool) {
    for var in CLEARED_ENV {
        cmd.env_remove(var);
    }
    for setting in OVERRIDES {
        cmd.arg("-c").arg(setting);
    }
    cmd.env("GIT_ATTR_NOSYSTEM", "1")
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .env("GIT_PROTOCOL_FROM_USER", "0");
    if !user_config {
        cmd.env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null");
    }
}

/// The user's settings as `-c` overrides and identity variables, parsed from
/// `git config --null --get-regexp` output (`key\nvalue\0` records).
pub(crate) fn user_settings(listing: &[u8]) -> (Vec<String>, Vec<(&'static str, String)>) {
    let (mut overrides, mut env) = (Vec::new(), Vec::new());
    for record in listing.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let record = String::from_utf8_lossy(record);
        let (key, value) = record.split_once('\n').unwrap_or((&record, ""));
        match key {
            "user.name" => {
                env.push(("GIT_AUTHOR_NAME", value.to_string()));
                env.push(("GIT_COMMITTER_NAME", value.to_string()));
            }
            "user.email" => {
                env.push(("GIT_AUTHOR_EMAIL", value.to_string()));
                env.push(("GIT_COMMITTER_EMAIL", value.to_string()));
            }
            "core.excludesfile" => overrides.push(format!("core.excludesFile={value}")),
            _ => {}
        }
    }
    (overrides, env)
}

/// The administrative directory (`<common>/worktrees/<name>`) of the
/// worktree at `path`: the entry whose `gitdir` file names `<path>/.git`.
/// Only the repository's own files are read, never anything in `path`.
pub(crate) fn admin_dir_of(common_dir: &Path, path: &Path) -> Result<PathBuf, GitError> {
    let wanted = std::fs::canonicalize(path)
        .map_err(|e| GitError::io(format!("resolving the worktree {}", path.display()), e))?;
    admin_dirs_named(common_dir, vec![Some(wanted)])
        .pop()
        .flatten()
        .ok_or_else(|| {
            GitError::Invalid(format!(
                "{} is not a worktree registered in {} (no entry of {} names it); \
enki only runs git there through the repository's own record of it",
                path.display(),
                common_dir.display(),
                common_dir.join("worktrees").display()
            ))
        })
}

/// The administrative directories of the worktrees at `paths`, one per path
/// (`None` for a path no entry names, or one that does not resolve), from
/// one reading of `<common>/worktrees`, as [`admin_dir_of`] finds each.
pub(crate) fn admin_dirs_of(common_dir: &Path, paths: &[&Path]) -> Vec<Option<PathBuf>> {
    let wanted = paths
        .iter()
        .map(|path| std::fs::canonicalize(path).ok())
        .collect();
    admin_dirs_named(common_dir, wanted)
}

/// [`admin_dirs_of`] for paths already resolved (`None`: not resolved).
fn admin_dirs_named(common_dir: &Path, wanted: Vec<Option<PathBuf>>) -> Vec<Option<PathBuf>> {
    let mut found = vec![None; wanted.len()];
    let mut missing = wanted.iter().filter(|w| w.is_some()).count();
    for (admin, named) in registrations(common_dir) {
        if missing == 0 {
            break;
        }
        let Some(work_tree) = std::fs::canonicalize(&named).ok() else {
            continue;
        };
        for (slot, want) in found.iter_mut().zip(&wanted) {
            if slot.is_none() && want.as_ref() == Some(&work_tree) {
                *slot = Some(admin.clone());
                missing -= 1;
            }
        }
    }
    found
}

/// The repository's worktree registrations: each entry of
/// `<common>/worktrees` with the work tree its `gitdir` file names (as
/// written, unresolved; it may no longer exist). Entries without a readable
/// `gitdir` are left out.
pub(crate) fn registrations(common_dir: &Path) -> impl Iterator<Item = (PathBuf, PathBuf)> {
    std::fs::read_dir(common_dir.join("worktrees"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let admin = entry.path();
            let gitdir = std::fs::read_to_string(admin.join("gitdir")).ok()?;
            // Relative paths (`worktree.useRelativePaths`) are relative to the entry.
            let named = admin.join(gitdir.trim_end_matches(['\n', '\r']));
            let work_tree = named.parent()?.to_path_buf();
            Some((admin, work_tree))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_settings_become_identity_and_an_ignore_file() {
        let listing = b"user.name\nAda L\0user.email\nada@x\0core.excludesfile\n~/.gi\0";
        let (overrides, env) = user_settings(listing);
        assert_eq!(overrides, vec!["core.excludesFile=~/.gi".to_string()]);
        assert!(env.contains(&("GIT_COMMITTER_NAME", "Ada L".to_string())));
        assert!(env.contains(&("GIT_AUTHOR_EMAIL", "ada@x".to_string())));
    }
}
