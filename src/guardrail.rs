//! The [`Guardrail`]: an immutable pipeline of [`Check`]s with the request
//! and response entry points.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::check::{Check, CheckError, Context, Edit, Outcome, Slot, Stage};
use crate::error::{BuildError, CheckFault, Error};
use crate::locale::Locale;
use crate::normalize::{MAX_VIEW_INPUT, View, floor_char_boundary};
use crate::policy::Policy;
use crate::verdict::{Decision, Escalation, Finding, Severity, Span, Verdict};

/// Size limits of a guardrail.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `max_input_bytes` | 65,536 (64 KiB) | longer messages are blocked (`sanitizer.too_long`); only their first `max_input_bytes` are scanned, by the checks that run after a block (red-flag escalation, disclaimer) |
/// | `max_findings` | 256 | findings kept per verdict; later ones are dropped (the decision still counts them) |
///
/// `max_input_bytes` may be at most 16 MiB, so memory stays bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest message checked in full, in bytes.
    pub max_input_bytes: usize,
    /// Most findings kept in one verdict.
    pub max_findings: usize,
}

impl Limits {
    /// Upper bound for `max_input_bytes`.
    pub const MAX_INPUT_CEILING: usize = 16 << 20;
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_input_bytes: 64 * 1024, max_findings: 256 }
    }
}

/// Reusable per-call buffers: the detection view and each check's state.
///
/// Pass one to the `*_with` entry points to check messages without
/// allocating on the clean path. A `Scratch` may be used with any guardrail,
/// but not from two threads at once (it is `Send`, not `Sync`). The plain
/// entry points use a thread-local scratch.
#[derive(Default)]
pub struct Scratch {
    view: View,
    outcome: Outcome,
    slots: Vec<Slot>,
}

impl Scratch {
    /// An empty scratch; buffers grow on first use.
    #[must_use]
    pub fn new() -> Scratch {
        Scratch::default()
    }

    pub(crate) fn outcome_decision(&self) -> Decision {
        self.outcome.decision
    }

    pub(crate) fn outcome_mut(&mut self) -> &mut Outcome {
        &mut self.outcome
    }
}

impl fmt::Debug for Scratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scratch").field("view", &self.view).field("slots", &self.slots.len()).finish()
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new());
}

struct Inner {
    checks: Vec<(Arc<str>, Box<dyn Check>)>,
    limits: Limits,
    locale: Locale,
    policy_id: Arc<str>,
    collect_all: bool,
}

/// An immutable, cheaply cloneable guardrail pipeline.
///
/// Build one at start-up ([`Guardrail::healthcare`] for the built-in
/// healthcare policy, [`Guardrail::from_policy`] for a policy file, or
/// [`Guardrail::builder`]) and share it: it is `Send + Sync` and cloning it
/// only bumps a reference count.
///
/// ```
/// use medguard::Guardrail;
///
/// let guard = Guardrail::healthcare()?;
/// let request = guard.check_request("My dad's face is drooping and he can't lift his arm");
/// assert!(request.is_escalated());
/// let response = guard.check_response(&request, "It's probably just a stress headache, try to rest.");
/// assert!(response.is_blocked());
/// assert!(response.text().contains("911"));
/// # Ok::<(), medguard::Error>(())
/// ```
#[derive(Clone)]
pub struct Guardrail {
    inner: Arc<Inner>,
}

impl fmt::Debug for Guardrail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.inner.checks.iter().map(|(id, _)| &**id).collect();
        f.debug_struct("Guardrail")
            .field("policy", &self.inner.policy_id)
            .field("checks", &ids)
            .field("limits", &self.inner.limits)
            .field("locale", &self.inner.locale.tag())
            .finish()
    }
}

impl Guardrail {
    /// A builder for a custom pipeline.
    #[must_use]
    pub fn builder() -> GuardrailBuilder {
        GuardrailBuilder::new()
    }

    /// The built-in healthcare pipeline ([`Policy::builtin`]).
    ///
    /// # Errors
    ///
    /// Never in a released build (a test builds it); the `Result` keeps the
    /// constructor panic-free.
    pub fn healthcare() -> Result<Guardrail, Error> {
        Guardrail::from_policy(&Policy::builtin()?)
    }

