//! Guarding a streamed model response.
//!
//! A [`ResponseStream`] takes the model's chunks as they arrive and releases
//! text only when the checks have seen it with enough context after it:
//!
//! * text is released at sentence ends, and only once at least
//!   [`StreamConfig::window`] bytes follow the release point, so a pattern
//!   that spans a chunk boundary is seen whole before anything around it is
//!   shown;
//! * nothing is released before [`StreamConfig::hold_min`] bytes have
//!   arrived (the start of an answer decides, for example, whether the
//!   disclaimer is already there);
//! * when the **request escalated**, nothing is released until the answer is
//!   complete: the user already sees the emergency guidance from the request
//!   verdict, and a reassuring answer to a red flag must never be half-shown;
//! * when a check blocks, the stream is **cut off**: the safe replacement text
//!   is released once and nothing more.
//!
//! [`ResponseStream::finish`] judges the whole answer exactly as
//! [`Guardrail::check_response`] does, so the final verdict always equals the
//! whole-text verdict. When that verdict is not a block, the released text
//! followed by [`StreamEnd::tail`] is exactly the verdict's text.
//!
//! Cost: the pipeline re-runs on the received text when it has grown by a
//! quarter (and at least [`StreamConfig::min_step`] bytes), so the total work
//! is linear in the length of the answer (about five passes).
//!
//! ```
//! use medguard::Guardrail;
//!
//! let guard = Guardrail::healthcare()?;
//! let request = guard.check_request("What helps with a sore throat?");
//! let mut stream = guard.response_stream(&request);
//! let mut shown = String::new();
//! for chunk in ["Warm drinks and honey ", "can soothe a sore throat. ", "Rest helps too."] {
//!     shown.push_str(stream.push(chunk).text());
//! }
//! let end = stream.finish();
//! shown.push_str(&end.tail);
//! assert_eq!(shown, end.verdict.text());
//! # Ok::<(), medguard::Error>(())
//! ```

use std::fmt;

use crate::check::Stage;
use crate::guardrail::{Guardrail, Scratch, apply_merged, merge_edits};
use crate::normalize::floor_char_boundary;
use crate::verdict::{Decision, Verdict};

/// Tuning of a [`ResponseStream`].
///
/// | field | default | meaning |
/// |---|---|---|
/// | `window` | 64 | bytes that must follow a release point |
/// | `hold_min` | 512 | bytes received before anything is released |
/// | `min_step` | 256 | least growth (bytes) before the checks re-run |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// Bytes that must follow a release point.
    pub window: usize,
    /// Bytes received before anything is released.
    pub hold_min: usize,
    /// Least growth in bytes before the checks re-run.
    pub min_step: usize,
}

impl Default for StreamConfig {
    fn default() -> StreamConfig {
        StreamConfig { window: 64, hold_min: 512, min_step: 256 }
    }
}

/// Text a [`ResponseStream::push`] lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release<'a> {
    text: &'a str,
    cut_off: bool,
}

impl<'a> Release<'a> {
    /// Text to show the user now (often empty).
    #[must_use]
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Whether the stream was cut off: [`text`](Release::text) is the safe
    /// replacement message and nothing more will be released. Stop the
    /// model.
    #[must_use]
    pub fn is_cut_off(&self) -> bool {
        self.cut_off
    }
}

/// The end of a guarded stream.
pub struct StreamEnd {
    /// The whole-text verdict of the answer (equal to
    /// [`Guardrail::check_response`] on the concatenated chunks).
    pub verdict: Verdict<'static>,
    /// Text still to show after everything released so far.
    pub tail: String,
    /// Whether the stream was cut off (during the stream, or at the end
    /// because the whole answer is blocked); then `tail` is the safe
    /// replacement message, or empty if it was already released.
    pub cut_off: bool,
}

impl fmt::Debug for StreamEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamEnd")
            .field("verdict", &self.verdict)
            .field("tail_len", &self.tail.len())
            .field("cut_off", &self.cut_off)
            .finish()
    }
}

/// A guarded model response arriving in chunks; see the [module
/// docs](crate::stream).
pub struct ResponseStream {
    guard: Guardrail,
    request: Verdict<'static>,
    config: StreamConfig,
    scratch: Scratch,
    buf: String,
    /// Bytes of `buf` whose text has been released.
    released_src: usize,
    /// The exact text released so far.
    released: String,
    prefix_released: bool,
    checked_len: usize,
    hold_all: bool,
    cut_off: bool,
    /// Bytes received beyond what is kept (over the size limit).
    overflow: bool,
    out: String,
}

impl fmt::Debug for ResponseStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseStream")
            .field("received", &self.buf.len())
            .field("released", &self.released.len())
            .field("hold_all", &self.hold_all)
            .field("cut_off", &self.cut_off)
            .finish_non_exhaustive()
    }
}

impl Guardrail {
    /// Starts guarding a streamed answer to `request` with the default
    /// [`StreamConfig`].
    #[must_use]
    pub fn response_stream(&self, request: &Verdict<'_>) -> ResponseStream {
        self.response_stream_with(request, StreamConfig::default())
    }

