//! `medguard check`: verdicts for plain text or JSON lines, streamed with
//! bounded memory, optionally written to a hash-chained audit log.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use medguard::audit::{AuditEvent, AuditSink, JsonlAuditSink};
use medguard::{Guardrail, Stage, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::StageArg;
use crate::lines::{DEFAULT_MAX_LINE_BYTES, Line, Lines};

/// Files at least this large get a progress bar (on a terminal).
const PROGRESS_MIN_BYTES: u64 = 1 << 20;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Plain text: the whole input is one message; one verdict is printed (pretty JSON).
JSON lines (--jsonl): each line {\"id\": ..., \"input\": \"...\"|null, \"response\": \"...\"|null} gives one line
{\"id\": ..., \"request\": VERDICT|null, \"response\": VERDICT|null}; the response is judged in the context of
the line's request. A malformed, non-UTF-8 or over-long line gives {\"line\": N, \"error\": \"...\"} and the run
goes on. Input is streamed: memory stays bounded by --max-line-bytes whatever the file size.

--audit LOG appends one record per verdict (a request and its response are two records with the line's id)
to LOG, creating it or continuing its hash chain; what the records keep of the text is the policy's
[audit] keep_text (default: nothing). Check a log with `medguard audit verify LOG`.")]
pub(crate) struct CheckArgs {
    /// Policy file (TOML, or JSON with a .json extension); default: the
    /// built-in healthcare policy.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Read JSON lines {"id", "input", "response"} and print one
    /// {"id", "request", "response"} line per input line.
    #[arg(long)]
    jsonl: bool,
    /// In plain-text mode, which stage the text is checked as.
    #[arg(long, value_enum, default_value_t = StageArg::Request)]
    stage: StageArg,
    /// Append one audit record per verdict to LOG (created if missing; an
    /// existing log's chain is continued).
    #[arg(long, value_name = "LOG")]
    audit: Option<PathBuf>,
    /// Exit with status 1 when any verdict is blocked, escalated, or either
    /// (`any`). Without it the exit status is 0 whatever the verdicts.
    #[arg(long, value_enum, value_name = "WHAT")]
    fail_on: Option<FailOn>,
    /// Longest input line (and plain-text input) accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_LINE_BYTES)]
    max_line_bytes: usize,
    /// Never show a progress bar (it is shown only on a terminal, for files
    /// of 1 MiB or more and for piped standard input).
    #[arg(long)]
    no_progress: bool,
    /// Run every response through the stream guard in N-byte chunks (cut at
    /// char boundaries). The printed verdict is the stream's final verdict;
    /// the run fails if it, or the text the stream released, differs from
    /// the whole-text run.
    #[arg(long, value_name = "N")]
    chunk: Option<std::num::NonZeroUsize>,
    /// Input file; `-` or nothing reads standard input.
    #[arg(value_name = "FILE")]
    input: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum FailOn {
    /// Any verdict's decision is `block`.
    Blocked,
    /// Any verdict is escalated.
    Escalated,
    /// Either.
    Any,
}

/// What the run saw, for `--fail-on` and the summary.
#[derive(Default)]
struct Tally {
    lines: u64,
    blocked: u64,
    escalated: u64,
    errors: u64,
}

impl Tally {
    fn add(&mut self, v: &Verdict<'_>) {
        self.blocked += u64::from(v.is_blocked());
        self.escalated += u64::from(v.is_escalated());
    }

    fn fails(&self, on: Option<FailOn>) -> bool {
        match on {
            None => false,
            Some(FailOn::Blocked) => self.blocked > 0,
            Some(FailOn::Escalated) => self.escalated > 0,
            Some(FailOn::Any) => self.blocked + self.escalated > 0,
        }
    }
}

/// Where verdicts are audited, if anywhere.
struct Auditor {
    sink: Option<JsonlAuditSink>,
}

impl Auditor {
    fn record(&self, id: Option<&str>, stage: Stage, text: &str, verdict: &Verdict<'_>) -> Result<(), String> {
        let Some(sink) = &self.sink else { return Ok(()) };
        let mut event = AuditEvent::new(stage, text, verdict);
        if let Some(id) = id {
            event = event.with_id(id);
        }
        // Fail closed: a verdict that cannot be audited stops the run.
        sink.record(&event).map_err(|e| e.to_string())
    }
}

pub(crate) fn run_check(args: &CheckArgs) -> Result<ExitCode, String> {
    let (policy, guard) = crate::load(args.policy.as_deref())?;
    let auditor = Auditor {
        sink: match &args.audit {
            None => None,
            Some(path) => {
                let sink = JsonlAuditSink::open(path, &policy.audit).map_err(|e| e.to_string())?;
                if sink.recovered_torn_bytes() > 0 {
                    eprintln!(
                        "medguard: {}: removed a torn last line of {} bytes left by an interrupted write",
                        path.display(),
                        sink.recovered_torn_bytes()
                    );
                }
                Some(sink)
            }
        },
    };
    let (input, len) = open_input(args.input.as_deref())?;
    let progress = progress_bar(len, args.no_progress);
    let mut out = BufWriter::new(io::stdout().lock());
    let mut tally = Tally::default();
    if args.jsonl {
        check_jsonl(&guard, args.chunk, &auditor, input, args.max_line_bytes, &progress, &mut out, &mut tally)?;
    } else {
        check_plain(&guard, &auditor, input, args, &mut out, &mut tally)?;
    }
    out.flush().map_err(|e| format!("cannot write the output: {e}"))?;
    progress.finish_and_clear();
    if let Some(sink) = &auditor.sink {
        sink.flush().map_err(|e| e.to_string())?;
    }
    if args.jsonl && io::stderr().is_terminal() {
        eprintln!(
            "medguard: {} lines: {} blocked, {} escalated, {} errors",
            tally.lines, tally.blocked, tally.escalated, tally.errors
        );
    }
    Ok(if tally.fails(args.fail_on) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The input and its length when it is a regular file.
fn open_input(path: Option<&Path>) -> Result<(Box<dyn Read>, Option<u64>), String> {
    match path {
        None => Ok((Box::new(io::stdin().lock()), None)),
        Some(p) if p.as_os_str() == "-" => Ok((Box::new(io::stdin().lock()), None)),
        Some(p) => {
            let f = File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let len = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
            Ok((Box::new(f), len))
        }
    }
}

/// A progress bar on a terminal for long files and piped standard input;
/// hidden otherwise (and always when standard error is not a terminal).
fn progress_bar(len: Option<u64>, disabled: bool) -> ProgressBar {
    if disabled || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match len {
        Some(n) if n >= PROGRESS_MIN_BYTES => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        Some(_) => ProgressBar::hidden(),
        None if io::stdin().is_terminal() => ProgressBar::hidden(),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    }
}

fn check_plain(
    guard: &Guardrail,
    auditor: &Auditor,
    input: Box<dyn Read>,
    args: &CheckArgs,
    out: &mut impl Write,
    tally: &mut Tally,
) -> Result<(), String> {
    let mut bytes = Vec::new();
    input
        .take(args.max_line_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the input: {e}"))?;
    if bytes.len() > args.max_line_bytes {
        return Err(format!(
            "the input is longer than {} bytes (raise --max-line-bytes, or split it into --jsonl records)",
            args.max_line_bytes
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| format!("the input is not valid UTF-8: {e}"))?;
    let (stage, verdict) = match args.stage {
        StageArg::Request => (Stage::Request, guard.check_request(&text)),
        StageArg::Response => {
            (Stage::Response, judge_response(guard, &Verdict::allow("", guard.policy_id()), &text, args.chunk)?)
        }
    };
    auditor.record(None, stage, &text, &verdict)?;
    tally.add(&verdict);
    serde_json::to_writer_pretty(&mut *out, &verdict).map_err(|e| e.to_string())?;
    writeln!(out).map_err(|e| format!("cannot write the output: {e}"))
}

/// One output line of `check --jsonl` (a struct, so that verdicts keep the
/// field order of the verdict JSON contract).
#[derive(Serialize)]
struct Answer<'a> {
    id: &'a Value,
    request: Option<&'a Verdict<'a>>,
    response: Option<&'a Verdict<'a>>,
}

/// One input record of `check --jsonl`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    input: Option<String>,
    #[serde(default)]
    response: Option<String>,
}

#[expect(clippy::too_many_arguments, reason = "the loop's inputs, all distinct")]
fn check_jsonl(
    guard: &Guardrail,
    chunk: Option<NonZeroUsize>,
    auditor: &Auditor,
    input: Box<dyn Read>,
    max_line_bytes: usize,
    progress: &ProgressBar,
    out: &mut impl Write,
    tally: &mut Tally,
) -> Result<(), String> {
    let mut lines = Lines::new(input, max_line_bytes);
    let write_err = |e: io::Error| format!("cannot write the output: {e}");
    loop {
        // Flush before a read that may block, so a pipe sees each answer
        // as soon as its line is in.
        if !lines.has_buffered() {
            out.flush().map_err(write_err)?;
        }
        let (n, line) = match lines.next() {
            Ok(Some(l)) => l,
            Ok(None) => break,
            Err(e) => return Err(format!("cannot read the input: {e}")),
        };
        let written = match line {
            Line::TooLong => {
                write_error(out, tally, n, &format!("the line is longer than {max_line_bytes} bytes; skipped"))
            }
            Line::Ok(bytes) => match std::str::from_utf8(bytes) {
                Err(_) => write_error(out, tally, n, "the line is not valid UTF-8"),
                Ok(s) if s.trim().is_empty() => continue,
                Ok(s) => match serde_json::from_str::<Record>(s) {
                    Err(e) => write_error(out, tally, n, &format!("malformed record: {e}")),
                    Ok(rec) => check_record(guard, chunk, auditor, &rec, tally, out)?,
                },
            },
        };
        written.map_err(write_err)?;
        tally.lines += 1;
        progress.set_position(lines.consumed());
    }
    Ok(())
}

fn write_error(out: &mut impl Write, tally: &mut Tally, line: u64, message: &str) -> io::Result<()> {
    tally.errors += 1;
    serde_json::to_writer(&mut *out, &json!({"line": line, "error": message}))?;
    out.write_all(b"\n")
}

/// Checks one record, audits its verdicts and writes its answer line.
/// The outer error is fatal (an audit record could not be written); the
/// inner one is an output error.
fn check_record(
    guard: &Guardrail,
    chunk: Option<NonZeroUsize>,
    auditor: &Auditor,
    rec: &Record,
    tally: &mut Tally,
    out: &mut impl Write,
) -> Result<io::Result<()>, String> {
    let id = match &rec.id {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    let request = match rec.input.as_deref() {
        Some(t) => {
            let v = guard.check_request(t);
            auditor.record(id.as_deref(), Stage::Request, t, &v)?;
            tally.add(&v);
            Some(v)
        }
        None => None,
    };
    let response = match rec.response.as_deref() {
        Some(t) => {
            let empty;
            let req = match &request {
                Some(r) => r,
                None => {
                    empty = Verdict::allow("", guard.policy_id());
                    &empty
                }
            };
            let v = judge_response(guard, req, t, chunk)?;
            auditor.record(id.as_deref(), Stage::Response, t, &v)?;
            tally.add(&v);
            Some(v)
        }
        None => None,
    };
    let answer = Answer { id: &rec.id, request: request.as_ref(), response: response.as_ref() };
    Ok(serde_json::to_writer(&mut *out, &answer).map_err(io::Error::from).and_then(|()| out.write_all(b"\n")))
}

/// Judges a response in the context of its request: whole, or with
/// `--chunk N` through the stream guard, checked against the whole-text run.
fn judge_response<'t>(
    guard: &Guardrail,
    request: &Verdict<'_>,
    text: &'t str,
    chunk: Option<NonZeroUsize>,
) -> Result<Verdict<'t>, String> {
    let whole = guard.check_response(request, text);
    let Some(n) = chunk else { return Ok(whole) };
    let mut stream = guard.response_stream(request);
    let mut shown = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = n.get().min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        shown.push_str(stream.push(&rest[..cut]).text());
        rest = &rest[cut..];
    }
    let end = stream.finish();
    shown.push_str(&end.tail);
    if end.verdict != whole.clone().into_owned() {
        return Err("the stream guard's verdict differs from the whole-text verdict".into());
    }
    if !end.cut_off && shown != whole.text() {
        return Err("the text the stream guard released differs from the whole-text verdict's text".into());
    }
    Ok(end.verdict)
}