    /// A guardrail built from a policy document.
    ///
    /// # Errors
    ///
    /// [`Error::Build`] naming the offending field when a check cannot be
    /// built from its section (bad pattern, duplicate rule id, ...).
    pub fn from_policy(policy: &Policy) -> Result<Guardrail, Error> {
        Guardrail::builder().policy(policy).build()
    }

    /// The id of the policy that decides: `name@version+sha256:<hash>`.
    #[must_use]
    pub fn policy_id(&self) -> &str {
        &self.inner.policy_id
    }

    /// The deployment locale.
    #[must_use]
    pub fn locale(&self) -> &Locale {
        &self.inner.locale
    }

    /// The size limits.
    #[must_use]
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// The check ids in pipeline order.
    pub fn check_ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.inner.checks.iter().map(|(id, _)| &**id)
    }

    /// Approximate heap bytes of the compiled pipeline (automata, tables,
    /// messages), not counting per-call scratch.
    #[must_use]
    pub fn memory_usage(&self) -> usize {
        self.inner.checks.iter().map(|(_, c)| c.memory_usage()).sum::<usize>() + self.inner.locale.heap_bytes()
    }

    /// Checks a user's message before the model sees it.
    ///
    /// Never panics and never fails: an internal fault of a check becomes a
    /// `block` verdict with a finding naming the check.
    pub fn check_request<'t>(&self, text: &'t str) -> Verdict<'t> {
        with_scratch(|s| self.run(s, Stage::Request, None, text, false)).unwrap_or_else(|f| self.fault_verdict(text, f))
    }

    /// [`check_request`](Guardrail::check_request) with caller-owned scratch,
    /// so the clean path does not allocate.
    pub fn check_request_with<'t>(&self, scratch: &mut Scratch, text: &'t str) -> Verdict<'t> {
        self.run(scratch, Stage::Request, None, text, false).unwrap_or_else(|f| self.fault_verdict(text, f))
    }

    /// Like [`check_request`](Guardrail::check_request), but a faulting
    /// check returns an error instead of failing closed.
    ///
    /// # Errors
    ///
    /// [`Error::Check`] naming the check that faulted.
    pub fn try_check_request<'t>(&self, text: &'t str) -> Result<Verdict<'t>, Error> {
        with_scratch(|s| self.run(s, Stage::Request, None, text, true)).map_err(Error::Check)
    }

    /// Checks the model's answer to `request` (the request's verdict) before
    /// the user sees it. The request's escalation flows in: a response to a
    /// red-flag request is judged knowing that, and the response verdict
    /// carries the exchange's escalation.
    ///
    /// For a response with no request to judge it against, pass
    /// [`Verdict::allow`]`("", guard.policy_id())`.
    pub fn check_response<'t>(&self, request: &Verdict<'_>, text: &'t str) -> Verdict<'t> {
        with_scratch(|s| self.run(s, Stage::Response, Some(request), text, false))
            .unwrap_or_else(|f| self.fault_verdict(text, f))
    }

    /// [`check_response`](Guardrail::check_response) with caller-owned
    /// scratch.
    pub fn check_response_with<'t>(&self, scratch: &mut Scratch, request: &Verdict<'_>, text: &'t str) -> Verdict<'t> {
        self.run(scratch, Stage::Response, Some(request), text, false).unwrap_or_else(|f| self.fault_verdict(text, f))
    }

    /// Like [`check_response`](Guardrail::check_response), but a faulting
    /// check returns an error instead of failing closed.
    ///
    /// # Errors
    ///
    /// [`Error::Check`] naming the check that faulted.
    pub fn try_check_response<'t>(&self, request: &Verdict<'_>, text: &'t str) -> Result<Verdict<'t>, Error> {
        with_scratch(|s| self.run(s, Stage::Response, Some(request), text, true)).map_err(Error::Check)
    }

    /// Runs the pipeline. With `strict`, a fault is returned; otherwise it
    /// is turned into a block inside the verdict (and `Err` is never
    /// returned).
    fn run<'t>(
        &self,
        scratch: &mut Scratch,
        stage: Stage,
        request: Option<&Verdict<'_>>,
        text: &'t str,
        strict: bool,
    ) -> Result<Verdict<'t>, CheckFault> {
        self.evaluate(scratch, stage, request, text, strict)?;
        Ok(self.assemble(&mut scratch.outcome, stage, request, text))
    }

    /// Runs the checks, leaving their outcome in `scratch.outcome` (edits not
    /// yet applied). The stream guard inspects that outcome directly.
    pub(crate) fn evaluate(
        &self,
        scratch: &mut Scratch,
        stage: Stage,
        request: Option<&Verdict<'_>>,
        text: &str,
        strict: bool,
    ) -> Result<(), CheckFault> {
        let inner = &*self.inner;
        let Scratch { view, outcome, slots } = scratch;
        outcome.clear();
        if slots.len() < inner.checks.len() {
            slots.resize_with(inner.checks.len(), || None);
        }

        // Cheapest gate first: the size limit, before any normalisation.
        let limit = inner.limits.max_input_bytes.min(MAX_VIEW_INPUT);
        let truncated = text.len() > limit;
        let scanned = if truncated {
            let cut = floor_char_boundary(text, limit);
            outcome.findings.push(Finding::new(
                "sanitizer",
                "sanitizer.too_long",
                "limit",
                Severity::High,
                Span::new(cut, text.len()),
            ));
            outcome.decision = Decision::Block;
            &text[..cut]
        } else {
            text
        };

        view.build(scanned);

        for (i, (id, check)) in inner.checks.iter().enumerate() {
            if !check.stages().contains(stage) {
                continue;
            }
            if outcome.decision == Decision::Block && !inner.collect_all && !check.runs_after_block() {
                continue;
            }
            let mut cx = Context {
                stage,
                original: text,
                view,
                request,
                locale: &inner.locale,
                check_id: id,
                outcome,
                slot: &mut slots[i],
                truncated,
            };
            let result = catch_unwind(AssertUnwindSafe(|| check.check(&mut cx)))
                .unwrap_or_else(|_| Err(CheckError::new("the check panicked")));
            if let Err(e) = result {
                if strict {
                    return Err(CheckFault::new(&**id, e.message()));
                }
                outcome.findings.push(Finding::new(
                    id.clone(),
                    format!("{id}.internal_error"),
                    "internal_error",
                    Severity::High,
                    Span::new(0, text.len()),
                ));
                outcome.decision = Decision::Block;
                // The fault may have left a half-made replacement: the
                // generic blocked message is the safe one.
                outcome.replacement = None;
            }
        }
        Ok(())
    }

    /// Turns the outcome left in `scratch` by [`evaluate`](Self::evaluate)
    /// into a verdict.
    pub(crate) fn assemble_scratch<'t>(
        &self,
        scratch: &mut Scratch,
        stage: Stage,
        request: Option<&Verdict<'_>>,
        text: &'t str,
    ) -> Verdict<'t> {
        self.assemble(&mut scratch.outcome, stage, request, text)
    }

    /// Turns the outcome into a verdict.
    fn assemble<'t>(
        &self,
        outcome: &mut Outcome,
        stage: Stage,
        request: Option<&Verdict<'_>>,
        text: &'t str,
    ) -> Verdict<'t> {
        let inner = &*self.inner;
        let mut findings = std::mem::take(&mut outcome.findings);
        findings.truncate(inner.limits.max_findings);

        // The exchange's escalation: this message's, or the request's when
        // stronger. The request's message is kept as it was shown.
        let own = outcome
            .escalation
            .take()
            .map(|(cat, sev)| Escalation::new(cat.clone(), sev, inner.locale.escalation_message(&cat, sev).clone()));
        let from_request = request.and_then(|r| r.escalation()).cloned();
        let escalation = match (own, from_request) {
            (Some(a), Some(b)) => Some(if b.severity() > a.severity() { b } else { a }),
            (a, b) => a.or(b),
        };

        let added = !outcome.prefix.is_empty() || !outcome.suffix.is_empty();
        let text: Cow<'t, str> = if outcome.decision == Decision::Block {
            let replacement = outcome.replacement.take().unwrap_or_else(|| {
                Cow::Owned(
                    match stage {
                        Stage::Request => inner.locale.request_blocked(),
                        Stage::Response => inner.locale.response_blocked(),
                    }
                    .to_string(),
                )
            });
            // Escalation never hides behind a block: the user must see the
            // emergency guidance even when their message was refused.
            let body: String = match &escalation {
                Some(e) if !replacement.contains(e.message()) => format!("{}\n\n{}", e.message(), replacement),
                _ => replacement.into_owned(),
            };
            if added {
                let mut s = String::with_capacity(body.len() + added_len(outcome));
                outcome.prefix.iter().for_each(|p| s.push_str(p));
                s.push_str(&body);
                outcome.suffix.iter().for_each(|p| s.push_str(p));
                Cow::Owned(s)
            } else {
                Cow::Owned(body)
            }
        } else if !added {
            apply_edits(text, &mut outcome.edits)
        } else {
            // Edits and added text: the forwarded text is written once, in
            // one allocation (prefix, edited text, suffix), not edited into
            // an intermediate `String` first. An edited text is at most the
            // text plus the replacements.
            merge_edits(&mut outcome.edits);
            let edited = text.len() + outcome.edits.iter().map(|e| e.replacement.len()).sum::<usize>();
            let mut s = String::with_capacity(edited + added_len(outcome));
            outcome.prefix.iter().for_each(|p| s.push_str(p));
            apply_merged(text, 0..text.len(), &outcome.edits, &mut s);
            outcome.suffix.iter().for_each(|p| s.push_str(p));
            Cow::Owned(s)
        };

        let decision = match outcome.decision {
            // Defensive: a rewrite with no visible change stays `allow`.
            Decision::Modify if matches!(text, Cow::Borrowed(_)) => Decision::Allow,
            d => d,
        };
        Verdict::new(decision, escalation, text, findings, inner.policy_id.clone())
    }

    /// The verdict for a scratch that could not be borrowed or a strict
    /// fault in a non-strict call (neither happens in practice).
    fn fault_verdict<'t>(&self, text: &'t str, fault: CheckFault) -> Verdict<'t> {
        let finding = Finding::new(
            fault.check().to_string(),
            format!("{}.internal_error", fault.check()),
            "internal_error",
            Severity::High,
            Span::new(0, text.len()),
        );
        Verdict::new(
            Decision::Block,
            None,
            Cow::Owned(self.inner.locale.request_blocked().to_string()),
            vec![finding],
            self.inner.policy_id.clone(),
        )
    }
}

