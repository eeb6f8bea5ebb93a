//! A tamper-evident audit trail of verdicts.
//!
//! Every verdict can go to an [`AuditSink`]. The shipped sink,
//! [`JsonlAuditSink`], appends one JSON line per verdict to a file; each line
//! carries the SHA-256 of the line before it, so editing, deleting,
//! inserting or reordering records breaks the chain, and [`verify`] (the
//! `medguard audit verify FILE` command) names the first bad line and what
//! is wrong with it.
//!
//! # Patient text
//!
//! **Records contain no patient text unless the policy asks for it**:
//! with the default `keep_text = "none"` (and with `"sha256"`) nothing of
//! the checked text is stored; `"full"` stores it, and `"redacted"` stores it
//! with the findings masked. A record holds the verdict's decision,
//! escalation (category, severity and the operator's localised message),
//! findings (check, rule, category, severity, byte span — never text) and
//! policy id; never the verdict's forwarded or replacement text. The `id`
//! is stored as the caller gives it: do not put patient data in ids. What
//! is kept of the checked message is set by the policy's `[audit]` section
//! ([`AuditConfig`]):
//!
//! | `keep_text` | the record holds |
//! |---|---|
//! | `"none"` (default) | nothing of the text |
//! | `"sha256"` | `text_sha256`: the hex SHA-256 of the text's UTF-8 bytes (lets you prove later which text was judged, without storing it) |
//! | `"redacted"` | `text`: the text with every finding's span replaced by `[redacted]`. The rest of the message is kept verbatim and **may still identify the patient** (names, dates, places): treat such logs as clinical records |
//! | `"full"` | `text`: the text itself |
//!
//! Kept text is cut at [`MAX_KEPT_TEXT_BYTES`] (16 MiB), with
//! `"text_truncated": true`.
//!
//! # Record format (version 1)
//!
//! One JSON object per line, keys in this order, no raw newline inside a
//! record (JSON escapes them):
//!
//! ```json
//! {"v":1,"seq":0,"time":"2025-01-31T09:30:00.123Z","id":"req-17","stage":"request",
//!  "verdict":{"decision":"block","escalation":{"category":"stroke","severity":"emergency","message":"..."},
//!             "findings":[{"check":"high_risk","rule":"stroke.face_droop","category":"stroke","severity":"emergency","span":[12,27]}],
//!             "policy":"healthcare@0.1.0+sha256:0123456789abcdef"},
//!  "keep":"sha256","text_sha256":"9f86d0...","prev":"0000000000000000000000000000000000000000000000000000000000000000"}
//! ```
//!
//! (shown wrapped; a record is one line.)
//!
//! * `v`: format version, `1`.
//! * `seq`: 0 for the first record of a file, then +1 per record.
//! * `time`: when the record was written, RFC 3339 in UTC with milliseconds.
//! * `id`: the request or exchange id given by the caller, or `null`. A
//!   request and its response share the exchange's id.
//! * `stage`: `"request"` or `"response"`.
//! * `verdict`: the verdict's `decision`, `escalation`, `findings` and
//!   `policy`, in the verdict JSON form.
//! * `keep`, `text_sha256`, `text`, `text_truncated`: see above.
//! * `prev`: the lowercase hex SHA-256 of the previous line's exact bytes,
//!   without its terminating `\n`; for the first record, [`GENESIS`] (64
//!   zeros).
//!
//! The *head* of a log is the SHA-256 of its last line (what the next
//! record's `prev` will be). A hash chain cannot show that records were
//! cut from the *end* of a log, nor that its last record was edited: keep
//! the head somewhere else now and then (it is printed by `medguard audit
//! verify` and returned by [`JsonlAuditSink::head`]) and pass it to
//! [`verify`] as the anchor.
//!
//! # Durability and concurrency
//!
//! Each record is written with a single `write` of the whole line to a file
//! opened for appending, under a mutex that also covers computing its
//! `prev`, so records from many threads form one consistent chain. With
//! `fsync = true` each record is also `fsync`ed (`File::sync_data`) before
//! [`AuditSink::record`] returns. A crash can therefore leave at most one
//! incomplete ("torn") last line, which [`verify`] reports as torn, not as
//! tampering; [`JsonlAuditSink::open`] removes such a tail before
//! continuing the chain. If a write fails, the sink cuts the file back to
//! its last complete record, so a failed record never breaks the chain.
//! The sink holds an exclusive advisory lock on the file while it is open,
//! so a second process cannot interleave records.
//!
//! ```no_run
//! use medguard::audit::{AuditEvent, AuditSink, JsonlAuditSink};
//! use medguard::{Guardrail, Policy, Stage};
//!
//! let policy = Policy::builtin()?;
//! let guard = Guardrail::from_policy(&policy)?;
//! let sink = JsonlAuditSink::open("audit.jsonl", &policy.audit)?;
//! let text = "my chest hurts";
//! let verdict = guard.check_request(text);
//! sink.record(&AuditEvent::new(Stage::Request, text, &verdict).with_id("req-1"))?;
//! # Ok::<(), medguard::Error>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::check::Stage;
use crate::policy::hex;
use crate::verdict::{Decision, Escalation, Finding, Verdict};

/// The `prev` of the first record of a log: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The record format version written in `v`.
pub const FORMAT_VERSION: u64 = 1;

/// Most bytes of text kept in one record (`redacted` and `full`).
pub const MAX_KEPT_TEXT_BYTES: usize = 16 << 20;

