//! The [`Check`] trait: one composable step of a [`Guardrail`] pipeline, and
//! the [`Context`] it works through.
//!
//! A check reads the shared detection [`View`] of the message, reports
//! [`Finding`]s, and may rewrite the text (edits, prefixes, suffixes), block
//! it, or escalate it to a human. Checks never see each other; they talk
//! through the context, in pipeline order.
//!
//! ```
//! use medguard::{Check, CheckError, Context, Guardrail, Severity, Stages};
//!
//! /// Blocks any message that mentions our competitor.
//! struct NoCompetitor;
//!
//! impl Check for NoCompetitor {
//!     fn id(&self) -> &str { "no_competitor" }
//!     fn stages(&self) -> Stages { Stages::BOTH }
//!     fn check(&self, cx: &mut Context<'_>) -> Result<(), CheckError> {
//!         if let Some(pos) = cx.view().as_str().find("acme health") {
//!             let span = cx.view().span(pos..pos + "acme health".len());
//!             cx.report("no_competitor.mention", "brand", Severity::High, span);
//!             cx.block("Sorry, I can't talk about that.");
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let guard = Guardrail::builder().check(NoCompetitor).dangerous().allow_missing_safety_checks().build()?;
//! let verdict = guard.check_request("What about ACME Health?");
//! assert!(verdict.is_blocked());
//! assert_eq!(verdict.findings()[0].span(), medguard::Span::new(11, 22));
//! # Ok::<(), medguard::Error>(())
//! ```
//!
//! [`Guardrail`]: crate::Guardrail

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::locale::Locale;
use crate::normalize::View;
use crate::verdict::{Decision, Finding, Severity, Span, Verdict};

/// Which message a check is looking at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The user's message, before the model sees it.
    Request,
    /// The model's answer, before the user sees it.
    Response,
}

impl Stage {
    /// `"request"` or `"response"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Request => "request",
            Stage::Response => "response",
        }
    }
}

/// The set of stages a check applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stages(u8);

impl Stages {
    /// Requests only.
    pub const REQUEST: Stages = Stages(1);
    /// Responses only.
    pub const RESPONSE: Stages = Stages(2);
    /// Both requests and responses.
    pub const BOTH: Stages = Stages(3);

    /// Whether `stage` is in the set.
    #[must_use]
    pub fn contains(self, stage: Stage) -> bool {
        let bit = match stage {
            Stage::Request => 1,
            Stage::Response => 2,
        };
        self.0 & bit != 0
    }
}

/// An internal fault of a check.
///
/// Returned by [`Check::check`] when the check cannot reach a decision (a
/// broken invariant, an exhausted budget). The guardrail fails closed: the
/// verdict becomes `block` with a finding naming the check, or the `try_`
/// entry points return it as [`Error::Check`](crate::Error). The message must
/// not contain the checked text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    message: Cow<'static, str>,
}

impl CheckError {
    /// A fault with a short description (never the checked text).
    pub fn new(message: impl Into<Cow<'static, str>>) -> CheckError {
        CheckError { message: message.into() }
    }

    /// The description.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CheckError {}

/// One composable check of a guardrail pipeline.
///
/// Implementations must be cheap to run: compile every pattern when the check
/// is built, and keep per-call buffers in [`Context::scratch`]. A check must
/// not panic; if it does anyway, the guardrail catches the panic (unless the
/// binary is built with `panic = "abort"`) and fails closed.
pub trait Check: Send + Sync {
    /// The check id used in findings (`"sanitizer"`, `"high_risk"`, ... for
    /// the built-in checks; custom checks choose their own).
    fn id(&self) -> &str;

    /// The stages this check applies to.
    fn stages(&self) -> Stages;

    /// Whether the check still runs after an earlier check blocked the
    /// message. Default `false` (stop at the first block). Checks whose
    /// outcome must never hide behind a block (clinical escalation, the
    /// disclaimer) return `true`.
    fn runs_after_block(&self) -> bool {
        false
    }

