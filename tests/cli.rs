//! The real `medguard` binary, run as a process.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_medguard"))
}

/// A fresh scratch directory for one test.
fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("medguard-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// A policy file for the binary. Until the built-in checks land, the
/// built-in policy has no mandatory checks, so the tests opt out explicitly.
fn policy_file(dir: &std::path::Path) -> PathBuf {
    let text = medguard::policy::BUILTIN_POLICY_TOML
        .replace("dangerous_allow_missing_safety_checks = false", "dangerous_allow_missing_safety_checks = true");
    let path = dir.join("policy.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_jsonl_answers_every_line_and_survives_a_malformed_one() {
    let dir = tempdir("jsonl");
    let input = dir.join("in.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"id": 1, "input": "What helps with a sore throat?", "response": "Warm drinks can soothe it."}"#,
            "\n",
            "{not json\n",
            r#"{"id": "three", "input": null, "response": "Rest and fluids."}"#,
            "\n",
            r#"{"id": 4, "input": "hello"}"#,
            "\n",
        ),
    )
    .unwrap();
    let mut cmd = bin();
    cmd.arg("check").arg("--policy").arg(policy_file(&dir)).arg("--jsonl").arg(&input);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[0]["id"], 1);
    assert!(lines[0]["request"]["decision"].is_string());
    assert!(lines[0]["response"]["decision"].is_string());
    assert_eq!(lines[1]["line"], 2);
    assert!(lines[1]["error"].as_str().unwrap().contains("malformed"));
    assert_eq!(lines[2]["id"], "three");
    assert!(lines[2]["request"].is_null());
    assert!(lines[2]["response"]["text"].is_string());
    assert!(lines[3]["response"].is_null());
}

#[test]
fn check_plain_text_from_stdin_prints_one_verdict() {
    let dir = tempdir("plain");
    let mut cmd = bin();
    cmd.arg("check").arg("--policy").arg(policy_file(&dir));
    let out = run_with_stdin(cmd, "What helps with a sore throat?");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["text"], "What helps with a sore throat?");
}

#[test]
fn eval_reports_per_label_rates_and_skips_bad_rows() {
    let dir = tempdir("eval");
    let data = dir.join("labelled.jsonl");
    std::fs::write(
        &data,
        concat!(
            r#"{"text": "What helps with a sore throat?", "label": "benign", "lang": "en"}"#,
            "\n",
            r#"{"text": "Is ibuprofen safe with food?", "label": "benign", "lang": "es"}"#,
            "\n",
            "not json\n",
            r#"{"text": "no label here"}"#,
            "\n",
            r#"{"input": "hi", "response": "hello", "label": "benign", "lang": "en"}"#,
            "\n",
        ),
    )
    .unwrap();
    let out = bin()
        .args(["eval", "--json", "--by", "lang", "--filter", "lang=en", "--policy"])
        .arg(policy_file(&dir))
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows"], 2, "{report}");
    // "not json" is skipped; the unlabelled row has no `lang` and is filtered out.
    assert_eq!(report["skipped_rows"], 1, "{report}");
    assert_eq!(report["labels"][0]["label"], "benign");
    assert_eq!(report["labels"][0]["positive"], false);
    assert_eq!(report["by_field"]["lang"]["en"]["benign"]["rows"], 2);
    assert!(report["by_field"]["lang"].get("es").is_none());

    let out = bin().args(["eval", "--signal", "nonsense"]).arg(&data).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--signal"));
}