/// Longest record line read back (by [`verify`] and when a log is
/// reopened), in bytes.
pub const MAX_RECORD_BYTES: usize = 256 << 20;

/// What an audit record keeps of the checked text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeepText {
    /// Nothing (default).
    #[default]
    None,
    /// The SHA-256 of the text.
    Sha256,
    /// The text with every finding's span replaced by `[redacted]`.
    Redacted,
    /// The whole text.
    Full,
}

impl KeepText {
    /// The lowercase name used in policies and records.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            KeepText::None => "none",
            KeepText::Sha256 => "sha256",
            KeepText::Redacted => "redacted",
            KeepText::Full => "full",
        }
    }
}

/// The `[audit]` section of a policy.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `keep_text` | `"none"` | what records keep of the checked text: `none`, `sha256`, `redacted`, `full` (see the [module docs](self)) |
/// | `fsync` | `false` | `fsync` every record before `record` returns (slower; survives power loss, not only a process crash) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// What records keep of the checked text.
    pub keep_text: KeepText,
    /// Whether every record is `fsync`ed.
    pub fsync: bool,
}

/// One verdict to record: the stage, the checked text (used only as the
/// policy's `keep_text` says) and the verdict.
#[derive(Clone, Copy)]
pub struct AuditEvent<'a> {
    id: Option<&'a str>,
    stage: Stage,
    text: &'a str,
    verdict: &'a Verdict<'a>,
}

impl<'a> AuditEvent<'a> {
    /// The verdict of `text` at `stage`.
    #[must_use]
    pub fn new(stage: Stage, text: &'a str, verdict: &'a Verdict<'a>) -> AuditEvent<'a> {
        AuditEvent { id: None, stage, text, verdict }
    }

    /// The request or exchange id (give a request and its response the same
    /// one).
    #[must_use]
    pub fn with_id(mut self, id: &'a str) -> AuditEvent<'a> {
        self.id = Some(id);
        self
    }

    /// The id, if any.
    #[must_use]
    pub fn id(&self) -> Option<&'a str> {
        self.id
    }

    /// The stage.
    #[must_use]
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The checked text.
    #[must_use]
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The verdict.
    #[must_use]
    pub fn verdict(&self) -> &'a Verdict<'a> {
        self.verdict
    }
}

/// `Debug` never shows the text.
impl fmt::Debug for AuditEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditEvent")
            .field("id", &self.id)
            .field("stage", &self.stage)
            .field("text_len", &self.text.len())
            .field("verdict", self.verdict)
            .finish()
    }
}

/// Where audit records go.
///
/// Implementations must be usable from many threads at once and keep
/// their records consistent (the JSON-lines sink serialises writes). The
/// trait is object-safe: `Arc<dyn AuditSink>` is the usual way to share
/// one.
pub trait AuditSink: Send + Sync {
    /// Records one verdict. Returns once the record is written (and
    /// `fsync`ed when configured).
    ///
    /// # Errors
    ///
    /// When the record cannot be written; callers that must not act
    /// without an audit record should fail closed.
    fn record(&self, event: &AuditEvent<'_>) -> Result<(), AuditError>;

    /// Flushes anything buffered. The default does nothing.
    ///
    /// # Errors
    ///
    /// When buffered records cannot be written.
    fn flush(&self) -> Result<(), AuditError> {
        Ok(())
    }
}

impl<T: AuditSink + ?Sized> AuditSink for Arc<T> {
    fn record(&self, event: &AuditEvent<'_>) -> Result<(), AuditError> {
        (**self).record(event)
    }
    fn flush(&self) -> Result<(), AuditError> {
        (**self).flush()
    }
}

impl<T: AuditSink + ?Sized> AuditSink for Box<T> {
    fn record(&self, event: &AuditEvent<'_>) -> Result<(), AuditError> {
        (**self).record(event)
    }
    fn flush(&self) -> Result<(), AuditError> {
        (**self).flush()
    }
}

/// An audit log could not be opened, written or read.
#[derive(Debug)]
pub struct AuditError {
    message: String,
    source: Option<io::Error>,
}

impl AuditError {
    fn new(message: impl Into<String>) -> AuditError {
        AuditError { message: message.into(), source: None }
    }

    fn io(message: impl Into<String>, e: io::Error) -> AuditError {
        AuditError { message: message.into(), source: Some(e) }
    }

    /// What went wrong.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(e) = &self.source {
            write!(f, ": {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for AuditError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// Where a chain stands: the `seq` and `prev` of the next record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// `seq` of the next record (= number of records in a complete log).
    pub next_seq: u64,
    /// `prev` of the next record: the SHA-256 of the last line, or
    /// [`GENESIS`] for an empty log.
    pub hash: String,
}

struct SinkState {
    file: File,
    head: AuditHead,
    /// Bytes of complete records in the file.
    len: u64,
    /// A failed write could not be undone: the file's end is unknown.
    broken: bool,
    line: Vec<u8>,
}

/// The JSON-lines audit sink: one hash-chained record per line, appended
/// to a file. See the [module documentation](self) for the format.
pub struct JsonlAuditSink {
    path: PathBuf,
    config: AuditConfig,
    torn_bytes: u64,
    state: Mutex<SinkState>,
}

impl fmt::Debug for JsonlAuditSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonlAuditSink").field("path", &self.path).field("config", &self.config).finish()
    }
}

