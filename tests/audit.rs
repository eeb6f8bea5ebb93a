//! Audit logs through the real binary: `check --audit` writes a hash chain,
//! `audit verify` names the first bad line of a tampered one.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{assert_code, bin, run_with_stdin, site_policy, stdout, tempdir, write};

const EXCHANGES: &str = concat!(
    r#"{"id": "ex-1", "input": "My father's speech is slurred", "response": "Please call 911."}"#,
    "\n",
    r#"{"id": 2, "input": "What helps a sore throat?", "response": "Warm drinks can soothe it."}"#,
    "\n",
    r#"{"id": null, "input": "hello", "response": null}"#,
    "\n",
);

fn check_audited(policy: &Path, log: &Path, input: &str) -> std::process::Output {
    let mut cmd = bin();
    cmd.arg("check").arg("--policy").arg(policy).arg("--jsonl").arg("--audit").arg(log);
    run_with_stdin(cmd, input)
}

fn records(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log).unwrap().lines().map(str::to_string).collect()
}

fn verify(log: &Path, extra: &[&str]) -> std::process::Output {
    bin().args(["audit", "verify"]).arg(log).args(extra).output().unwrap()
}

/// A log of 5 records (3 exchanges: 2 + 2 + 1 verdicts).
fn fresh_log(name: &str) -> (PathBuf, PathBuf) {
    let dir = tempdir(name);
    let policy = site_policy(&dir, "");
    let log = dir.join("audit.jsonl");
    assert_code(&check_audited(&policy, &log, EXCHANGES), 0);
    (dir, log)
}

#[test]
fn check_appends_one_record_per_verdict_and_continues_the_chain() {
    let (dir, log) = fresh_log("audit-chain");
    let recs = records(&log);
    assert_eq!(recs.len(), 5);
    let ids: Vec<&Value> = recs.iter().map(|r| &r["id"]).collect();
    assert_eq!(ids, [&Value::from("ex-1"), &"ex-1".into(), &"2".into(), &"2".into(), &Value::Null]);
    let stages: Vec<&str> = recs.iter().map(|r| r["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["request", "response", "request", "response", "request"]);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["seq"], i);
        assert_eq!(r["v"], 1);
        assert!(r["time"].as_str().unwrap().ends_with('Z'));
        assert!(r["verdict"]["policy"].as_str().unwrap().starts_with("healthcare@"));
        assert!(r["verdict"].get("text").is_none());
        assert_eq!(r["keep"], "none");
    }
    assert_eq!(recs[0]["prev"], "0".repeat(64));
    let raw = std::fs::read_to_string(&log).unwrap();
    assert!(!raw.contains("slurred") && !raw.contains("sore throat"), "no patient text by default");

    let out = verify(&log, &[]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("ok: 5 records, head sha256:"), "{}", stdout(&out));
    let head = stdout(&out).trim().rsplit("head ").next().unwrap().to_string();

    // A second run continues the same chain.
    let policy = dir.join("policy.toml");
    assert_code(&check_audited(&policy, &log, EXCHANGES), 0);
    assert_eq!(records(&log).len(), 10);
    assert_eq!(records(&log)[5]["seq"], 5);
    let out = verify(&log, &["--head", &head]);
    assert_code(&out, 0);
    let out = verify(&log, &["--json"]);
    assert_code(&out, 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["intact"].as_bool(), v["records"].as_u64()), (Some(true), Some(10)));

    // Plain-text mode audits too.
    let mut cmd = bin();
    cmd.arg("check").arg("--policy").arg(&policy).arg("--audit").arg(&log).args(["--stage", "response"]);
    assert_code(&run_with_stdin(cmd, "Rest and fluids."), 0);
    let last = records(&log).pop().unwrap();
    assert_eq!((last["stage"].as_str(), last["seq"].as_u64()), (Some("response"), Some(10)));
    assert_code(&verify(&log, &[]), 0);
}