    /// Starts guarding a streamed answer to `request`.
    #[must_use]
    pub fn response_stream_with(&self, request: &Verdict<'_>, config: StreamConfig) -> ResponseStream {
        ResponseStream {
            guard: self.clone(),
            hold_all: request.is_escalated(),
            request: request.clone().into_owned(),
            config,
            scratch: Scratch::new(),
            buf: String::new(),
            released_src: 0,
            released: String::new(),
            prefix_released: false,
            checked_len: 0,
            cut_off: false,
            overflow: false,
            out: String::new(),
        }
    }
}

impl ResponseStream {
    /// Adds the next chunk of the answer and returns the text that may be
    /// shown now.
    pub fn push(&mut self, chunk: &str) -> Release<'_> {
        self.out.clear();
        self.receive(chunk);
        if self.cut_off || self.hold_all {
            return Release { text: &self.out, cut_off: false };
        }
        let len = self.buf.len();
        let step = self.config.min_step.max(self.checked_len / 4);
        if len < self.config.hold_min || len - self.checked_len < step {
            return Release { text: &self.out, cut_off: false };
        }
        self.release_checked();
        Release { text: &self.out, cut_off: self.cut_off }
    }

    /// Ends the stream: judges the whole answer and returns the rest of the
    /// text to show.
    #[must_use]
    pub fn finish(mut self) -> StreamEnd {
        let verdict = self.guard.check_response_with(&mut self.scratch, &self.request, &self.buf).into_owned();
        if self.cut_off {
            return StreamEnd { verdict, tail: String::new(), cut_off: true };
        }
        if verdict.decision() != Decision::Block
            && let Some(rest) = verdict.text().strip_prefix(self.released.as_str())
        {
            return StreamEnd { tail: rest.to_string(), verdict, cut_off: false };
        }
        // Blocked as a whole, or (should not happen) the final text no
        // longer extends what was shown: show the safe text instead.
        let tail = if verdict.is_blocked() {
            verdict.text().to_string()
        } else {
            self.guard.locale().response_blocked().to_string()
        };
        StreamEnd { verdict, tail, cut_off: true }
    }

    /// Bytes received so far (up to the size limit).
    #[must_use]
    pub fn received(&self) -> usize {
        self.buf.len()
    }

    /// Whether the stream was cut off.
    #[must_use]
    pub fn is_cut_off(&self) -> bool {
        self.cut_off
    }

    /// Appends a chunk, keeping at most one char beyond the size limit (so
    /// the final verdict blocks the answer as too long).
    fn receive(&mut self, chunk: &str) {
        if self.overflow {
            return;
        }
        let limit = self.guard.limits().max_input_bytes;
        let room = limit.saturating_sub(self.buf.len());
        if chunk.len() <= room {
            self.buf.push_str(chunk);
            return;
        }
        // Keep the first char past the limit so the verdict says "too long".
        let mut keep = floor_char_boundary(chunk, room);
        if let Some(c) = chunk[keep..].chars().next() {
            keep += c.len_utf8();
        }
        self.buf.push_str(&chunk[..keep]);
        self.overflow = true;
    }

    /// Runs the checks on everything received and releases what is safe.
    fn release_checked(&mut self) {
        self.checked_len = self.buf.len();
        let guard = self.guard.clone();
        if guard.evaluate(&mut self.scratch, Stage::Response, Some(&self.request), &self.buf, false).is_err() {
            // Non-strict evaluation turns faults into blocks; nothing to do.
            return;
        }
        if self.scratch.outcome_decision() == Decision::Block {
            let verdict = guard.assemble_scratch(&mut self.scratch, Stage::Response, Some(&self.request), &self.buf);
            self.out.push_str(verdict.text());
            self.cut_off = true;
            return;
        }
        let Some(point) = self.release_point() else { return };
        let outcome = self.scratch.outcome_mut();
        merge_edits(&mut outcome.edits);
        if outcome.edits.iter().any(|e| e.span.start < point && point < e.span.end) {
            return;
        }
        if !self.prefix_released {
            for p in &outcome.prefix {
                self.out.push_str(p);
            }
            self.prefix_released = true;
        }
        apply_merged(&self.buf, self.released_src..point, &outcome.edits, &mut self.out);
        self.released_src = point;
        self.released.push_str(&self.out);
    }

    /// The last sentence end at least `window` bytes before the end of what
    /// was received, after what was already released.
    fn release_point(&self) -> Option<usize> {
        let limit = self.buf.len().checked_sub(self.config.window)?;
        let bytes = self.buf.as_bytes();
        let mut i = limit;
        while i > self.released_src {
            // A boundary: a sentence terminator or newline, followed by
            // whitespace (the sentence is complete).
            let prev = bytes[i - 1];
            if (matches!(prev, b'.' | b'!' | b'?') && bytes.get(i).is_some_and(u8::is_ascii_whitespace))
                || prev == b'\n'
            {
                return Some(i);
            }
            i -= 1;
        }
        None
    }
}