impl JsonlAuditSink {
    /// Opens (or creates) the log at `path` and continues its chain from
    /// its last complete record. A torn last line (an incomplete record
    /// left by a crash) is removed first; see
    /// [`recovered_torn_bytes`](JsonlAuditSink::recovered_torn_bytes).
    /// Opening does not verify the whole file: run [`verify`] for that.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or locked (another process has it
    /// open), or its last line is not an audit record (the file is not an
    /// audit log: it is never modified then).
    pub fn open(path: impl AsRef<Path>, config: &AuditConfig) -> Result<JsonlAuditSink, AuditError> {
        let path = path.as_ref();
        let name = path.display();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| AuditError::io(format!("cannot open the audit log {name}"), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(AuditError::new(format!("the audit log {name} is in use by another process")));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(AuditError::io(format!("cannot lock the audit log {name}"), e));
            }
        }
        let tail = read_tail(&file).map_err(|e| match e {
            TailError::Io(e) => AuditError::io(format!("cannot read the audit log {name}"), e),
            TailError::Invalid(m) => AuditError::new(format!("{name}: {m}; refusing to append to it")),
        })?;
        if tail.torn_bytes > 0 {
            file.set_len(tail.complete_len)
                .map_err(|e| AuditError::io(format!("cannot remove the torn last line of {name}"), e))?;
        }
        Ok(JsonlAuditSink {
            path: path.to_path_buf(),
            config: *config,
            torn_bytes: tail.torn_bytes,
            state: Mutex::new(SinkState {
                file,
                head: tail.head,
                len: tail.complete_len,
                broken: false,
                line: Vec::new(),
            }),
        })
    }

    /// The log's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of a torn last line removed by [`open`](JsonlAuditSink::open)
    /// (0 when the log ended cleanly).
    #[must_use]
    pub fn recovered_torn_bytes(&self) -> u64 {
        self.torn_bytes
    }

    /// The chain's head now: keep `hash` elsewhere to detect later
    /// truncation.
    #[must_use]
    pub fn head(&self) -> AuditHead {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).head.clone()
    }
}

impl AuditSink for JsonlAuditSink {
    fn record(&self, event: &AuditEvent<'_>) -> Result<(), AuditError> {
        // The text work (hash, redaction) happens outside the lock.
        let kept = KeptText::of(self.config.keep_text, event);
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let st = &mut *guard;
        if st.broken {
            return Err(AuditError::new(format!(
                "the audit log {} is in an unknown state after a failed write; reopen it",
                self.path.display()
            )));
        }
        let time = rfc3339_now();
        st.line.clear();
        let record = RecordOut {
            v: FORMAT_VERSION,
            seq: st.head.next_seq,
            time: &time,
            id: event.id,
            stage: event.stage.as_str(),
            verdict: VerdictOut {
                decision: event.verdict.decision(),
                escalation: event.verdict.escalation(),
                findings: event.verdict.findings(),
                policy: event.verdict.policy(),
            },
            keep: self.config.keep_text,
            text_sha256: kept.sha256.as_deref(),
            text: kept.text.as_deref(),
            text_truncated: kept.truncated,
            prev: &st.head.hash,
        };
        serde_json::to_writer(&mut st.line, &record)
            .map_err(|e| AuditError::new(format!("cannot serialise an audit record: {e}")))?;
        let hash = hex(&Sha256::digest(&st.line));
        st.line.push(b'\n');
        let written =
            st.file.write_all(&st.line).and_then(|()| if self.config.fsync { st.file.sync_data() } else { Ok(()) });
        match written {
            Ok(()) => {
                st.len += st.line.len() as u64;
                st.head = AuditHead { next_seq: st.head.next_seq + 1, hash };
                Ok(())
            }
            Err(e) => {
                // Cut a partial line so the chain stays valid.
                if st.file.set_len(st.len).is_err() {
                    st.broken = true;
                }
                Err(AuditError::io(format!("cannot write to the audit log {}", self.path.display()), e))
            }
        }
    }

    fn flush(&self) -> Result<(), AuditError> {
        let st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.file.sync_data().map_err(|e| AuditError::io(format!("cannot sync the audit log {}", self.path.display()), e))
    }
}

#[derive(Serialize)]
struct RecordOut<'a> {
    v: u64,
    seq: u64,
    time: &'a str,
    id: Option<&'a str>,
    stage: &'static str,
    verdict: VerdictOut<'a>,
    keep: KeepText,
    #[serde(skip_serializing_if = "Option::is_none")]
    text_sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    text_truncated: bool,
    prev: &'a str,
}

#[derive(Serialize)]
struct VerdictOut<'a> {
    decision: Decision,
    escalation: Option<&'a Escalation>,
    findings: &'a [Finding],
    policy: &'a str,
}

/// What a record keeps of the text.
#[derive(Default)]
struct KeptText<'a> {
    sha256: Option<String>,
    text: Option<Cow<'a, str>>,
    truncated: bool,
}

