//! `medguard eval`: run labelled JSON lines through the guardrail and report
//! recall and false-positive rates per label, per category and per field.
//!
//! Rows are `{"text", "label", ...}` (judged at `--stage`) or exchanges
//! `{"input", "response", "label", ...}` (the response judged in the context
//! of the request; a row without a response is judged on its request). An
//! exchange is predicted positive when either of its verdicts is: a blocked
//! request never reaches the model, and a red flag or injection found in the
//! request is the guard's answer for the whole exchange. The text of a row
//! is never printed: misses are listed by file and line.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use medguard::{Decision, Guardrail, Severity, Verdict};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::lines::{DEFAULT_MAX_LINE_BYTES, Line, Lines};
use crate::{StageArg, load_guardrail};

/// Labels treated as negatives unless `--positive` says otherwise.
const NEGATIVE_LABELS: [&str; 6] = ["benign", "health_information", "clinical_note", "no_leak", "safe", "allow"];

#[derive(clap::Args, Debug)]
pub(crate) struct EvalArgs {
    /// Policy file; default: the built-in healthcare policy.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// What counts as a positive prediction: `block`, `escalate`,
    /// `intervene` (block, or modify by a check other than the disclaimer),
    /// `flag` (block or escalate), or `check:ID` (a finding of that check at
    /// `--min-severity` or above).
    #[arg(long, default_value = "flag")]
    signal: String,
    /// Least severity a finding needs to count for `check:ID` and
    /// `intervene`.
    #[arg(long, default_value = "warning")]
    min_severity: String,
    /// Labels that are positives (comma-separated). Default: every label
    /// except benign, health_information, clinical_note, no_leak, safe, allow.
    #[arg(long, value_delimiter = ',')]
    positive: Vec<String>,
    /// Stage for `{"text"}` rows.
    #[arg(long, value_enum, default_value_t = StageArg::Request)]
    stage: StageArg,
    /// Break the rates down by the values of this row field (repeatable).
    #[arg(long, value_name = "FIELD")]
    by: Vec<String>,
    /// Keep only rows whose FIELD equals VALUE (repeatable; all must hold).
    #[arg(long, value_name = "FIELD=VALUE")]
    filter: Vec<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// List the file:line of every false negative and false positive.
    #[arg(long)]
    list_misses: bool,
    /// Labelled JSONL files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

enum Signal {
    Block,
    Escalate,
    Intervene,
    Flag,
    Check(String),
}

#[derive(Default, Serialize, Clone)]
struct Counts {
    rows: u64,
    predicted_positive: u64,
}

impl Counts {
    fn add(&mut self, predicted: bool) {
        self.rows += 1;
        self.predicted_positive += u64::from(predicted);
    }
    fn rate(&self) -> f64 {
        if self.rows == 0 { 0.0 } else { self.predicted_positive as f64 / self.rows as f64 }
    }
}

#[derive(Default, Serialize)]
struct Confusion {
    true_positive: u64,
    false_negative: u64,
    false_positive: u64,
    true_negative: u64,
}

#[derive(Serialize)]
struct LabelReport {
    label: String,
    positive: bool,
    rows: u64,
    predicted_positive: u64,
    /// Recall for a positive label, false-positive rate for a negative one.
    rate: f64,
}

#[derive(Default, Serialize)]
struct Report {
    policy: String,
    signal: String,
    files: Vec<String>,
    rows: u64,
    skipped_rows: u64,
    labels: Vec<LabelReport>,
    confusion: Confusion,
    recall: Option<f64>,
    false_positive_rate: Option<f64>,
    precision: Option<f64>,
    /// label -> escalation category -> rows escalated with it.
    escalations_by_label: BTreeMap<String, BTreeMap<String, u64>>,
    /// label -> finding category -> rows with a finding of it (at
    /// `--min-severity` or above).
    finding_categories_by_label: BTreeMap<String, BTreeMap<String, u64>>,
    /// Rows with a `category` field: that category -> counts.
    by_row_category: BTreeMap<String, Counts>,
    /// FIELD -> value -> label -> counts.
    by_field: BTreeMap<String, BTreeMap<String, BTreeMap<String, Counts>>>,
    misses: Vec<String>,
}

pub(crate) fn run_eval(args: &EvalArgs) -> Result<(), String> {
    let signal = parse_signal(&args.signal)?;
    let min_severity = parse_severity(&args.min_severity)?;
    let guard = load_guardrail(args.policy.as_deref())?;
    let filters: Vec<(String, String)> = args
        .filter
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or(format!("--filter {f}: expected FIELD=VALUE"))
        })
        .collect::<Result<_, _>>()?;
    let is_positive = |label: &str| {
        if args.positive.is_empty() {
            !NEGATIVE_LABELS.contains(&label)
        } else {
            args.positive.iter().any(|p| p == label)
        }
    };

    let mut report = Report { policy: guard.policy_id().to_string(), signal: args.signal.clone(), ..Report::default() };
    let mut per_label: BTreeMap<String, Counts> = BTreeMap::new();
    for path in &args.files {
        report.files.push(path.display().to_string());
        let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // Bounded lines: an over-long line is skipped (and counted), never
        // held whole.
        let mut lines = Lines::new(file, DEFAULT_MAX_LINE_BYTES);
        while let Some((n, line)) = lines.next().map_err(|e| format!("{}: {e}", path.display()))? {
            let line = match line {
                Line::Ok(bytes) => bytes,
                Line::TooLong => {
                    report.skipped_rows += 1;
                    continue;
                }
            };
            let Ok(Value::Object(row)) = serde_json::from_slice::<Value>(line) else {
                if !line.iter().all(u8::is_ascii_whitespace) {
                    report.skipped_rows += 1;
                }
                continue;
            };
            if !filters.iter().all(|(k, v)| row.get(k).is_some_and(|x| field_string(x) == *v)) {
                continue;
            }
            let Some(label) = row.get("label").map(field_string) else {
                report.skipped_rows += 1;
                continue;
            };
            let Some((request, judged)) = judge(&guard, &row, args.stage) else {
                report.skipped_rows += 1;
                continue;
            };
            let predicted = predict(&signal, request.as_ref(), &judged, min_severity);
            let positive = is_positive(&label);
            report.rows += 1;
            per_label.entry(label.clone()).or_default().add(predicted);
            let c = &mut report.confusion;
            match (positive, predicted) {
                (true, true) => c.true_positive += 1,
                (true, false) => c.false_negative += 1,
                (false, true) => c.false_positive += 1,
                (false, false) => c.true_negative += 1,
            }
            if args.list_misses && positive != predicted {
                let kind = if positive { "false negative" } else { "false positive" };
                report.misses.push(format!("{}:{n}: {kind} ({label})", path.display()));
            }
            if let Some(e) = judged.escalation() {
                *report
                    .escalations_by_label
                    .entry(label.clone())
                    .or_default()
                    .entry(e.category().to_string())
                    .or_default() += 1;
            }
            let mut cats: Vec<&str> = request
                .iter()
                .flat_map(|r| r.findings())
                .chain(judged.findings())
                .filter(|f| f.severity() >= min_severity)
                .map(|f| f.category())
                .collect();
            cats.sort_unstable();
            cats.dedup();
            for cat in cats {
                *report
                    .finding_categories_by_label
                    .entry(label.clone())
                    .or_default()
                    .entry(cat.to_string())
                    .or_default() += 1;
            }
            if let Some(cat) = row.get("category") {
                report.by_row_category.entry(field_string(cat)).or_default().add(predicted);
            }
            for field in &args.by {
                let value = row.get(field).map_or_else(|| "(none)".to_string(), field_string);
                report
                    .by_field
                    .entry(field.clone())
                    .or_default()
                    .entry(value)
                    .or_default()
                    .entry(label.clone())
                    .or_default()
                    .add(predicted);
            }
        }
    }
    for (label, counts) in per_label {
        report.labels.push(LabelReport {
            positive: is_positive(&label),
            rate: counts.rate(),
            rows: counts.rows,
            predicted_positive: counts.predicted_positive,
            label,
        });
    }
    let c = &report.confusion;
    let ratio = |a: u64, b: u64| if a + b == 0 { None } else { Some(a as f64 / (a + b) as f64) };
    report.recall = ratio(c.true_positive, c.false_negative);
    report.false_positive_rate = ratio(c.false_positive, c.true_negative);
    report.precision = ratio(c.true_positive, c.false_positive);

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report).map_err(|e| e.to_string())?;
        writeln!(out).map_err(|e| e.to_string())?;
    } else {
        print_text(&mut out, &report, &per_label_positive(&report)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn per_label_positive(report: &Report) -> BTreeMap<String, bool> {
    report.labels.iter().map(|l| (l.label.clone(), l.positive)).collect()
}

/// Runs one row; returns the request verdict (for exchanges) and the judged
/// verdict.
fn judge(
    guard: &Guardrail,
    row: &Map<String, Value>,
    stage: StageArg,
) -> Option<(Option<Verdict<'static>>, Verdict<'static>)> {
    let text = |k: &str| row.get(k).and_then(Value::as_str);
    if row.contains_key("input") || row.contains_key("response") {
        let request = text("input").map(|t| guard.check_request(t).into_owned());
        return match text("response") {
            Some(resp) => {
                let empty = Verdict::allow("", guard.policy_id());
                let judged = guard.check_response(request.as_ref().unwrap_or(&empty), resp).into_owned();
                Some((request, judged))
            }
            None => request.map(|r| (None, r)),
        };
    }
    let t = text("text")?;
    let judged = match stage {
        StageArg::Request => guard.check_request(t).into_owned(),
        StageArg::Response => guard.check_response(&Verdict::allow("", guard.policy_id()), t).into_owned(),
    };
    Some((None, judged))
}

/// Whether the exchange (its request verdict, if any, and the judged
/// verdict) is a positive prediction.
fn predict(signal: &Signal, request: Option<&Verdict<'_>>, judged: &Verdict<'_>, min: Severity) -> bool {
    request.into_iter().chain(std::iter::once(judged)).any(|v| predict_one(signal, v, min))
}

fn predict_one(signal: &Signal, v: &Verdict<'_>, min: Severity) -> bool {
    match signal {
        Signal::Block => v.is_blocked(),
        Signal::Escalate => v.is_escalated(),
        Signal::Flag => v.is_blocked() || v.is_escalated(),
        Signal::Intervene => {
            v.is_blocked()
                || (v.decision() == Decision::Modify
                    && v.findings().iter().any(|f| f.check() != "disclaimer" && f.severity() >= min))
        }
        Signal::Check(id) => v.findings().iter().any(|f| f.check() == id && f.severity() >= min),
    }
}

fn parse_signal(s: &str) -> Result<Signal, String> {
    Ok(match s {
        "block" => Signal::Block,
        "escalate" => Signal::Escalate,
        "intervene" => Signal::Intervene,
        "flag" => Signal::Flag,
        other => match other.strip_prefix("check:") {
            Some(id) if !id.is_empty() => Signal::Check(id.to_string()),
            _ => return Err(format!("unknown --signal `{other}` (block, escalate, intervene, flag, check:ID)")),
        },
    })
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    serde_json::from_value(Value::String(s.to_string()))
        .map_err(|_| format!("unknown severity `{s}` (info, advisory, warning, high, urgent, emergency)"))
}

fn field_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn print_text(out: &mut impl Write, r: &Report, positive: &BTreeMap<String, bool>) -> std::io::Result<()> {
    writeln!(out, "policy: {}", r.policy)?;
    writeln!(out, "signal: {}", r.signal)?;
    writeln!(out, "files:  {}", r.files.join(", "))?;
    writeln!(out, "rows:   {} ({} skipped)", r.rows, r.skipped_rows)?;
    writeln!(out)?;
    writeln!(out, "{:<28} {:>8} {:>9} {:>10}  measure", "label", "rows", "flagged", "rate")?;
    for l in &r.labels {
        let measure = if l.positive { "recall" } else { "false-positive rate" };
        writeln!(out, "{:<28} {:>8} {:>9} {:>10}  {measure}", l.label, l.rows, l.predicted_positive, pct(l.rate))?;
    }
    let c = &r.confusion;
    writeln!(out)?;
    writeln!(
        out,
        "confusion: TP {}  FN {}  FP {}  TN {}",
        c.true_positive, c.false_negative, c.false_positive, c.true_negative
    )?;
    let opt = |x: Option<f64>| x.map_or_else(|| "n/a".to_string(), pct);
    writeln!(
        out,
        "recall {}  false-positive rate {}  precision {}",
        opt(r.recall),
        opt(r.false_positive_rate),
        opt(r.precision)
    )?;
    if !r.escalations_by_label.is_empty() {
        writeln!(out)?;
        writeln!(out, "escalations per label and category (rows, share of the label's rows):")?;
        for (label, cats) in &r.escalations_by_label {
            let n = r.labels.iter().find(|l| &l.label == label).map_or(0, |l| l.rows);
            for (cat, k) in cats {
                writeln!(out, "  {label:<26} {cat:<22} {k:>6}  {}", pct(*k as f64 / n.max(1) as f64))?;
            }
        }
    }
    if !r.finding_categories_by_label.is_empty() {
        writeln!(out)?;
        writeln!(out, "finding categories per label (rows with a finding at or above the minimum severity):")?;
        for (label, cats) in &r.finding_categories_by_label {
            let n = r.labels.iter().find(|l| &l.label == label).map_or(0, |l| l.rows);
            for (cat, k) in cats {
                writeln!(out, "  {label:<26} {cat:<22} {k:>6}  {}", pct(*k as f64 / n.max(1) as f64))?;
            }
        }
    }
    if !r.by_row_category.is_empty() {
        writeln!(out)?;
        writeln!(out, "by the rows' own `category` field:")?;
        for (cat, c) in &r.by_row_category {
            writeln!(out, "  {cat:<40} {:>6} {:>6} {:>9}", c.rows, c.predicted_positive, pct(c.rate()))?;
        }
    }
    for (field, values) in &r.by_field {
        writeln!(out)?;
        writeln!(out, "by {field}:")?;
        for (value, labels) in values {
            for (label, c) in labels {
                let measure = if positive.get(label).copied().unwrap_or(false) { "recall" } else { "FPR" };
                writeln!(
                    out,
                    "  {value:<36} {label:<22} {:>6} {:>6} {:>9} {measure}",
                    c.rows,
                    c.predicted_positive,
                    pct(c.rate())
                )?;
            }
        }
    }
    if !r.misses.is_empty() {
        writeln!(out)?;
        writeln!(out, "misses:")?;
        for m in &r.misses {
            writeln!(out, "  {m}")?;
        }
    }
    Ok(())
}
