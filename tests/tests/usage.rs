//! Usage end to end (issue 16): `sim` workers report tokens (in their
//! prompt responses) and cost (in `usage_update`s) as claude-agent-acp
//! does, or tokens only, or nothing; the real `enki run` records each run
//! and `enki usage`, `enki task`, `enki status` and `enki_status` show the
//! exact sums, with unknown kept unknown and estimates marked.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use enki_tests::{Project, describe, one_turn, stdout};
use serde_json::Value;

/// Three steps: `paid` reports tokens and cost twice, `priced` tokens only
/// (priced by `[prices] sim`), `silent` nothing.
fn run_three_steps() -> Project {
    let project = Project::with_sim(
        "[workers]\nretries = 0\n\n[prices.sim]\ninput = 1.0\noutput = 2.0\ncache_read = 0.5\n",
    );
    project.script(
        "paid",
        &one_turn(
            "  { usage = { input = 1000, output = 200, cache_read = 3000, cost = 0.25 } },\n  { say = \"half way\" },\n  { usage = { input = 1000, output = 200, cache_write = 50, cost = 0.5 } },",
        ),
    );
    project.script(
        "priced",
        &one_turn("  { usage = { input = 500, output = 100, cache_read = 1000 } },"),
    );
    project.script("silent", &one_turn("  { say = \"done\" },"));
    let plan = project.plan(
        "[[steps]]\nid = \"paid\"\ntitle = \"Paid\"\ndescription = \"[[sim:paid]]\"\n\n\
         [[steps]]\nid = \"priced\"\ntitle = \"Priced\"\ndescription = \"[[sim:priced]]\"\n\n\
         [[steps]]\nid = \"silent\"\ntitle = \"Silent\"\ndescription = \"[[sim:silent]]\"\n",
    );
    let output = project.run_enki(&["run", "--plan", &plan.display().to_string()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stdout(&output).contains("usage: 3.0k work tokens"),
        "enki run says what the run used: {}",
        describe(&output)
    );
    project
}

fn json_of(project: &Project, args: &[&str]) -> Value {
    let output = project.enki(args).output().unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn group<'a>(report: &'a Value, label_end: &str) -> &'a Value {
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["label"].as_str().unwrap().ends_with(label_end))
        .unwrap_or_else(|| panic!("no group {label_end} in {report}"))
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-9)
}

#[test]
fn usage_is_summed_exactly_per_task_and_execution_and_unknown_stays_unknown() {
    let project = run_three_steps();
    let report = json_of(&project, &["usage", "--json"]);
    let paid = &group(&report, "[paid] Paid")["totals"];
    assert_eq!(paid["tokens"]["input"], 2000, "{report}");
    assert_eq!(paid["tokens"]["output"], 400, "{report}");
    assert_eq!(paid["tokens"]["cache_read"], 3000, "{report}");
    assert_eq!(paid["tokens"]["cache_write"], 50, "{report}");
    assert!(
        close(&paid["cost"]["USD"], 0.75),
        "the session's cumulative cost: {report}"
    );
    assert!(
        paid["estimated"].as_object().unwrap().is_empty(),
        "{report}"
    );
    let priced = &group(&report, "[priced] Priced")["totals"];
    assert_eq!(priced["tokens"]["input"], 500, "{report}");
    assert_eq!(
        priced["tokens"]["cache_write"],
        Value::Null,
        "never reported: {report}"
    );
    // 500 × 1.0 + 100 × 2.0 + 1000 × 0.5 per million tokens.
    assert!(close(&priced["estimated"]["USD"], 0.0012), "{report}");
    let silent = &group(&report, "[silent] Silent")["totals"];
    assert_eq!(silent["runs"], 1, "{report}");
    assert_eq!(silent["runs_without_tokens"], 1, "{report}");
    assert_eq!(
        silent["tokens"]["input"],
        Value::Null,
        "unknown, not 0: {report}"
    );
    let total = &report["total"];
    assert_eq!(total["runs"], 3, "{report}");
    assert_eq!(total["tokens"]["input"], 2500, "{report}");
    assert_eq!(total["tokens"]["output"], 500, "{report}");
    assert_eq!(total["runs_without_cost"], 1, "{report}");

    let by_execution = json_of(&project, &["usage", "--by", "execution", "--json"]);
    let groups = by_execution["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{by_execution}");
    assert_eq!(groups[0]["totals"], *total, "one execution holds it all");
    let by_model = json_of(&project, &["usage", "--by", "model", "--json"]);
    assert_eq!(by_model["groups"][0]["key"], "sim", "{by_model}");

    let text = stdout(&project.enki(&["usage"]).output().unwrap());
    assert!(text.contains("[silent] Silent"), "{text}");
    assert!(text.contains("tokens unknown, cost unknown"), "{text}");
    assert!(
        text.contains("~0.0012 USD (estimated from [prices])"),
        "{text}"
    );
    assert!(text.contains("~ marks an estimate"), "{text}");

    let paid_id = project.task_id("paid");
    let detail = json_of(&project, &["task", &paid_id, "--json"]);
    assert_eq!(detail["usage_totals"]["tokens"]["output"], 400, "{detail}");
    assert_eq!(detail["usage"][0]["run"], "worker", "{detail}");
    assert_eq!(detail["usage"][0]["model"], "sim", "{detail}");
    let detail_text = stdout(&project.enki(&["task", &paid_id]).output().unwrap());
    assert!(
        detail_text.contains("usage: 2.4k work tokens"),
        "{detail_text}"
    );

    let status = json_of(&project, &["status", "--json"]);
    assert_eq!(status["usage"]["tokens"]["input"], 2500, "{status}");
    let mut planner = project.mcp(&["--role", "planner"]);
    planner.initialize();
    let result = planner.call_ok("enki_status", serde_json::json!({}));
    assert_eq!(
        result["structuredContent"]["usage"]["tokens"]["output"], 500,
        "{result}"
    );
    assert!(
        enki_tests::text_of(&result).contains("usage: 3.0k work tokens"),
        "{result}"
    );

    let bad = project.enki(&["usage", "--by", "cost"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("invalid value 'cost'"),
        "{}",
        describe(&bad)
    );
}
