//! Helpers shared by the tests that run the real `medguard` binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub(crate) fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_medguard"))
}

/// A fresh scratch directory for one test.
pub(crate) fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("medguard-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) fn write(path: &Path, text: impl AsRef<[u8]>) -> PathBuf {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

/// Runs `cmd` with `stdin` written on a separate thread (so large inputs
/// cannot deadlock against a full stdout pipe).
pub(crate) fn run_with_stdin(mut cmd: Command, stdin: impl Into<Vec<u8>>) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let data = stdin.into();
    let writer = std::thread::spawn(move || {
        // The child may stop reading early; a broken pipe is not a failure.
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the process exited with `code` (not killed by a signal, not a
/// panic).
#[track_caller]
pub(crate) fn assert_code(o: &Output, code: i32) {
    let err = stderr(o);
    assert!(!err.contains("panicked"), "the binary panicked: {err}");
    assert_eq!(o.status.code(), Some(code), "stdout: {}\nstderr: {err}", stdout(o));
}

/// A working policy extending the built-in one. Until the built-in checks
/// land, the built-in policy has no mandatory checks, so it opts out
/// explicitly (as tests/cli.rs does); `extra` is appended.
pub(crate) fn site_policy(dir: &Path, extra: &str) -> PathBuf {
    write(
        &dir.join("policy.toml"),
        format!("extends = \"builtin\"\n{extra}\n[pipeline]\ndangerous_allow_missing_safety_checks = true\n"),
    )
}
