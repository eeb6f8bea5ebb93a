//! Measures the `injection` check on labelled JSONL files.
//!
//! ```text
//! cargo run --release --example eval_injection -- [--preset balanced|strict] [--positive L1,L2]
//!     [--by FIELD] [--filter FIELD=VALUE]... [--rules] [--show-errors N] FILE.jsonl...
//! ```
//!
//! Each line is an object with `text` and `label` (and any other fields for
//! `--by` / `--filter`). A row is *flagged* when the check reports at least
//! one finding (under the default `block` action that means the request is
//! blocked). Rows whose label is in `--positive` (default
//! `injection,jailbreak,indirect_injection`) count toward recall, all others
//! toward the false-positive rate.
//!
//! `--rules` prints how often each rule fired and `--show-errors N` prints
//! up to N misclassified rows. Use them on training data only: never pick
//! rules or thresholds by looking at the errors on evaluation-only corpora
//! (see `testdata/SOURCES.md`).
//!
//! The check runs alone (no sanitizer, no clinical checks), with the
//! built-in healthcare policy's `[injection]` section.

use std::collections::BTreeMap;
use std::process::ExitCode;

use medguard::checks::injection::{Injection, InjectionConfig, Preset};
use medguard::{Guardrail, Policy, Scratch};
use serde_json::Value;

#[derive(Default)]
struct Tally {
    rows: usize,
    flagged: usize,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut preset: Option<Preset> = None;
    let mut positive: Vec<String> = vec!["injection".into(), "jailbreak".into(), "indirect_injection".into()];
    let mut by: Option<String> = None;
    let mut filters: Vec<(String, String)> = Vec::new();
    let mut show_rules = false;
    let mut show_errors = 0usize;
    let mut files = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let val = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--preset" => {
                preset = Some(if val == "strict" { Preset::Strict } else { Preset::Balanced });
                i += 1;
            }
            "--positive" => {
                positive = val.split(',').map(str::to_string).collect();
                i += 1;
            }
            "--by" => {
                by = Some(val);
                i += 1;
            }
            "--filter" => {
                if let Some((k, v)) = val.split_once('=') {
                    filters.push((k.to_string(), v.to_string()));
                }
                i += 1;
            }
            "--rules" => show_rules = true,
            "--show-errors" => {
                show_errors = val.parse().unwrap_or(0);
                i += 1;
            }
            f => files.push(f.to_string()),
        }
        i += 1;
    }
    if files.is_empty() {
        eprintln!(
            "usage: eval_injection [--preset balanced|strict] [--positive L,..] [--by FIELD] [--filter F=V] [--rules] [--show-errors N] FILE.jsonl..."
        );
        return ExitCode::from(2);
    }
    let mut policy = match Policy::builtin() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(p) = preset {
        policy.injection.preset = p;
    }
    let config: InjectionConfig = policy.injection.clone();
    let check = match Injection::new(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    policy.pipeline.checks.clear();
    policy.pipeline.dangerous_allow_missing_safety_checks = true;
    let guard = match Guardrail::builder().policy(&policy).check(check).collect_all_findings(true).build() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut scratch = Scratch::new();
    let field = |v: &Value, k: &str| match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "(none)".into(),
        Some(other) => other.to_string(),
    };
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{file}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut tallies: BTreeMap<(String, String), Tally> = BTreeMap::new();
        let mut rules: BTreeMap<String, usize> = BTreeMap::new();
        let mut errors = 0usize;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
            if !filters.iter().all(|(k, want)| field(&v, k) == *want) {
                continue;
            }
            let Some(t) = v.get("text").and_then(Value::as_str) else { continue };
            let label = field(&v, "label");
            let verdict = guard.check_request_with(&mut scratch, t);
            let fired: Vec<&str> =
                verdict.findings().iter().filter(|f| f.check() == "injection").map(|f| f.rule()).collect();
            let spans: Vec<String> = verdict
                .findings()
                .iter()
                .filter(|f| f.check() == "injection" && f.rule() != "injection.model")
                .map(|f| {
                    format!(
                        "{}={:?}",
                        f.rule(),
                        t.get(f.span().range()).unwrap_or("").chars().take(80).collect::<String>()
                    )
                })
                .collect();
            let flagged = !fired.is_empty();
            for r in &fired {
                *rules.entry((*r).to_string()).or_default() += 1;
            }
            let group = by.as_ref().map_or_else(String::new, |b| field(&v, b));
            let e = tallies.entry((label.clone(), group)).or_default();
            e.rows += 1;
            e.flagged += usize::from(flagged);
            let is_pos = positive.contains(&label);
            if errors < show_errors && flagged != is_pos {
                errors += 1;
                let rs = if fired.is_empty() { "-".to_string() } else { fired.join(",") };
                let short: String = t.chars().take(200).collect::<String>().replace('\n', " ");
                println!("  ERR [{label}] {rs} :: {short}");
                for sp in &spans {
                    println!("      {sp}");
                }
            }
        }
        println!("{file}");
        println!(
            "  {:<22} {:<28} {:>6} {:>8} {:>8}  metric",
            "label",
            by.as_deref().unwrap_or(""),
            "rows",
            "flagged",
            "rate"
        );
        let mut pos = Tally::default();
        let mut neg = Tally::default();
        for ((label, group), t) in &tallies {
            let is_pos = positive.contains(label);
            let metric = if is_pos { "recall" } else { "false-positive rate" };
            println!(
                "  {:<22} {:<28} {:>6} {:>8} {:>7.2}%  {metric}",
                label,
                group,
                t.rows,
                t.flagged,
                100.0 * t.flagged as f64 / t.rows.max(1) as f64
            );
            let acc = if is_pos { &mut pos } else { &mut neg };
            acc.rows += t.rows;
            acc.flagged += t.flagged;
        }
        if pos.rows > 0 {
            println!("  recall {}/{} = {:.2}%", pos.flagged, pos.rows, 100.0 * pos.flagged as f64 / pos.rows as f64);
        }
        if neg.rows > 0 {
            println!(
                "  false-positive rate {}/{} = {:.2}%",
                neg.flagged,
                neg.rows,
                100.0 * neg.flagged as f64 / neg.rows as f64
            );
        }
        if show_rules {
            for (r, n) in &rules {
                println!("    {r:<55} {n}");
            }
        }
    }
    ExitCode::SUCCESS
}