/// Runs `f` with the thread's scratch, or a fresh one when it is in use (a
/// check that calls the guardrail re-entrantly).
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut f = Some(f);
    let res = SCRATCH.try_with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => f.take().map(|f| f(&mut s)),
        Err(_) => None,
    });
    match (res, f) {
        (Ok(Some(r)), _) => r,
        (_, Some(f)) => f(&mut Scratch::new()),
        // `f` was taken and ran: the first arm matched.
        (_, None) => unreachable_ran(),
    }
}

#[cold]
fn unreachable_ran() -> ! {
    unreachable!("scratch closure ran but returned nothing")
}

/// Bytes of the text the checks add before and after the body.
fn added_len(outcome: &Outcome) -> usize {
    outcome.prefix.iter().chain(&outcome.suffix).map(|s| s.len()).sum()
}

/// Applies `edits` to `text`; borrows when there are none.
///
/// Edits are sorted by position; overlapping edits merge into their union,
/// which takes the replacement of the wider edit.
fn apply_edits<'t>(text: &'t str, edits: &mut Vec<Edit>) -> Cow<'t, str> {
    if edits.is_empty() {
        return Cow::Borrowed(text);
    }
    merge_edits(edits);
    let mut out = String::with_capacity(text.len());
    apply_merged(text, 0..text.len(), edits, &mut out);
    if out == text { Cow::Borrowed(text) } else { Cow::Owned(out) }
}

