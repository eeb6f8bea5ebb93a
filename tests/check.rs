//! `medguard check` and `medguard eval` flows through the real binary:
//! exit status with `--fail-on`, bounded streaming, progress output, stdin.

use serde_json::Value;

use crate::support::{assert_code, bin, run_with_stdin, site_policy, stderr, stdout, tempdir, write};

fn jsonl(out: &std::process::Output) -> Vec<Value> {
    stdout(out).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn fail_on_turns_blocked_verdicts_into_exit_status_1() {
    let dir = tempdir("check-fail-on");
    // No check blocks yet on this branch, but the size gate does.
    let policy = site_policy(&dir, "[limits]\nmax_input_bytes = 16\n");
    let run = |fail_on: Option<&str>, text: &str| {
        let mut cmd = bin();
        cmd.arg("check").arg("--policy").arg(&policy);
        if let Some(f) = fail_on {
            cmd.args(["--fail-on", f]);
        }
        run_with_stdin(cmd, text)
    };
    let long = "this message is longer than sixteen bytes";
    assert_code(&run(None, long), 0);
    assert_code(&run(Some("blocked"), long), 1);
    assert_code(&run(Some("any"), long), 1);
    assert_code(&run(Some("escalated"), long), 0);
    assert_code(&run(Some("blocked"), "short"), 0);
    let v: Value = serde_json::from_slice(&run(Some("blocked"), long).stdout).unwrap();
    assert_eq!(v["decision"], "block");
    assert_eq!(v["findings"][0]["rule"], "sanitizer.too_long");

    // In JSON lines, any line's request or response counts.
    let mut cmd = bin();
    cmd.arg("check").arg("--policy").arg(&policy).args(["--jsonl", "--fail-on", "blocked"]);
    let input =
        format!("{{\"id\": 1, \"input\": \"ok\"}}\n{{\"id\": 2, \"input\": \"ok\", \"response\": \"{long}\"}}\n");
    let out = run_with_stdin(cmd, input);
    assert_code(&out, 1);
    assert_eq!(jsonl(&out).len(), 2);
}

#[test]
fn over_long_lines_get_an_error_and_the_stream_goes_on() {
    let dir = tempdir("check-long");
    let policy = site_policy(&dir, "");
    // 64 MiB in one line, streamed through stdin with a 1 MiB line bound:
    // the line is skipped without being held.
    let mut input = Vec::with_capacity(65 << 20);
    input.extend_from_slice(b"{\"id\": 1, \"input\": \"ok\"}\n{\"id\": 2, \"input\": \"");
    input.resize(input.len() + (64 << 20), b'a');
    input.extend_from_slice(
        b"\"}\n\xff\xfe not utf-8\n\n{\"id\": 3, \"response\": \"fine\"}\n{\"id\": 4, \"label\": \"x\"}\n",
    );
    let mut cmd = bin();
    cmd.arg("check").arg("--policy").arg(&policy).args(["--jsonl", "--max-line-bytes", "1048576"]);
    let out = run_with_stdin(cmd, input);
    assert_code(&out, 0);
    let lines = jsonl(&out);
    assert_eq!(lines.len(), 5, "{}", stdout(&out));
    assert_eq!(lines[0]["id"], 1);
    assert_eq!(lines[1]["line"], 2);
    assert!(lines[1]["error"].as_str().unwrap().contains("longer than 1048576 bytes"));
    assert_eq!(lines[2]["line"], 3);
    assert!(lines[2]["error"].as_str().unwrap().contains("UTF-8"));
    assert_eq!(lines[3]["id"], 3);
    assert_eq!(lines[3]["response"]["decision"], "allow");
    assert!(lines[4]["error"].as_str().unwrap().contains("unknown field `label`"));
    // The verdicts keep the contract's field order.
    assert!(stdout(&out).lines().next().unwrap().contains(r#"{"decision":"allow","escalation":null,"text":"ok","#));

    // Plain text is bounded the same way.
    let mut cmd = bin();
    cmd.arg("check").arg("--policy").arg(&policy).args(["--max-line-bytes", "10"]);
    let out = run_with_stdin(cmd, "more than ten bytes");
    assert_code(&out, 2);
    assert!(stderr(&out).contains("longer than 10 bytes"), "{}", stderr(&out));
}

#[test]
fn long_files_stream_with_no_progress_output_when_piped() {
    let dir = tempdir("check-progress");
    let policy = site_policy(&dir, "");
    let line = r#"{"id": 1, "input": "What helps with a sore throat?", "response": "Warm drinks."}"#;
    let input = format!("{line}\n").repeat(20_000);
    assert!(input.len() > 1 << 20);
    let file = write(&dir.join("big.jsonl"), &input);
    let out = bin().arg("check").arg("--policy").arg(&policy).arg("--jsonl").arg(&file).output().unwrap();
    assert_code(&out, 0);
    assert_eq!(stdout(&out).lines().count(), 20_000);
    assert!(out.stderr.is_empty(), "stderr is not a terminal: no bar, no summary: {}", stderr(&out));
    // `-` and no file both read standard input.
    for args in [vec!["--jsonl", "-"], vec!["--jsonl"]] {
        let mut cmd = bin();
        cmd.arg("check").arg("--policy").arg(&policy).args(&args);
        let out = run_with_stdin(cmd, format!("{line}\n{line}\n"));
        assert_code(&out, 0);
        assert_eq!(jsonl(&out).len(), 2);
    }
}

#[test]
fn eval_judges_an_exchange_by_both_of_its_verdicts() {
    let dir = tempdir("eval-exchange");
    let policy = site_policy(&dir, "[limits]\nmax_input_bytes = 16\n");
    // The request is blocked by the size gate; the response is fine. The
    // exchange was stopped, so `block` and `check:sanitizer` count it.
    let data = write(
        &dir.join("rows.jsonl"),
        concat!(
            r#"{"input": "a request that is far too long", "response": "ok", "label": "attack"}"#,
            "\n",
            r#"{"input": "short", "response": "ok", "label": "benign"}"#,
            "\n",
        ),
    );
    for signal in ["block", "check:sanitizer", "intervene"] {
        let out =
            bin().args(["eval", "--json", "--signal", signal, "--policy"]).arg(&policy).arg(&data).output().unwrap();
        assert_code(&out, 0);
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["confusion"]["true_positive"], 1, "{signal}: {r}");
        assert_eq!(r["confusion"]["false_positive"], 0, "{signal}: {r}");
    }
}

#[test]
fn chunked_responses_through_the_stream_guard_equal_the_whole_text_run() {
    let dir = tempdir("check-chunk");
    let policy = site_policy(&dir, "");
    let answer = "Drink plenty of fluids. Rest as much as you can. ".repeat(40);
    let input = format!(
        "{}\n{}\n",
        serde_json::json!({"id": 1, "input": "How do I get over a cold?", "response": answer}),
        serde_json::json!({"id": 2, "response": "Short answer with é and e\u{301}."}),
    );
    let input_path = write(&dir.join("in.jsonl"), &input);
    let run = |chunk: Option<&str>| {
        let mut cmd = bin();
        cmd.arg("check").arg("--policy").arg(&policy).arg("--jsonl");
        if let Some(n) = chunk {
            cmd.args(["--chunk", n]);
        }
        let out = cmd.arg(&input_path).output().unwrap();
        assert_code(&out, 0);
        stdout(&out)
    };
    let whole = run(None);
    for n in ["1", "7", "100000"] {
        assert_eq!(run(Some(n)), whole, "--chunk {n}");
    }
    let out = bin().args(["check", "--chunk", "0"]).output().unwrap();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("chunk"), "{}", stderr(&out));
}