impl<'a> KeptText<'a> {
    fn of(keep: KeepText, event: &AuditEvent<'a>) -> KeptText<'a> {
        let text = event.text;
        let kept = match keep {
            KeepText::None => return KeptText::default(),
            KeepText::Sha256 => {
                return KeptText { sha256: Some(hex(&Sha256::digest(text.as_bytes()))), ..KeptText::default() };
            }
            KeepText::Full => Cow::Borrowed(text),
            KeepText::Redacted => Cow::Owned(redact(text, event.verdict.findings())),
        };
        if kept.len() > MAX_KEPT_TEXT_BYTES {
            let cut = crate::normalize::floor_char_boundary(&kept, MAX_KEPT_TEXT_BYTES);
            let cut = match kept {
                Cow::Borrowed(s) => Cow::Borrowed(&s[..cut]),
                Cow::Owned(mut s) => {
                    s.truncate(cut);
                    Cow::Owned(s)
                }
            };
            return KeptText { text: Some(cut), truncated: true, ..KeptText::default() };
        }
        KeptText { text: Some(kept), ..KeptText::default() }
    }
}

/// Marks each finding's span in `text`: overlapping spans merge; spans are
/// widened to char boundaries and clamped to the text.
pub(crate) fn redact(text: &str, findings: &[Finding]) -> String {
    let mut spans: Vec<(usize, usize)> = findings
        .iter()
        .map(|f| {
            let s = f.span();
            let start = crate::normalize::floor_char_boundary(text, s.start);
            let mut end = s.end.min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            (start, end.max(start))
        })
        .filter(|(s, e)| s < e)
        .collect();
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in spans {
        if end <= at {
            continue;
        }
        if start >= at {
            out.push_str(&text[at..start]);
            out.push_str("[redacted]");
        }
        // Otherwise the span overlaps the previous mark, which grows.
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

// ---------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------

/// Now as RFC 3339 UTC with milliseconds: `2025-01-31T09:30:00.123Z`.
fn rfc3339_now() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339(d.as_secs(), d.subsec_millis())
}

pub(crate) fn rfc3339(secs: u64, millis: u32) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

// ---------------------------------------------------------------------------
// Reading a log back
// ---------------------------------------------------------------------------

struct Tail {
    head: AuditHead,
    complete_len: u64,
    torn_bytes: u64,
}

enum TailError {
    Io(io::Error),
    Invalid(String),
}

impl From<io::Error> for TailError {
    fn from(e: io::Error) -> TailError {
        TailError::Io(e)
    }
}

/// Finds the last complete line of `file` and the torn bytes after it.
fn read_tail(mut file: &File) -> Result<Tail, TailError> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(Tail { head: AuditHead { next_seq: 0, hash: GENESIS.into() }, complete_len: 0, torn_bytes: 0 });
    }
    // Scan backwards for the last two newlines, reading at most
    // MAX_RECORD_BYTES past the end of the last complete line.
    let mut newlines: Vec<u64> = Vec::with_capacity(2);
    let mut pos = len;
    let mut chunk = vec![0u8; 64 * 1024];
    let scan_limit = len.saturating_sub(2 * MAX_RECORD_BYTES as u64);
    while pos > scan_limit && newlines.len() < 2 {
        let n = (pos - scan_limit).min(chunk.len() as u64) as usize;
        pos -= n as u64;
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut chunk[..n])?;
        for i in (0..n).rev() {
            if chunk[i] == b'\n' {
                newlines.push(pos + i as u64);
                if newlines.len() == 2 {
                    break;
                }
            }
        }
    }
    let (complete_len, line_start) = match newlines.as_slice() {
        [] if pos > 0 => return Err(TailError::Invalid("its last line is longer than the largest record".into())),
        [] => (0, 0),
        [last] => (last + 1, 0),
        [last, before, ..] => (last + 1, before + 1),
    };
    let torn_bytes = len - complete_len;
    if complete_len == 0 {
        // No complete record: only a torn first record may be cut.
        file.seek(SeekFrom::Start(0))?;
        let mut start = [0u8; 14];
        let n = file.take(14).read(&mut start)?;
        if !b"{\"v\":1,\"seq\":0".starts_with(&start[..n]) && !start[..n].starts_with(b"{\"v\":1,\"seq\":0") {
            return Err(TailError::Invalid("it is not a medguard audit log (no complete record)".into()));
        }
        return Ok(Tail { head: AuditHead { next_seq: 0, hash: GENESIS.into() }, complete_len: 0, torn_bytes });
    }
    let line_len = complete_len - 1 - line_start;
    if line_len > MAX_RECORD_BYTES as u64 {
        return Err(TailError::Invalid("its last record is larger than the largest record".into()));
    }
    let mut line = vec![0u8; line_len as usize];
    file.seek(SeekFrom::Start(line_start))?;
    file.read_exact(&mut line)?;
    let seq = match parse_record(&line) {
        Ok(r) => r.seq,
        Err(what) => return Err(TailError::Invalid(format!("its last complete line is not an audit record ({what})"))),
    };
    Ok(Tail { head: AuditHead { next_seq: seq + 1, hash: hex(&Sha256::digest(&line)) }, complete_len, torn_bytes })
}

/// The fields of a record that verification needs.
struct RecordIn {
    seq: u64,
    prev: String,
}