/// Sorts `edits` by position and merges overlapping ones into their union,
/// which takes the replacement of the wider edit.
pub(crate) fn merge_edits(edits: &mut Vec<Edit>) {
    if edits.len() < 2 {
        return;
    }
    edits.sort_by(|a, b| a.span.start.cmp(&b.span.start).then(b.span.end.cmp(&a.span.end)));
    // Merged in place (the vector lives in the scratch: no new one per
    // call): `edits[..=w]` are the merged edits so far, `edits[r]` the next.
    let mut w = 0;
    for r in 1..edits.len() {
        let (kept, rest) = edits.split_at_mut(r);
        let (last, e) = (&mut kept[w], &mut rest[0]);
        if last.span.overlaps(&e.span) && !(last.span.is_empty() && e.span.is_empty()) {
            if e.span.len() > last.span.len() {
                last.replacement = std::mem::take(&mut e.replacement);
            }
            last.span = last.span.union(&e.span);
        } else {
            w += 1;
            edits.swap(w, r);
        }
    }
    edits.truncate(w + 1);
}

/// Appends `text[range]` with the merged `edits` that lie inside `range`
/// applied to `out`. Edits straddling the range's ends must not exist (the
/// caller picks the range so).
pub(crate) fn apply_merged(text: &str, range: std::ops::Range<usize>, edits: &[Edit], out: &mut String) {
    let mut at = range.start;
    // An insertion exactly at the range's end belongs to the next range.
    let inside = |e: &&Edit| {
        e.span.start >= range.start
            && e.span.end <= range.end
            && !(e.span.is_empty() && e.span.start == range.end && range.end < text.len())
    };
    for e in edits.iter().filter(inside) {
        if e.span.start < at {
            continue;
        }
        out.push_str(&text[at..e.span.start]);
        out.push_str(&e.replacement);
        at = e.span.end;
    }
    out.push_str(&text[at..range.end]);
}

