//! `medguard audit verify`: checks the hash chain of an audit log.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use medguard::audit::verify_file;
use serde_json::json;

#[derive(Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// Verify the hash chain of an audit log written by `check --audit`.
    ///
    /// Reads the log once, line by line, and names the first bad line and
    /// what is wrong: not JSON, not a record, edited, deleted, inserted,
    /// reordered, or (with --head) truncated. A last line without its
    /// newline is reported as torn (an interrupted write), not as tampering.
    /// On success it prints the head hash: keep it elsewhere and pass it as
    /// --head later to detect records cut from the end.
    #[command(after_help = "\
Exit status: 0 intact; 1 tampered or not an audit log; 2 the file cannot be read;
3 intact, but the last line is torn (a crash mid-write; the next `check --audit` removes it).")]
    Verify {
        /// The audit log.
        #[arg(value_name = "LOG")]
        log: PathBuf,
        /// A head hash printed by an earlier verify (or `sha256:HASH`): the
        /// log must still contain that record.
        #[arg(long, value_name = "HASH")]
        head: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(cmd: &AuditCommand) -> Result<ExitCode, String> {
    let AuditCommand::Verify { log, head, json } = cmd;
    let report = verify_file(log, head.as_deref()).map_err(|e| e.to_string())?;
    let name = log.display();
    let code = match (report.problem(), report.torn_line()) {
        (Some(_), _) => 1,
        (None, Some(_)) => 3,
        (None, None) => 0,
    };
    if *json {
        let v = json!({
            "log": name.to_string(),
            "intact": report.is_intact(),
            "records": report.records(),
            "head": format!("sha256:{}", report.head()),
            "torn_line": report.torn_line(),
            "anchor_line": report.anchor_line(),
            "problem": report.problem().map(|p| json!({"line": p.line(), "kind": p.kind().as_str(), "detail": p.detail()})),
        });
        println!("{v}");
    } else {
        match report.problem() {
            Some(p) => println!("{name}: line {}: {}: {}", p.line(), p.kind(), p.detail()),
            None => {
                println!("{name}: ok: {} records, head sha256:{}", report.records(), report.head());
                if let Some(line) = report.torn_line() {
                    println!(
                        "{name}: line {line} is torn (an interrupted write, not tampering); \
                         the records before it verify"
                    );
                }
            }
        }
    }
    Ok(ExitCode::from(code))
}
