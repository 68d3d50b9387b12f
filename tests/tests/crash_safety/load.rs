//! Load: 200 independent steps at 16 `sim` workers land every task, five
//! times over, with no retry to hide a failure (`cargo xtask stress` runs
//! it: too slow for every CI run).

use enki_tests::{Project, describe, git, wait_output};

const STEPS: usize = 200;

#[test]
#[ignore = "slow: run by `cargo xtask stress`"]
fn two_hundred_steps_at_sixteen_workers_all_land_five_times() {
    for round in 1..=5 {
        let project = Project::with_sim("[workers]\nmax_workers = 16\nretries = 0\n");
        let mut plan = String::from("title = \"Load\"\n");
        for n in 0..STEPS {
            project.writer_script(&format!("w{n}"), &format!("f{n}.txt"), &format!("{n}\n"));
            plan.push_str(&format!(
                "[[steps]]\nid = \"s{n}\"\ntitle = \"Step {n}\"\ndescription = \"[[sim:w{n}]]\"\n"
            ));
        }
        let plan = project.plan(&plan);
        let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
        let output = wait_output(child, std::time::Duration::from_secs(1800));
        // `retries = 0`: a single transient failure would fail the run.
        assert_eq!(
            output.status.code(),
            Some(0),
            "round {round}: {}",
            describe(&output)
        );
        let failed: Vec<_> = project
            .tasks_json()
            .into_iter()
            .filter(|t| t["status"] != "done")
            .collect();
        assert!(failed.is_empty(), "round {round}: {failed:#?}");
        let landed = git(
            &project.root,
            &["log", "--format=%H", "--grep=Enki-Task:", "main"],
        );
        assert_eq!(landed.lines().count(), STEPS, "round {round}");
    }
}