    /// Checks the message in `cx`.
    ///
    /// # Errors
    ///
    /// A [`CheckError`] when the check faults; the guardrail then fails
    /// closed.
    fn check(&self, cx: &mut Context<'_>) -> Result<(), CheckError>;

    /// Approximate heap bytes of the compiled check (automata, tables).
    fn memory_usage(&self) -> usize {
        0
    }
}

/// A text edit on the original message: replace `span` by `replacement`.
#[derive(Debug, Clone)]
pub(crate) struct Edit {
    pub(crate) span: Span,
    pub(crate) replacement: Cow<'static, str>,
}

/// What the checks have decided so far about one message.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) decision: Decision,
    pub(crate) findings: Vec<Finding>,
    pub(crate) edits: Vec<Edit>,
    pub(crate) replacement: Option<Cow<'static, str>>,
    pub(crate) prefix: Vec<Cow<'static, str>>,
    pub(crate) suffix: Vec<Cow<'static, str>>,
    pub(crate) escalation: Option<(Arc<str>, Severity)>,
}

impl Outcome {
    pub(crate) fn clear(&mut self) {
        self.decision = Decision::Allow;
        self.findings.clear();
        self.edits.clear();
        self.replacement = None;
        self.prefix.clear();
        self.suffix.clear();
        self.escalation = None;
    }
}

/// Per-check reusable state, kept in a [`Scratch`](crate::Scratch).
pub(crate) type Slot = Option<Box<dyn Any + Send>>;

/// Everything a check sees and can do while checking one message.
pub struct Context<'a> {
    pub(crate) stage: Stage,
    pub(crate) original: &'a str,
    pub(crate) view: &'a View,
    pub(crate) request: Option<&'a Verdict<'a>>,
    pub(crate) locale: &'a Locale,
    pub(crate) check_id: &'a Arc<str>,
    pub(crate) outcome: &'a mut Outcome,
    pub(crate) slot: &'a mut Slot,
    pub(crate) truncated: bool,
}