/// Parses and checks one record line.
fn parse_record(line: &[u8]) -> Result<RecordIn, ParseFailure> {
    let v: Value = serde_json::from_slice(line).map_err(|_| ParseFailure::NotJson)?;
    let Value::Object(m) = v else { return Err(ParseFailure::NotRecord("not a JSON object")) };
    if m.get("v").and_then(Value::as_u64) != Some(FORMAT_VERSION) {
        return Err(ParseFailure::NotRecord("`v` is not 1"));
    }
    let Some(seq) = m.get("seq").and_then(Value::as_u64) else {
        return Err(ParseFailure::NotRecord("no `seq` number"));
    };
    let prev = match m.get("prev").and_then(Value::as_str) {
        Some(p) if p.len() == 64 && p.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => p,
        _ => return Err(ParseFailure::NotRecord("no `prev` hash of 64 hex digits")),
    };
    if !m.get("time").is_some_and(Value::is_string) {
        return Err(ParseFailure::NotRecord("no `time`"));
    }
    if !matches!(m.get("stage").and_then(Value::as_str), Some("request" | "response")) {
        return Err(ParseFailure::NotRecord("`stage` is not \"request\" or \"response\""));
    }
    if !m.get("verdict").and_then(|v| v.get("decision")).is_some_and(Value::is_string) {
        return Err(ParseFailure::NotRecord("no `verdict` with a `decision`"));
    }
    Ok(RecordIn { seq, prev: prev.to_string() })
}

enum ParseFailure {
    NotJson,
    NotRecord(&'static str),
}

impl fmt::Display for ParseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseFailure::NotJson => f.write_str("not JSON"),
            ParseFailure::NotRecord(what) => f.write_str(what),
        }
    }
}

/// What is wrong with an audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TamperKind {
    /// A line is not JSON.
    NotJson,
    /// A line is JSON but not an audit record (missing or ill-typed field),
    /// or longer than [`MAX_RECORD_BYTES`].
    NotARecord,
    /// A record was changed after it was written (its hash no longer
    /// matches the next record's `prev`).
    Edited,
    /// Records are missing (a gap in `seq`).
    Deleted,
    /// A record was added that was not written in sequence.
    Inserted,
    /// Records are out of order.
    Reordered,
    /// The log is shorter than the anchored head says: records were cut
    /// from its end (or its last record was edited).
    Truncated,
}

impl TamperKind {
    /// A lowercase name: `not_json`, `not_a_record`, `edited`, `deleted`,
    /// `inserted`, `reordered`, `truncated`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            TamperKind::NotJson => "not_json",
            TamperKind::NotARecord => "not_a_record",
            TamperKind::Edited => "edited",
            TamperKind::Deleted => "deleted",
            TamperKind::Inserted => "inserted",
            TamperKind::Reordered => "reordered",
            TamperKind::Truncated => "truncated",
        }
    }
}

impl fmt::Display for TamperKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first problem [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tamper {
    line: u64,
    kind: TamperKind,
    detail: String,
}

impl Tamper {
    /// The 1-based line of the first bad record (for `truncated`, the last
    /// line of the log, or 0 when it is empty).
    #[must_use]
    pub fn line(&self) -> u64 {
        self.line
    }

    /// What is wrong.
    #[must_use]
    pub fn kind(&self) -> TamperKind {
        self.kind
    }

    /// A sentence saying what and where.
    #[must_use]
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for Tamper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.kind, self.detail)
    }
}

/// The result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    records: u64,
    head: String,
    torn_line: Option<u64>,
    anchor_line: Option<u64>,
    problem: Option<Tamper>,
}

impl VerifyReport {
    /// Records whose chain verified (before the first problem).
    #[must_use]
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The SHA-256 of the last verified record ([`GENESIS`] when there is
    /// none): keep it to detect later truncation.
    #[must_use]
    pub fn head(&self) -> &str {
        &self.head
    }

    /// The line number of a torn (incomplete) last line, if any: a crash
    /// mid-write, not tampering with earlier records.
    #[must_use]
    pub fn torn_line(&self) -> Option<u64> {
        self.torn_line
    }

    /// The line whose hash equals the anchor given to [`verify`], if found.
    #[must_use]
    pub fn anchor_line(&self) -> Option<u64> {
        self.anchor_line
    }

    /// The first problem, if any.
    #[must_use]
    pub fn problem(&self) -> Option<&Tamper> {
        self.problem.as_ref()
    }

    /// No problem (a torn last line is allowed: see
    /// [`torn_line`](VerifyReport::torn_line)).
    #[must_use]
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// A reader of `\n`-terminated lines, each at most `max` bytes.
struct Lines<R> {
    inner: BufReader<R>,
    buf: Vec<u8>,
    max: usize,
}

enum Line {
    /// A line; `newline` is false for a last line without `\n`.
    Complete {
        newline: bool,
    },
    TooLong {
        newline: bool,
    },
    Eof,
}

impl<R: Read> Lines<R> {
    fn new(r: R, max: usize) -> Lines<R> {
        Lines { inner: BufReader::with_capacity(64 * 1024, r), buf: Vec::new(), max }
    }

    fn next(&mut self) -> io::Result<Line> {
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let avail = self.inner.fill_buf()?;
            if avail.is_empty() {
                return Ok(match (any, too_long) {
                    (false, _) => Line::Eof,
                    (true, true) => Line::TooLong { newline: false },
                    (true, false) => Line::Complete { newline: false },
                });
            }
            any = true;
            let (part, found) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (&avail[..i], Some(i)),
                None => (avail, None),
            };
            if !too_long && self.buf.len() + part.len() <= self.max {
                self.buf.extend_from_slice(part);
            } else {
                too_long = true;
                self.buf.clear();
            }
            let used = found.map_or(avail.len(), |i| i + 1);
            self.inner.consume(used);
            if found.is_some() {
                return Ok(if too_long { Line::TooLong { newline: true } } else { Line::Complete { newline: true } });
            }
        }
    }
}

