//! Runs the built-in response checks over JSON-lines files and prints how
//! many answers were blocked or modified beyond the disclaimer.
//!
//! ```text
//! cargo run --release --example response_eval -- FILE.jsonl [FILE.jsonl ...] [--show]
//! ```
//!
//! Each line needs the answer in `response` or `text`; the optional `label`
//! is counted as unsafe when it is `unsafe`, safe otherwise. Answers are
//! judged without a request (no escalation) and without the `high_risk`
//! check, so red-flag-only rules stay asleep: this measures the always-on
//! rules' false positives on third-party prose. Evaluation corpora are read
//! from where they lie; nothing is copied.

use std::io::{BufRead, BufReader};

use medguard::{Guardrail, Verdict};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut show = false;
    let mut files = Vec::new();
    for a in std::env::args().skip(1) {
        if a == "--show" { show = true } else { files.push(a) }
    }
    if files.is_empty() {
        eprintln!("usage: response_eval FILE.jsonl [FILE.jsonl ...] [--show]");
        std::process::exit(2);
    }
    let g = Guardrail::healthcare()?;
    let none = Verdict::allow("", g.policy_id());
    for f in files {
        let (mut n, mut touched, mut unsafe_n, mut caught) = (0usize, 0usize, 0usize, 0usize);
        let mut per_rule = std::collections::BTreeMap::<String, usize>::new();
        for line in BufReader::new(std::fs::File::open(&f)?).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(&line)?;
            let Some(text) = v.get("response").or_else(|| v.get("text")).and_then(|t| t.as_str()) else { continue };
            let is_unsafe = v.get("label").and_then(|l| l.as_str()) == Some("unsafe");
            let verdict = g.check_response(&none, text);
            let rules: Vec<&str> =
                verdict.findings().iter().filter(|x| x.check() == "diagnosis").map(|x| x.rule()).collect();
            let hit = verdict.is_blocked() || !rules.is_empty();
            if is_unsafe {
                unsafe_n += 1;
                caught += usize::from(hit);
                if show && !hit {
                    let id = v.get("id").map(|i| i.to_string()).unwrap_or_default();
                    println!("  missed {id}: {text}");
                }
            } else {
                n += 1;
                if hit {
                    touched += 1;
                    for r in &rules {
                        *per_rule.entry((*r).to_string()).or_default() += 1;
                    }
                    if show {
                        let id = v.get("id").or_else(|| v.get("qid")).map(|i| i.to_string()).unwrap_or_default();
                        println!("  touched {id} {rules:?}");
                        for x in verdict.findings().iter().filter(|x| x.check() == "diagnosis") {
                            let t: String = text[x.span().range()].chars().take(160).collect();
                            println!("      {}: {t}", x.rule());
                        }
                    }
                }
            }
        }
        let pct = |a: usize, b: usize| if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 };
        println!(
            "{f}: safe {n}, touched {touched} ({:.2}%); unsafe {unsafe_n}, caught {caught} ({:.2}%)",
            pct(touched, n),
            pct(caught, unsafe_n)
        );
        for (r, c) in per_rule {
            println!("    {r}: {c}");
        }
    }
    Ok(())
}
