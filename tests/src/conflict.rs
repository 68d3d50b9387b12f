//! The conflict many tests stage: two parallel steps, `left` and `right`,
//! write `shared.txt` differently, and a merger keeps both versions.

use std::path::PathBuf;

use crate::Project;

/// Two parallel steps that write the same new file differently.
pub const CONFLICTING_PLAN: &str = "[[steps]]\nid = \"left\"\ntitle = \"Left\"\ndescription = \"[[sim:left]]\"\n\n[[steps]]\nid = \"right\"\ntitle = \"Right\"\ndescription = \"[[sim:right]]\"\n";

/// `shared.txt` once the merger kept both versions.
pub const BOTH_VERSIONS: &str = "left version\nright version\n";

impl Project {
    /// The `left` and `right` scripts: each writes its own `shared.txt`.
    pub fn conflicting_writers(&self) {
        self.writer_script("left", "shared.txt", "left version\n");
        self.writer_script("right", "shared.txt", "right version\n");
    }

    /// A merger that takes the steps in `before` (sim step tables, each
    /// followed by a comma, or nothing), then keeps both versions and says
    /// "kept both".
    pub fn merger_keeping_both(&self, before: &str) {
        self.script(
            "merger",
            &format!(
                "[[turn]]\nsteps = [\n  {before}{{ write = \"shared.txt\", content = {BOTH_VERSIONS:?} }},\n  {{ say = \"[OUTPUT]kept both[/OUTPUT]\" }},\n]\n"
            ),
        );
    }

    /// [`CONFLICTING_PLAN`] as a plan file.
    pub fn conflicting_plan(&self) -> PathBuf {
        self.plan(CONFLICTING_PLAN)
    }
}
