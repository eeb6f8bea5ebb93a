//! `medguard`: the command-line front end of the medguard guardrail.
//!
//! * `medguard check [--policy FILE] [--jsonl] [--audit LOG] [--fail-on WHAT] [FILE|-]` checks plain
//!   text (one message) or JSON lines `{"id", "input", "response"}` and prints verdicts.
//! * `medguard eval [--policy FILE] FILE.jsonl...` runs labelled rows and reports recall and
//!   false-positive rates.
//! * `medguard audit verify LOG [--head HASH]` verifies a hash-chained audit log.
//! * `medguard policy default|validate FILE|resolve FILE` prints, checks or resolves policies.
//!
//! Exit status: 0 success; 1 `--fail-on` matched, `policy validate` found problems or
//! `audit verify` found tampering; 2 usage, input or configuration error; 3 `audit verify`: the
//! chain is intact but the last line is torn (an interrupted write).

mod audit_cmd;
mod check;
mod eval;
mod lines;
mod policy_cmd;

use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use medguard::policy::Document;
use medguard::{Guardrail, Policy};

const AFTER_HELP: &str = "\
Exit status:
  0  success
  1  `check --fail-on` matched; `policy validate` found problems; `audit verify` found tampering
  2  usage, input or configuration error (every policy problem is printed as FILE:LINE:COLUMN)
  3  `audit verify`: the chain is intact but the last line is torn (an interrupted write)

Policies: TOML, or JSON when the name ends in .json. A site policy can start with
`extends = \"builtin\"` and change only what differs; `medguard policy resolve FILE` shows the result.";

#[derive(Parser, Debug)]
#[command(name = "medguard", version, about = "Guardrails for health chatbots", after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check plain text or JSON lines and print verdicts as JSON.
    Check(check::CheckArgs),
    /// Run labelled JSON lines and report recall and false-positive rates.
    Eval(eval::EvalArgs),
    /// Work with audit logs written by `check --audit`.
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),
    /// Print, validate or resolve policy documents.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum StageArg {
    Request,
    Response,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check::run_check(&args),
        Command::Eval(args) => eval::run_eval(&args).map(|()| ExitCode::SUCCESS),
        Command::Audit(cmd) => audit_cmd::run(&cmd),
        Command::Policy(cmd) => policy_cmd::run(&cmd),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("medguard: {msg}");
            ExitCode::from(2)
        }
    }
}

/// Loads a policy (the built-in one without `path`) and builds its
/// guardrail; every problem is reported with its file, line and column.
pub(crate) fn load(path: Option<&Path>) -> Result<(Policy, Guardrail), String> {
    let doc = match path {
        Some(p) => Document::from_path(p),
        None => Document::builtin(),
    }
    .map_err(|e| e.to_string())?;
    let policy = doc.to_policy().map_err(|e| e.to_string())?;
    let guard = doc.guardrail(&policy).map_err(|e| e.to_string())?;
    Ok((policy, guard))
}

/// [`load`] without the policy.
pub(crate) fn load_guardrail(path: Option<&Path>) -> Result<Guardrail, String> {
    load(path).map(|(_, g)| g)
}
