//! `medguard policy`: print the built-in policy, validate a policy file,
//! or print a policy file resolved (layers merged, rule files spliced).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use medguard::Policy;
use medguard::policy::{BUILTIN_POLICY_TOML, Document};
use serde_json::json;

#[derive(Subcommand, Debug)]
pub(crate) enum PolicyCommand {
    /// Print the built-in healthcare policy (TOML with comments, or JSON).
    ///
    /// A site policy does not need a copy: `extends = "builtin"` and the
    /// settings that differ are enough.
    Default {
        /// Print it as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Check a policy file and print every problem as FILE:LINE:COLUMN.
    ///
    /// Reads the file, everything it extends and its rule files; reports
    /// syntax errors, unknown fields, wrong types, missing fields, semantic
    /// problems (locales, limits) and what every check reports when it is
    /// built (bad patterns, duplicate rule ids, ...), all at once.
    #[command(after_help = "Exit status: 0 valid; 1 problems found (printed on standard output).")]
    Validate {
        /// The policy file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a policy file as the guardrail sees it: `extends` layers merged,
    /// `_append` keys applied, `rules_files` spliced into `rules`.
    Resolve {
        /// The policy file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Print JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(cmd: &PolicyCommand) -> Result<ExitCode, String> {
    match cmd {
        PolicyCommand::Default { json: false } => {
            print!("{BUILTIN_POLICY_TOML}");
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Default { json: true } => {
            let p = Policy::builtin().map_err(|e| e.to_string())?;
            println!("{}", p.to_json_string().map_err(|e| e.to_string())?);
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Validate { file, json } => validate(file, *json),
        PolicyCommand::Resolve { file, json } => {
            let doc = Document::from_path(file).map_err(|e| e.to_string())?;
            let value = doc.value();
            if *json {
                println!("{}", serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?);
            } else {
                print!("{}", toml::to_string_pretty(&value).map_err(|e| format!("cannot print as TOML: {e}"))?);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn validate(file: &std::path::Path, as_json: bool) -> Result<ExitCode, String> {
    let result = Document::validate_path(file);
    match (result, as_json) {
        (Ok(policy), false) => {
            println!("{}: ok: {} (checks: {})", file.display(), policy.id(), policy.pipeline.checks.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        (Ok(policy), true) => {
            println!(
                "{}",
                json!({"file": file.display().to_string(), "ok": true, "policy": policy.id(), "problems": []})
            );
            Ok(ExitCode::SUCCESS)
        }
        (Err(e), false) => {
            for p in e.problems() {
                println!("{p}");
            }
            println!(
                "{}: {} problem{}",
                file.display(),
                e.problems().len(),
                if e.problems().len() == 1 { "" } else { "s" }
            );
            Ok(ExitCode::from(1))
        }
        (Err(e), true) => {
            let problems: Vec<_> = e
                .problems()
                .iter()
                .map(|p| {
                    json!({"file": p.source(), "line": p.line(), "column": p.column(), "field": p.field(), "message": p.message()})
                })
                .collect();
            println!("{}", json!({"file": file.display().to_string(), "ok": false, "problems": problems}));
            Ok(ExitCode::from(1))
        }
    }
}
