//! `medguard`: the command-line front end of the medguard guardrail.
//!
//! * `medguard check [--policy FILE] [--jsonl] [FILE|-]` checks plain text
//!   (one message) or JSON lines `{"id", "input", "response"}` and prints
//!   verdicts.
//! * `medguard eval [--policy FILE] FILE.jsonl...` runs labelled rows and
//!   reports recall and false-positive rates.

mod eval;

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use medguard::{Guardrail, Policy, Verdict};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Parser, Debug)]
#[command(name = "medguard", version, about = "Guardrails for health chatbots", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check plain text or JSON lines and print verdicts as JSON.
    Check(CheckArgs),
    /// Run labelled JSON lines and report recall and false-positive rates.
    Eval(eval::EvalArgs),
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
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
    /// Input file; `-` or nothing reads standard input.
    #[arg(value_name = "FILE")]
    input: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum StageArg {
    Request,
    Response,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => run_check(&args),
        Command::Eval(args) => eval::run_eval(&args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("medguard: {msg}");
            ExitCode::from(2)
        }
    }
}

pub(crate) fn load_guardrail(policy: Option<&Path>) -> Result<Guardrail, String> {
    let policy = match policy {
        Some(p) => Policy::from_path(p).map_err(|e| e.to_string())?,
        None => Policy::builtin().map_err(|e| e.to_string())?,
    };
    Guardrail::from_policy(&policy).map_err(|e| e.to_string())
}

fn open_input(path: Option<&Path>) -> Result<Box<dyn Read>, String> {
    match path {
        None => Ok(Box::new(io::stdin().lock())),
        Some(p) if p.as_os_str() == "-" => Ok(Box::new(io::stdin().lock())),
        Some(p) => File::open(p).map(|f| Box::new(f) as Box<dyn Read>).map_err(|e| format!("{}: {e}", p.display())),
    }
}

fn run_check(args: &CheckArgs) -> Result<ExitCode, String> {
    let guard = load_guardrail(args.policy.as_deref())?;
    let input = open_input(args.input.as_deref())?;
    let stdout = io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    if args.jsonl {
        check_jsonl(&guard, input, &mut out)?;
    } else {
        let mut text = String::new();
        BufReader::new(input).read_to_string(&mut text).map_err(|e| format!("cannot read input as UTF-8: {e}"))?;
        let verdict = match args.stage {
            StageArg::Request => guard.check_request(&text),
            StageArg::Response => guard.check_response(&Verdict::allow("", guard.policy_id()), &text),
        };
        serde_json::to_writer_pretty(&mut out, &verdict).map_err(|e| e.to_string())?;
        writeln!(out).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
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

fn check_jsonl(guard: &Guardrail, input: Box<dyn Read>, out: &mut impl Write) -> Result<(), String> {
    let reader = BufReader::new(input);
    for (n, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(|e| format!("cannot read input: {e}"))?;
        let line_no = n + 1;
        let value = match std::str::from_utf8(&line) {
            Err(_) => json!({"line": line_no, "error": "line is not valid UTF-8"}),
            Ok(s) if s.trim().is_empty() => continue,
            Ok(s) => match serde_json::from_str::<Record>(s) {
                Err(e) => json!({"line": line_no, "error": format!("malformed record: {e}")}),
                Ok(rec) => check_record(guard, rec),
            },
        };
        serde_json::to_writer(&mut *out, &value).map_err(|e| e.to_string())?;
        out.write_all(b"\n").map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn check_record(guard: &Guardrail, rec: Record) -> Value {
    let request = rec.input.as_deref().map(|t| guard.check_request(t));
    let response = rec.response.as_deref().map(|t| {
        let empty;
        let req = match &request {
            Some(r) => r,
            None => {
                empty = Verdict::allow("", guard.policy_id());
                &empty
            }
        };
        guard.check_response(req, t)
    });
    json!({"id": rec.id, "request": request, "response": response})
}