/// Verifies an audit log read from `reader`.
///
/// Reads the log once, line by line (memory bounded by
/// [`MAX_RECORD_BYTES`]), and stops at the first problem, which it names
/// by line and [`TamperKind`]. To tell a deletion from a reordering it
/// reads on past the first gap. With `anchor` (a head hash kept from an
/// earlier run, with or without a `sha256:` prefix), a log in which no
/// record hashes to `anchor` is reported as [`TamperKind::Truncated`].
///
/// A last line without a terminating newline is a *torn* write (a crash):
/// reported by [`VerifyReport::torn_line`], not as tampering.
///
/// # Errors
///
/// Only when reading fails; problems in the log are in the report.
pub fn verify(reader: impl Read, anchor: Option<&str>) -> Result<VerifyReport, AuditError> {
    let anchor = anchor.map(|a| a.trim().strip_prefix("sha256:").unwrap_or(a.trim()).to_ascii_lowercase());
    let mut lines = Lines::new(reader, MAX_RECORD_BYTES);
    let mut report =
        VerifyReport { records: 0, head: GENESIS.into(), torn_line: None, anchor_line: None, problem: None };
    // Hash of the last good line, and the `prev` that line carried.
    let mut prev_hash = GENESIS.to_string();
    let mut prev_prev: Option<String> = None;
    let mut line_no = 0u64;
    let read_err = |e| AuditError::io("cannot read the audit log", e);
    loop {
        let next = lines.next().map_err(read_err)?;
        let newline = match next {
            Line::Eof => break,
            Line::Complete { newline } | Line::TooLong { newline } => newline,
        };
        line_no += 1;
        if !newline {
            report.torn_line = Some(line_no);
            break;
        }
        let fail = |kind, detail: String| Some(Tamper { line: line_no, kind, detail });
        if matches!(next, Line::TooLong { .. }) {
            report.problem = fail(TamperKind::NotARecord, format!("the line is longer than {MAX_RECORD_BYTES} bytes"));
            break;
        }
        let rec = match parse_record(&lines.buf) {
            Ok(r) => r,
            Err(ParseFailure::NotJson) => {
                let what = if lines.buf.is_empty() { "an empty line" } else { "the line is not JSON" };
                report.problem = fail(TamperKind::NotJson, what.to_string());
                break;
            }
            Err(ParseFailure::NotRecord(what)) => {
                report.problem = fail(TamperKind::NotARecord, format!("not an audit record: {what}"));
                break;
            }
        };
        let expected = report.records;
        if rec.seq == expected && rec.prev == prev_hash {
            let hash = hex(&Sha256::digest(&lines.buf));
            if anchor.as_deref() == Some(hash.as_str()) {
                report.anchor_line = Some(line_no);
            }
            prev_prev = Some(std::mem::replace(&mut prev_hash, hash));
            report.records += 1;
            continue;
        }
        report.problem = Some(if rec.seq == expected {
            if line_no == 1 {
                Tamper {
                    line: 1,
                    kind: TamperKind::Edited,
                    detail: format!("the first record's `prev` is not the genesis value {GENESIS}"),
                }
            } else {
                Tamper {
                    line: line_no - 1,
                    kind: TamperKind::Edited,
                    detail: format!(
                        "line {} was changed after it was written: its SHA-256 does not match the `prev` of line {line_no} \
                         (or line {line_no}'s `prev` was changed)",
                        line_no - 1
                    ),
                }
            }
        } else if rec.seq > expected {
            match find_seq(&mut lines, expected).map_err(read_err)? {
                Some(offset) => Tamper {
                    line: line_no,
                    kind: TamperKind::Reordered,
                    detail: format!(
                        "line {line_no} holds record {} where record {expected} belongs; record {expected} comes later, at line {}",
                        rec.seq,
                        line_no + offset
                    ),
                },
                None if line_no == 1 => Tamper {
                    line: 1,
                    kind: TamperKind::Deleted,
                    detail: format!(
                        "the log starts at record {}: records 0 to {} were deleted from its beginning",
                        rec.seq,
                        rec.seq - 1
                    ),
                },
                None => Tamper {
                    line: line_no,
                    kind: TamperKind::Deleted,
                    detail: format!(
                        "records {expected} to {} are missing before line {line_no} (deleted)",
                        rec.seq - 1
                    ),
                },
            }
        } else if rec.seq + 1 == expected && prev_prev.as_deref() == Some(rec.prev.as_str()) {
            // This line and the one before both claim to follow the same
            // record: the one before was inserted.
            Tamper {
                line: line_no - 1,
                kind: TamperKind::Inserted,
                detail: format!(
                    "line {} was inserted: it and line {line_no} both claim to be record {} following line {}",
                    line_no - 1,
                    rec.seq,
                    line_no.saturating_sub(2)
                ),
            }
        } else {
            Tamper {
                line: line_no,
                kind: TamperKind::Inserted,
                detail: format!(
                    "line {line_no} claims to be record {}, which is already at line {}: it was inserted (a copy or a forgery)",
                    rec.seq,
                    rec.seq + 1
                ),
            }
        });
        break;
    }
    report.head = prev_hash;
    if report.problem.is_none()
        && let Some(a) = &anchor
        && report.anchor_line.is_none()
    {
        report.problem = Some(Tamper {
            line: line_no.saturating_sub(u64::from(report.torn_line.is_some())),
            kind: TamperKind::Truncated,
            detail: format!(
                "no record hashes to the anchored head {a}: records were cut from the end of the log, or its last record was edited"
            ),
        });
    }
    Ok(report)
}

