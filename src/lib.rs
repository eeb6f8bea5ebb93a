//! medguard keeps health chatbots from hurting people.
//!
//! A chatbot backend calls medguard inline on every user request and every
//! model response. It cleans hostile input, catches prompt injection,
//! escalates red-flag symptoms to a human clinician, stops the model from
//! diagnosing or prescribing, and makes sure every answer carries the
//! disclaimer the operator must show.
//!
//! # Overview
//!
//! A [`Guardrail`] is an immutable pipeline of [`Check`]s. For each message it
//! builds one normalised detection [`View`](normalize::View), runs the checks
//! that apply to the [`Stage`], and returns a [`Verdict`]:
//!
//! * a [`Decision`]: `allow`, `modify` (forward the rewritten text) or `block`
//!   (show the replacement text instead);
//! * an independent [`Escalation`]: whether a clinician or emergency guidance
//!   must be involved;
//! * the text to forward, borrowed from the input when unchanged;
//! * the [`Finding`]s, each with a check id, rule id, category, severity and
//!   a byte [`Span`] of the original text (never a copy of it);
//! * the id of the policy that decided.
//!
//! The detection view sees through obfuscation once, for every check:
//! NFKC, case folding, invisible characters removed, look-alike letters
//! folded to Latin, text hidden in Unicode tag characters decoded in place
//! (`View::is_hidden` marks it), and a second "squeezed" form for
//! letter-spaced and l33t text (`View::squeezed`). The first check of the
//! built-in pipeline, [`sanitizer`](checks::sanitizer), produces the text
//! that is forwarded: invisible, bidi, control and tag characters removed and
//! NFC applied (never NFKC), with spam and code payloads flagged or blocked.
//!
//! # Example
//!
//! ```
//! use medguard::{Decision, Guardrail};
//!
//! // Compile once at start-up; share it (cloning is free).
//! let guard = Guardrail::healthcare()?;
//!
//! let request = guard.check_request("I have crushing chest pain spreading to my left arm");
//! let escalation = request.escalation().expect("chest pain spreading to the arm escalates");
//! assert_eq!(escalation.category(), "cardiac");
//! assert!(escalation.message().contains("911"));
//!
//! // The model's answer is judged knowing the request escalated.
//! let response = guard.check_response(&request, "It's probably heartburn, take an antacid.");
//! assert_eq!(response.decision(), Decision::Block);
//!
//! // A benign exchange passes, with the operator's disclaimer added.
//! let request = guard.check_request("What foods are high in fibre?");
//! assert_eq!(request.decision(), Decision::Allow);
//! let response = guard.check_response(&request, "Beans, lentils and whole grains.");
//! assert_eq!(response.decision(), Decision::Modify);
//! assert!(response.text().contains("Beans, lentils and whole grains."));
//! # Ok::<(), medguard::Error>(())
//! ```
//!
//! # Untrusted input
//!
//! medguard is built to check text from anyone:
//!
//! * **Panics.** Checking a message never panics and never returns an error
//!   from [`Guardrail::check_request`] / [`Guardrail::check_response`]: a
//!   check that faults (returns an error or panics) turns the verdict into
//!   `block` with a finding naming the check (fail closed). The `try_` twins
//!   return the fault instead. A check panic is caught with
//!   `catch_unwind`, which cannot help in binaries built with
//!   `panic = "abort"`; the built-in checks do not panic (fuzzed).
//! * **Limits.** Messages longer than [`Limits::max_input_bytes`] (default
//!   64 KiB) are blocked with the finding `sanitizer.too_long`, never
//!   silently truncated; only their first `max_input_bytes` are scanned, and
//!   only by the checks that still run after a block (red-flag escalation and
//!   the disclaimer), so an emergency is not lost in a long message.
//! * **Complexity.** Every check runs in time linear in the message length:
//!   automata and the `regex` crate (no backtracking); the view is built in
//!   one pass.
//! * **Configuration errors** (bad pattern, duplicate id, unknown field) are
//!   reported when the guardrail is built, as [`Error`], never while
//!   checking.
//!
//! # Performance
//!
//! Everything is compiled once when the guardrail is built; cloning a
//! `Guardrail` only bumps a reference count. Each message is normalised once.
//! The `*_with` entry points take a caller-owned [`Scratch`] so that the clean
//! path reuses its buffers; the plain entry points use a thread-local one.
//!
//! Measured on a shared 2-core VM (criterion medians; `BENCHMARKS.md` has
//! the commands, the baselines and the goals that are still missed):
//!
//! * a clean 1 KiB exchange (request and response through all five checks)
//!   takes about 28 µs, about 1.3× one bare NFKC pass over the same bytes;
//!   throughput is flat from 200 B to 64 KiB (about 38 MB/s);
//! * a clean request makes no heap allocation with a warm scratch;
//! * red-flag matching costs 1.0–1.1× the bare Aho-Corasick automaton, from
//!   100 to 100,000 phrases;
//! * building the built-in guardrail takes about 0.2 s and about 33 MB of
//!   heap: build it once at start-up and clone it.
//!
//! # Policies and audit
//!
//! A [`Policy`] (TOML or JSON; see [`policy`] for loading, layering with
//! `extends` and rule files) describes the whole pipeline; every verdict
//! names the policy's content hash. Verdicts can be written to a
//! tamper-evident, hash-chained audit log ([`audit`]), which keeps patient
//! text only when the policy says so.
//!
//! # Crate features
//!
//! * `cli`: the `medguard` command-line tool (clap, indicatif).
//! * `tower`: `tower::GuardLayer`, a tower layer that guards a chat service
//!   (tower-layer, tower-service).
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod audit;
mod check;
pub mod checks;
mod error;
mod guardrail;
pub mod locale;
pub mod normalize;
pub mod policy;
pub mod stream;
#[cfg(feature = "tower")]
pub mod tower;
mod verdict;

pub use check::{Check, CheckError, Context, Stage, Stages};
pub use error::{BuildError, CheckFault, Error, PolicyError, Problem};
pub use guardrail::{DangerousBuilder, Guardrail, GuardrailBuilder, Limits, Scratch};
pub use locale::Locale;
pub use policy::Policy;
pub use stream::{Release, ResponseStream, StreamConfig, StreamEnd};
pub use verdict::{Decision, Escalation, Finding, Qualifier, Qualifiers, Severity, Span, Verdict};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