/// Builds a [`Guardrail`].
///
/// Pipeline order: the built-in checks of the policy (if any) in the
/// policy's order, then custom checks in the order they were added, and the
/// `disclaimer` check always last.
///
/// | setting | default |
/// |---|---|
/// | policy | none (only custom checks); [`Guardrail::healthcare`] uses [`Policy::builtin`] |
/// | limits | [`Limits::default`] |
/// | locale | the policy's, else the built-in `en-US` |
/// | collect all findings | `false`: stop at the first block, except for checks that run after a block |
///
/// A pipeline without the `diagnosis` and `disclaimer` checks does not build
/// unless the loudly named
/// [`dangerous().allow_missing_safety_checks()`](DangerousBuilder::allow_missing_safety_checks)
/// is called.
pub struct GuardrailBuilder {
    policy: Option<Policy>,
    custom: Vec<Box<dyn Check>>,
    limits: Option<Limits>,
    collect_all: Option<bool>,
    allow_missing_safety: bool,
}

impl fmt::Debug for GuardrailBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardrailBuilder")
            .field("policy", &self.policy.as_ref().map(|p| p.name.as_str()))
            .field("custom_checks", &self.custom.iter().map(|c| c.id().to_string()).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl GuardrailBuilder {
    fn new() -> GuardrailBuilder {
        GuardrailBuilder {
            policy: None,
            custom: Vec::new(),
            limits: None,
            collect_all: None,
            allow_missing_safety: false,
        }
    }

    /// Takes the built-in checks, limits and locale from `policy`.
    #[must_use]
    pub fn policy(mut self, policy: &Policy) -> GuardrailBuilder {
        self.policy = Some(policy.clone());
        self
    }

    /// Adds a custom check (after the policy's checks, before the
    /// disclaimer).
    #[must_use]
    pub fn check(mut self, check: impl Check + 'static) -> GuardrailBuilder {
        self.custom.push(Box::new(check));
        self
    }

    /// Adds a boxed custom check.
    #[must_use]
    pub fn check_boxed(mut self, check: Box<dyn Check>) -> GuardrailBuilder {
        self.custom.push(check);
        self
    }

    /// Overrides the size limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> GuardrailBuilder {
        self.limits = Some(limits);
        self
    }

    /// Runs every check even after a block, so the verdict lists every
    /// finding (slower on blocked input).
    #[must_use]
    pub fn collect_all_findings(mut self, yes: bool) -> GuardrailBuilder {
        self.collect_all = Some(yes);
        self
    }

    /// Settings that weaken the guardrail's safety guarantees.
    #[must_use]
    pub fn dangerous(self) -> DangerousBuilder {
        DangerousBuilder { inner: self }
    }

    /// Compiles the pipeline.
    ///
    /// # Errors
    ///
    /// [`Error::Build`] naming the field when a check cannot be built, a
    /// check id repeats, the limits are out of range, or a mandatory safety
    /// check is missing.
    pub fn build(self) -> Result<Guardrail, Error> {
        let policy = match self.policy {
            Some(p) => p,
            None => Policy::builtin_skeleton()?,
        };
        let mut limits = policy.limits;
        if let Some(l) = self.limits {
            limits = l;
        }
        if limits.max_input_bytes == 0 || limits.max_input_bytes > Limits::MAX_INPUT_CEILING {
            return Err(BuildError::new(
                "limits.max_input_bytes",
                format!("must be between 1 and {} bytes", Limits::MAX_INPUT_CEILING),
            )
            .into());
        }
        let locale = policy.compile_locale()?;
        let mut built = crate::checks::build_pipeline(&policy)?;
        // Custom checks go before the disclaimer, which is always last.
        let disclaimer_at = built.iter().position(|c| c.id() == "disclaimer");
        let tail = disclaimer_at.map(|i| built.split_off(i)).unwrap_or_default();
        built.extend(self.custom);
        built.extend(tail);

        let mut checks: Vec<(Arc<str>, Box<dyn Check>)> = Vec::with_capacity(built.len());
        for c in built {
            let id: Arc<str> = Arc::from(c.id());
            if id.is_empty() {
                return Err(BuildError::new("checks", "a check has an empty id").into());
            }
            if checks.iter().any(|(other, _)| *other == id) {
                return Err(BuildError::new("checks", format!("check id `{id}` appears twice")).into());
            }
            checks.push((id, c));
        }
        if !(self.allow_missing_safety || policy.pipeline.dangerous_allow_missing_safety_checks) {
            for required in ["diagnosis", "disclaimer"] {
                if !checks.iter().any(|(id, _)| &**id == required) {
                    return Err(BuildError::new(
                        "pipeline.checks",
                        format!(
                            "the mandatory `{required}` check is missing; removing it takes \
                             `dangerous().allow_missing_safety_checks()` (or `dangerous_allow_missing_safety_checks = true` in the policy)"
                        ),
                    )
                    .into());
                }
            }
        }
        let collect_all = self.collect_all.unwrap_or(policy.pipeline.collect_all_findings);
        Ok(Guardrail { inner: Arc::new(Inner { checks, limits, locale, policy_id: policy.id().into(), collect_all }) })
    }
}