/// Reads on for a record with `seq`; returns how many lines after the
/// current one it is.
fn find_seq<R: Read>(lines: &mut Lines<R>, seq: u64) -> io::Result<Option<u64>> {
    let mut offset = 0;
    loop {
        match lines.next()? {
            Line::Eof => return Ok(None),
            Line::TooLong { .. } => offset += 1,
            Line::Complete { .. } => {
                offset += 1;
                if parse_record(&lines.buf).is_ok_and(|r| r.seq == seq) {
                    return Ok(Some(offset));
                }
            }
        }
    }
}

/// [`verify`] on a file.
///
/// # Errors
///
/// When the file cannot be opened or read.
pub fn verify_file(path: impl AsRef<Path>, anchor: Option<&str>) -> Result<VerifyReport, AuditError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| AuditError::io(format!("cannot open {}", path.display()), e))?;
    verify(file, anchor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{Severity, Span};

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(1_709_210_096, 999), "2024-02-29T12:34:56.999Z");
        assert_eq!(rfc3339(4_102_444_799, 0), "2099-12-31T23:59:59.000Z");
        assert_eq!(rfc3339(253_402_300_799, 0), "9999-12-31T23:59:59.000Z");
    }

    #[test]
    fn redaction_masks_merged_spans_on_char_boundaries() {
        let f = |s, e| Finding::new("c", "r", "k", Severity::High, Span::new(s, e));
        assert_eq!(redact("my face droops now", &[f(3, 8), f(5, 14)]), "my [redacted] now");
        assert_eq!(redact("abc", &[f(0, 3)]), "[redacted]");
        assert_eq!(redact("abc", &[f(0, 1), f(2, 99)]), "[redacted]b[redacted]");
        // "é" is two bytes: a span into its middle widens to the whole char.
        assert_eq!(redact("é x", &[f(1, 2)]), "[redacted] x");
        assert_eq!(redact("abc", &[]), "abc");
    }

    #[test]
    fn kept_text_follows_the_setting() {
        let v = Verdict::allow("", "p");
        let ev = AuditEvent::new(Stage::Request, "secret", &v);
        assert!(KeptText::of(KeepText::None, &ev).text.is_none());
        let h = KeptText::of(KeepText::Sha256, &ev);
        assert_eq!(h.sha256.as_deref(), Some(hex(&Sha256::digest(b"secret")).as_str()));
        assert!(h.text.is_none());
        assert_eq!(KeptText::of(KeepText::Full, &ev).text.as_deref(), Some("secret"));
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("medguard-audit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.join("audit.jsonl")
    }

    fn write_n(path: &Path, n: usize, config: &AuditConfig) {
        let sink = JsonlAuditSink::open(path, config).unwrap();
        for i in 0..n {
            let text = format!("message {i}");
            let v = Verdict::allow(&text, "p@1+sha256:00");
            let id = i.to_string();
            sink.record(&AuditEvent::new(Stage::Request, &text, &v).with_id(&id)).unwrap();
        }
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
    }

    fn check(text: &str) -> VerifyReport {
        verify(text.as_bytes(), None).unwrap()
    }

    #[test]
    fn records_chain_and_reopening_continues_the_chain() {
        let path = tmp("chain");
        write_n(&path, 3, &AuditConfig::default());
        write_n(&path, 2, &AuditConfig { keep_text: KeepText::Sha256, fsync: true });
        let ls = lines(&path);
        assert_eq!(ls.len(), 5);
        let first: Value = serde_json::from_str(&ls[0]).unwrap();
        assert_eq!(first["prev"], GENESIS);
        assert_eq!(first["seq"], 0);
        assert_eq!(first["keep"], "none");
        assert!(first.get("text").is_none() && first.get("text_sha256").is_none());
        assert!(!ls[0].contains("message"), "no text is kept by default: {}", ls[0]);
        let fourth: Value = serde_json::from_str(&ls[3]).unwrap();
        assert_eq!(fourth["seq"], 3);
        assert_eq!(fourth["prev"], hex(&Sha256::digest(ls[2].as_bytes())));
        assert_eq!(fourth["text_sha256"], hex(&Sha256::digest(b"message 0")));
        let r = verify_file(&path, None).unwrap();
        assert!(r.is_intact(), "{:?}", r.problem());
        assert_eq!(r.records(), 5);
        assert_eq!(r.head(), hex(&Sha256::digest(ls[4].as_bytes())));
        let sink = JsonlAuditSink::open(&path, &AuditConfig::default()).unwrap();
        assert_eq!(sink.head(), AuditHead { next_seq: 5, hash: r.head().to_string() });
    }

    #[test]
    fn a_second_writer_is_refused() {
        let path = tmp("lock");
        let _a = JsonlAuditSink::open(&path, &AuditConfig::default()).unwrap();
        let e = JsonlAuditSink::open(&path, &AuditConfig::default()).unwrap_err();
        assert!(e.message().contains("in use"), "{e}");
    }

    #[test]
    fn many_threads_keep_one_consistent_chain() {
        let path = tmp("threads");
        let sink = Arc::new(JsonlAuditSink::open(&path, &AuditConfig::default()).unwrap());
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let sink: Arc<dyn AuditSink> = sink.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        let text = format!("t{t} m{i}");
                        let v = Verdict::allow(&text, "p");
                        sink.record(&AuditEvent::new(Stage::Response, &text, &v)).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let r = verify_file(&path, None).unwrap();
        assert!(r.is_intact(), "{:?}", r.problem());
        assert_eq!(r.records(), 800);
    }

    #[test]
    fn torn_last_line_is_reported_then_cut_on_reopen() {
        let path = tmp("torn");
        write_n(&path, 3, &AuditConfig::default());
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() - 10]).unwrap();
        let r = verify_file(&path, None).unwrap();
        assert!(r.is_intact());
        assert_eq!(r.torn_line(), Some(3));
        assert_eq!(r.records(), 2);
        let sink = JsonlAuditSink::open(&path, &AuditConfig::default()).unwrap();
        assert!(sink.recovered_torn_bytes() > 0);
        drop(sink);
        write_n(&path, 1, &AuditConfig::default());
        let r = verify_file(&path, None).unwrap();
        assert!(r.is_intact() && r.torn_line().is_none(), "{r:?}");
        assert_eq!(r.records(), 3);
    }

    #[test]
    fn a_file_that_is_not_a_log_is_never_touched() {
        let path = tmp("foreign");
        std::fs::write(&path, "hello\nworld").unwrap();
        assert!(JsonlAuditSink::open(&path, &AuditConfig::default()).is_err());
        std::fs::write(&path, "no newline at all").unwrap();
        assert!(JsonlAuditSink::open(&path, &AuditConfig::default()).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "no newline at all");
    }

    #[test]
    fn every_kind_of_tampering_names_the_first_bad_line() {
        let path = tmp("tamper");
        write_n(&path, 6, &AuditConfig { keep_text: KeepText::Full, fsync: false });
        let ls = lines(&path);
        let join = |ls: &[String]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
        let expect = |text: String, kind: TamperKind, line: u64| {
            let r = check(&text);
            let p = r.problem().unwrap_or_else(|| panic!("{kind} not detected"));
            assert_eq!((p.kind(), p.line()), (kind, line), "{p}");
        };
        assert!(check(&join(&ls)).is_intact());

        let mut edited = ls.clone();
        edited[2] = edited[2].replace("message 2", "message X");
        expect(join(&edited), TamperKind::Edited, 3);

        let mut deleted = ls.clone();
        deleted.remove(3);
        expect(join(&deleted), TamperKind::Deleted, 4);
        expect(join(&ls[2..]), TamperKind::Deleted, 1);

        let mut swapped = ls.clone();
        swapped.swap(2, 3);
        expect(join(&swapped), TamperKind::Reordered, 3);
        let mut moved = ls.clone();
        let l = moved.remove(1);
        moved.insert(4, l);
        expect(join(&moved), TamperKind::Reordered, 2);

        let mut copied = ls.clone();
        copied.insert(4, ls[1].clone());
        expect(join(&copied), TamperKind::Inserted, 5);
        // A forged record that fits the chain before it is caught by the
        // genuine record after it.
        let forged_prev = hex(&Sha256::digest(ls[2].as_bytes()));
        let mut forged: Value = serde_json::from_str(&ls[3]).unwrap();
        forged["text"] = "forged".into();
        forged["prev"] = forged_prev.into();
        let mut inserted = ls.clone();
        inserted.insert(3, forged.to_string());
        expect(join(&inserted), TamperKind::Inserted, 4);

        let mut garbage = ls.clone();
        garbage[1] = "{not json".into();
        expect(join(&garbage), TamperKind::NotJson, 2);
        let mut foreign = ls.clone();
        foreign[1] = r#"{"hello": 1}"#.into();
        expect(join(&foreign), TamperKind::NotARecord, 2);
        let mut blank = ls.clone();
        blank.insert(2, String::new());
        expect(join(&blank), TamperKind::NotJson, 3);

        // Truncation at a record boundary needs an anchor.
        let head = check(&join(&ls)).head().to_string();
        assert!(check(&join(&ls[..4])).is_intact());
        let r = verify(join(&ls[..4]).as_bytes(), Some(&head)).unwrap();
        assert_eq!(r.problem().map(Tamper::kind), Some(TamperKind::Truncated));
        let r = verify(join(&ls).as_bytes(), Some(&format!("sha256:{head}"))).unwrap();
        assert!(r.is_intact());
        assert_eq!(r.anchor_line(), Some(6));
    }

    #[test]
    fn redacted_records_mask_findings_only() {
        let path = tmp("redacted");
        let sink = JsonlAuditSink::open(&path, &AuditConfig { keep_text: KeepText::Redacted, fsync: false }).unwrap();
        let text = "my face droops since noon";
        let f = Finding::new("high_risk", "stroke.face_droop", "stroke", Severity::Emergency, Span::new(3, 14));
        let v = Verdict::new(Decision::Block, None, Cow::Borrowed("x"), vec![f], "p".into());
        sink.record(&AuditEvent::new(Stage::Request, text, &v)).unwrap();
        let rec: Value = serde_json::from_str(&lines(&path)[0]).unwrap();
        assert_eq!(rec["text"], "my [redacted] since noon");
        assert_eq!(rec["verdict"]["findings"][0]["rule"], "stroke.face_droop");
        assert_eq!(rec["verdict"]["decision"], "block");
        assert!(rec["verdict"].get("text").is_none(), "the verdict's text is never recorded");
    }
}