impl<'a> Context<'a> {
    /// Which message this is.
    #[must_use]
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The original text, exactly as received. Spans index into it.
    #[must_use]
    pub fn original(&self) -> &'a str {
        self.original
    }

    /// The shared detection view (normalised once per message).
    #[must_use]
    pub fn view(&self) -> &'a View {
        self.view
    }

    /// Whether the view covers only a prefix of the original, because the
    /// message is over the size limit (it is blocked already; only checks
    /// that run after a block see this).
    #[must_use]
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// At the response stage, the verdict of the request this answers (the
    /// escalation above all). `None` at the request stage.
    #[must_use]
    pub fn request(&self) -> Option<&'a Verdict<'a>> {
        self.request
    }

    /// The deployment locale: emergency numbers and messages.
    #[must_use]
    pub fn locale(&self) -> &'a Locale {
        self.locale
    }

    /// The decision so far.
    #[must_use]
    pub fn decision(&self) -> Decision {
        self.outcome.decision
    }

    /// Whether an earlier check blocked the message.
    #[must_use]
    pub fn is_blocked(&self) -> bool {
        self.outcome.decision == Decision::Block
    }

    /// The findings so far, in pipeline order.
    #[must_use]
    pub fn findings(&self) -> &[Finding] {
        &self.outcome.findings
    }

    /// The strongest escalation so far in this message (category, severity).
    #[must_use]
    pub fn escalation(&self) -> Option<(&str, Severity)> {
        self.outcome.escalation.as_ref().map(|(c, s)| (&**c, *s))
    }

    /// The escalation of the exchange: this message's, or at the response
    /// stage the request's, whichever is stronger.
    #[must_use]
    pub fn exchange_escalation(&self) -> Option<(&str, Severity)> {
        let own = self.escalation();
        let req = self.request.and_then(|r| r.escalation()).map(|e| (e.category(), e.severity()));
        match (own, req) {
            (Some(a), Some(b)) => Some(if b.1 > a.1 { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// Reports a finding of this check.
    pub fn report(&mut self, rule: impl Into<Arc<str>>, category: impl Into<Arc<str>>, severity: Severity, span: Span) {
        let span = self.clamp(span);
        self.outcome.findings.push(Finding::new(self.check_id.clone(), rule, category, severity, span));
    }

    /// Reports a finding built by the check (with qualifiers or a score).
    /// Its check id is set to this check's id and its span is clamped to the
    /// original text on char boundaries.
    pub fn push_finding(&mut self, mut finding: Finding) {
        finding.span = self.clamp(finding.span);
        if finding.check != *self.check_id {
            finding.check = self.check_id.clone();
        }
        self.outcome.findings.push(finding);
    }

    /// This check's id, as an `Arc` for building findings cheaply.
    #[must_use]
    pub fn check_id(&self) -> &Arc<str> {
        self.check_id
    }

    /// Escalates the message to a human: `severity` should be `urgent` or
    /// `emergency`. The strongest escalation wins; the verdict's message is
    /// taken from the locale for `category`.
    pub fn escalate(&mut self, category: impl Into<Arc<str>>, severity: Severity) {
        let stronger = match &self.outcome.escalation {
            None => true,
            Some((_, s)) => severity > *s,
        };
        if stronger && severity.escalates() {
            self.outcome.escalation = Some((category.into(), severity));
        }
    }

    /// Blocks the message: the verdict's text becomes `replacement`.
    ///
    /// A later block replaces an earlier replacement text only when the
    /// earlier one was not set; use [`replace_block_text`] to override.
    ///
    /// [`replace_block_text`]: Context::replace_block_text
    pub fn block(&mut self, replacement: impl Into<Cow<'static, str>>) {
        self.outcome.decision = Decision::Block;
        if self.outcome.replacement.is_none() {
            self.outcome.replacement = Some(replacement.into());
        }
    }

    /// Blocks the message and sets its replacement text, overriding any
    /// earlier replacement (used when an escalation message must win).
    pub fn replace_block_text(&mut self, replacement: impl Into<Cow<'static, str>>) {
        self.outcome.decision = Decision::Block;
        self.outcome.replacement = Some(replacement.into());
    }

    /// Replaces `span` of the original text by `replacement` (an empty
    /// replacement removes it). The decision becomes at least `modify`.
    ///
    /// Edits are applied together when the verdict is assembled; overlapping
    /// edits merge into their union, which takes the replacement of the wider
    /// edit.
    pub fn edit(&mut self, span: Span, replacement: impl Into<Cow<'static, str>>) {
        let span = self.clamp(span);
        self.outcome.edits.push(Edit { span, replacement: replacement.into() });
        self.outcome.decision = self.outcome.decision.merge(Decision::Modify);
    }

    /// Adds text before the forwarded text (or before the replacement text
    /// of a block). The decision becomes at least `modify`.
    pub fn prepend(&mut self, text: impl Into<Cow<'static, str>>) {
        self.outcome.prefix.push(text.into());
        self.outcome.decision = self.outcome.decision.merge(Decision::Modify);
    }

    /// Adds text after the forwarded text (or after the replacement text of
    /// a block). The decision becomes at least `modify`.
    pub fn append(&mut self, text: impl Into<Cow<'static, str>>) {
        self.outcome.suffix.push(text.into());
        self.outcome.decision = self.outcome.decision.merge(Decision::Modify);
    }

    /// The replacement text of a block so far, if the message is blocked.
    #[must_use]
    pub fn block_text(&self) -> Option<&str> {
        self.outcome.replacement.as_deref()
    }

    /// Text added before / after the body so far.
    #[must_use]
    pub fn added_text(&self) -> (&[Cow<'static, str>], &[Cow<'static, str>]) {
        (&self.outcome.prefix, &self.outcome.suffix)
    }

    /// This check's reusable per-call state, created with `T::default()` the
    /// first time and kept in the caller's [`Scratch`](crate::Scratch).
    ///
    /// If the slot holds a value of another type (a scratch shared between
    /// two differently built guardrails) it is replaced.
    pub fn scratch<T: Any + Send + Default>(&mut self) -> &mut T {
        let ok = self.slot.as_ref().is_some_and(|b| b.is::<T>());
        if !ok {
            *self.slot = Some(Box::new(T::default()));
        }
        match self.slot.as_mut().and_then(|b| b.downcast_mut::<T>()) {
            Some(t) => t,
            None => unreachable_slot(),
        }
    }

    fn clamp(&self, span: Span) -> Span {
        let len = self.original.len();
        let mut s = span.start.min(len);
        let mut e = span.end.clamp(s, len);
        while !self.original.is_char_boundary(s) {
            s -= 1;
        }
        while !self.original.is_char_boundary(e) {
            e += 1;
        }
        Span::new(s, e)
    }
}

#[cold]
fn unreachable_slot() -> ! {
    // The slot was filled with a `T` just above.
    unreachable!("scratch slot holds the type just stored")
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("stage", &self.stage)
            .field("check", &self.check_id)
            .field("len", &self.original.len())
            .field("decision", &self.outcome.decision)
            .finish_non_exhaustive()
    }
}