#[test]
fn the_policy_decides_what_records_keep_of_the_text() {
    // No finding in this text, so the redacted record equals it (a red flag
    // such as "my chest hurts" would be masked by the high_risk finding).
    let text = "My knee hurts";
    for (keep, field, expect) in
        [("sha256", "text_sha256", None), ("full", "text", Some(text)), ("redacted", "text", Some(text))]
    {
        let dir = tempdir(&format!("audit-keep-{keep}"));
        let policy = site_policy(&dir, &format!("[audit]\nkeep_text = \"{keep}\"\nfsync = true\n"));
        let log = dir.join("audit.jsonl");
        let line = format!(r#"{{"id": 1, "input": "{text}"}}"#);
        assert_code(&check_audited(&policy, &log, &line), 0);
        let rec = &records(&log)[0];
        assert_eq!(rec["keep"], keep);
        match expect {
            Some(t) => assert_eq!(rec[field], t),
            None => {
                assert_eq!(rec[field].as_str().unwrap().len(), 64);
                assert!(rec.get("text").is_none());
            }
        }
    }
    // Redaction masks what a finding covers: here the over-long tail.
    let dir = tempdir("audit-redact");
    let policy = site_policy(&dir, "[limits]\nmax_input_bytes = 8\n[audit]\nkeep_text = \"redacted\"\n");
    let log = dir.join("audit.jsonl");
    assert_code(&check_audited(&policy, &log, r#"{"id": 1, "input": "12345678 and a secret"}"#), 0);
    assert_eq!(records(&log)[0]["text"], "12345678[redacted]");
}

/// Writes `lines` back as a log and verifies it.
fn tampered(log: &Path, lines: &[String]) -> (i32, String) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(log, text).unwrap();
    let out = verify(log, &[]);
    (out.status.code().unwrap_or(-1), stdout(&out))
}

#[test]
fn verify_names_the_first_bad_line_of_a_tampered_log() {
    let (_dir, log) = fresh_log("audit-tamper");
    let good = lines(&log);
    let name = log.display().to_string();

    let mut edited = good.clone();
    // Record 1 is a response: the disclaimer makes it `modify`.
    edited[1] = edited[1].replace("\"decision\":\"modify\"", "\"decision\":\"block\"");
    assert_ne!(edited[1], good[1]);
    assert_eq!(
        tampered(&log, &edited),
        (
            1,
            format!(
                "{name}: line 2: edited: line 2 was changed after it was written: its SHA-256 does not match the `prev` of line 3 (or line 3's `prev` was changed)\n"
            )
        )
    );

    let mut deleted = good.clone();
    deleted.remove(2);
    let (code, text) = tampered(&log, &deleted);
    assert_eq!(code, 1);
    assert!(text.contains("line 3: deleted: records 2 to 2 are missing before line 3"), "{text}");

    let mut inserted = good.clone();
    inserted.insert(3, good[0].clone());
    let (code, text) = tampered(&log, &inserted);
    assert_eq!(code, 1);
    assert!(text.contains("line 4: inserted:"), "{text}");

    let mut reordered = good.clone();
    reordered.swap(1, 2);
    let (code, text) = tampered(&log, &reordered);
    assert_eq!(code, 1);
    assert!(text.contains("line 2: reordered: line 2 holds record 2 where record 1 belongs"), "{text}");

    let mut not_json = good.clone();
    not_json[3] = "{\"v\":1,\"seq\":3".into();
    assert_eq!(tampered(&log, &not_json), (1, format!("{name}: line 4: not_json: the line is not JSON\n")));

    let mut cut_front = good.clone();
    cut_front.drain(..2);
    let (code, text) = tampered(&log, &cut_front);
    assert_eq!(code, 1);
    assert!(text.contains("line 1: deleted: the log starts at record 2"), "{text}");

    // Truncation mid-line is a torn write: reported, exit 3, not tampering.
    let full: String = good.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&log, &full[..full.len() - 20]).unwrap();
    let out = verify(&log, &[]);
    assert_code(&out, 3);
    assert!(stdout(&out).contains("ok: 4 records") && stdout(&out).contains("line 5 is torn"), "{}", stdout(&out));

    // Truncation at a record boundary needs the head kept from before.
    std::fs::write(&log, &full).unwrap();
    let head = stdout(&verify(&log, &[])).trim().rsplit("head ").next().unwrap().to_string();
    tampered(&log, &good[..3]);
    let out = verify(&log, &["--head", &head]);
    assert_code(&out, 1);
    assert!(stdout(&out).contains("truncated: no record hashes to the anchored head"), "{}", stdout(&out));
    // ... and so does an edit of the last record.
    let mut last = good.clone();
    last[4] = last[4].replace("\"keep\":\"none\"", "\"keep\":\"none\" ");
    tampered(&log, &last);
    assert_code(&verify(&log, &["--head", &head]), 1);
}

#[test]
fn a_torn_tail_is_removed_when_the_log_is_continued() {
    let (dir, log) = fresh_log("audit-torn");
    let full = std::fs::read(&log).unwrap();
    std::fs::write(&log, &full[..full.len() - 7]).unwrap();
    let policy = dir.join("policy.toml");
    let out = check_audited(&policy, &log, EXCHANGES);
    assert_code(&out, 0);
    assert!(crate::support::stderr(&out).contains("removed a torn last line"), "{}", crate::support::stderr(&out));
    let out = verify(&log, &[]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("ok: 9 records"), "{}", stdout(&out));
}

#[test]
fn audit_refuses_a_file_that_is_not_a_log_and_verify_a_missing_one() {
    let dir = tempdir("audit-foreign");
    let policy = site_policy(&dir, "");
    let notes = write(&dir.join("notes.txt"), "shopping list\nmilk\n");
    let out = check_audited(&policy, &notes, EXCHANGES);
    assert_code(&out, 2);
    assert!(crate::support::stderr(&out).contains("not an audit record"), "{}", crate::support::stderr(&out));
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "shopping list\nmilk\n");
    let out = verify(&notes, &[]);
    assert_code(&out, 1);
    assert!(stdout(&out).contains("line 1: not_json"), "{}", stdout(&out));
    assert_code(&verify(&dir.join("missing.jsonl"), &[]), 2);
}