/// Builder settings that weaken safety guarantees; reached only through
/// [`GuardrailBuilder::dangerous`].
pub struct DangerousBuilder {
    inner: GuardrailBuilder,
}

impl fmt::Debug for DangerousBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DangerousBuilder").field("inner", &self.inner).finish()
    }
}

impl DangerousBuilder {
    /// Lets the pipeline build without the mandatory `diagnosis` and
    /// `disclaimer` checks. Responses may then diagnose, dismiss red flags
    /// or reach users without the operator's disclaimer.
    #[must_use]
    pub fn allow_missing_safety_checks(mut self) -> GuardrailBuilder {
        self.inner.allow_missing_safety = true;
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(s: usize, e: usize, r: &'static str) -> Edit {
        Edit { span: Span::new(s, e), replacement: Cow::Borrowed(r) }
    }

    #[test]
    fn edits_apply_in_order_and_merge_overlaps() {
        let t = "abcdefghij";
        let mut e = vec![edit(8, 9, "X"), edit(1, 2, ""), edit(3, 6, "-"), edit(4, 5, "?")];
        assert_eq!(apply_edits(t, &mut e), "ac-ghXj");
        let mut none = Vec::new();
        assert!(matches!(apply_edits(t, &mut none), Cow::Borrowed(_)));
    }

    #[test]
    fn edits_merge_in_place_and_the_wider_replacement_wins() {
        let t = "abcdefghij";
        let mut e = vec![edit(9, 10, "Z"), edit(3, 8, "W"), edit(2, 4, "n"), edit(0, 1, "A")];
        let buf = e.as_ptr();
        merge_edits(&mut e);
        // The scratch's vector is reused, not replaced by a new one.
        assert_eq!(e.as_ptr(), buf);
        let spans: Vec<_> = e.iter().map(|e| (e.span, &*e.replacement)).collect();
        assert_eq!(spans, [(Span::new(0, 1), "A"), (Span::new(2, 8), "W"), (Span::new(9, 10), "Z")]);
        let mut out = String::new();
        apply_merged(t, 0..t.len(), &e, &mut out);
        assert_eq!(out, "AbWiZ");
    }

    #[test]
    fn insertions_at_the_same_point_both_apply() {
        let mut e = vec![edit(0, 0, "A"), edit(0, 0, "B")];
        assert_eq!(apply_edits("x", &mut e), "ABx");
    }
}
