//! The verdict model: what a check decided about one message.
//!
//! A [`Verdict`] answers two independent questions, because a backend needs
//! both:
//!
//! * [`Decision`]: may this text go on? `allow` (unchanged), `modify` (go on
//!   with the rewritten text) or `block` (do not forward; show the replacement
//!   text instead).
//! * [`Escalation`]: must a human clinician or emergency guidance be involved?
//!
//! A request with stroke signs *and* an injection attempt is `block` *and*
//! escalated. The serde form of a verdict is a public contract (the CLI prints
//! it, audit logs store it, downstream tools parse it):
//!
//! ```json
//! {
//!   "decision": "block",
//!   "escalation": {"category": "stroke", "severity": "emergency", "message": "..."},
//!   "text": "text to forward, or the replacement message when blocked",
//!   "findings": [
//!     {"check": "high_risk", "rule": "stroke.face_droop", "category": "stroke",
//!      "severity": "emergency", "span": [12, 27]}
//!   ],
//!   "policy": "healthcare@1.0.0+sha256:0123456789abcdef"
//! }
//! ```
//!
//! Findings never copy the patient's text: they carry a check id, a rule id, a
//! category, a severity and a byte span into the *original* text.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// May the checked text go on?
///
/// The variants are ordered by strictness, so merging the decisions of
/// several checks is `max`: `Block` beats `Modify` beats `Allow`. The enum is
/// deliberately closed: a new outcome must break callers that match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Forward the text unchanged.
    #[default]
    Allow,
    /// Forward the rewritten text in [`Verdict::text`].
    Modify,
    /// Do not forward the text; show [`Verdict::text`] (the replacement
    /// message) instead.
    Block,
}

impl Decision {
    /// The stricter of two decisions.
    #[must_use]
    pub fn merge(self, other: Decision) -> Decision {
        self.max(other)
    }

    /// The lowercase name used in JSON (`"allow"`, `"modify"`, `"block"`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Modify => "modify",
            Decision::Block => "block",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How serious a finding is.
///
/// Ordered from least to most serious. `urgent` and `emergency` are the
/// clinical escalation tiers: a finding at either level, reported through
/// [`Context::escalate`](crate::Context::escalate), sets the verdict's
/// [`Escalation`]. `advisory` is the soft clinical tier (show resources, do
/// not page a clinician), used for example when negation or a hypothetical
/// framing would otherwise suppress a red flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational: something was changed or noticed, nothing is wrong.
    Info,
    /// Soft clinical safety net: show resources, do not escalate.
    Advisory,
    /// Suspicious but not conclusive.
    Warning,
    /// A clear policy violation (for example a prompt injection).
    High,
    /// Clinical: needs a clinician soon (same day, crisis line).
    Urgent,
    /// Clinical: needs emergency services now.
    Emergency,
}

impl Severity {
    /// The lowercase name used in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Advisory => "advisory",
            Severity::Warning => "warning",
            Severity::High => "high",
            Severity::Urgent => "urgent",
            Severity::Emergency => "emergency",
        }
    }

    /// Whether this severity escalates to a human (`urgent` or `emergency`).
    #[must_use]
    pub fn escalates(self) -> bool {
        self >= Severity::Urgent
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A byte range `[start, end)` in the **original** text of the message.
///
/// Both ends always lie on `char` boundaries of the original text. In JSON a
/// span is the two-element array `[start, end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    /// First byte of the range.
    pub start: usize,
    /// One past the last byte of the range.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end` (swapped if given backwards).
    #[must_use]
    pub fn new(start: usize, end: usize) -> Span {
        if start <= end { Span { start, end } } else { Span { start: end, end: start } }
    }

    /// Length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span covers no bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The span as a `Range`, for slicing the original text.
    #[must_use]
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }

    /// Whether the two spans share at least one byte (or touch, for empty
    /// spans at the same position).
    #[must_use]
    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
            || (self.is_empty() || other.is_empty()) && self.start == other.start
    }

    /// The smallest span covering both.
    #[must_use]
    pub fn union(&self, other: &Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

impl From<std::ops::Range<usize>> for Span {
    fn from(r: std::ops::Range<usize>) -> Span {
        Span::new(r.start, r.end)
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        [self.start, self.end].serialize(s)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        let [start, end] = <[usize; 2]>::deserialize(d)?;
        if start > end {
            return Err(serde::de::Error::custom("span start is after its end"));
        }
        Ok(Span { start, end })
    }
}

/// Context qualifiers a check attached to a finding.
///
/// The clinical matcher uses them to say *why* a red flag was downgraded (or
/// kept); the injection detector uses them to say where a rule fired (inside a
/// decoded payload, in the letter-spaced form). Serialised as an array of
/// lowercase names and omitted from JSON when empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Qualifiers(u16);

/// One context qualifier; see [`Qualifiers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Qualifier {
    /// The finding is negated ("no chest pain").
    Negated,
    /// The finding is hypothetical or educational ("what are the signs of").
    Hypothetical,
    /// The finding is historical with an explicit past anchor ("in 2015").
    Historical,
    /// The finding concerns someone other than the writer ("my dad").
    ThirdParty,
    /// The finding was made inside decoded content (base64, hex, ...).
    Decoded,
    /// The finding was made in the letter-spaced ("squeezed") detection form.
    Squeezed,
    /// The finding was made in text hidden in Unicode tag characters.
    Hidden,
}

const QUALIFIERS: [(Qualifier, &str); 7] = [
    (Qualifier::Negated, "negated"),
    (Qualifier::Hypothetical, "hypothetical"),
    (Qualifier::Historical, "historical"),
    (Qualifier::ThirdParty, "third_party"),
    (Qualifier::Decoded, "decoded"),
    (Qualifier::Squeezed, "squeezed"),
    (Qualifier::Hidden, "hidden"),
];

impl Qualifier {
    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// The lowercase name used in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        QUALIFIERS[self as usize].1
    }

    fn from_name(name: &str) -> Option<Qualifier> {
        QUALIFIERS.iter().find(|(_, n)| *n == name).map(|(q, _)| *q)
    }
}

impl Qualifiers {
    /// No qualifiers.
    pub const NONE: Qualifiers = Qualifiers(0);

    /// Whether no qualifier is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// Whether `q` is set.
    #[must_use]
    pub fn contains(&self, q: Qualifier) -> bool {
        self.0 & q.bit() != 0
    }

    /// These qualifiers plus `q`.
    #[must_use]
    pub fn with(self, q: Qualifier) -> Qualifiers {
        Qualifiers(self.0 | q.bit())
    }

    /// Sets `q`.
    pub fn insert(&mut self, q: Qualifier) {
        self.0 |= q.bit();
    }

    /// The qualifiers that are set, in a fixed order.
    pub fn iter(&self) -> impl Iterator<Item = Qualifier> + '_ {
        QUALIFIERS.iter().map(|(q, _)| *q).filter(|q| self.contains(*q))
    }
}

impl From<Qualifier> for Qualifiers {
    fn from(q: Qualifier) -> Qualifiers {
        Qualifiers::NONE.with(q)
    }
}

impl Serialize for Qualifiers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(Qualifier::as_str))
    }
}

impl<'de> Deserialize<'de> for Qualifiers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Qualifiers, D::Error> {
        let names = Vec::<Cow<'de, str>>::deserialize(d)?;
        let mut out = Qualifiers::NONE;
        for name in names {
            // Unknown qualifiers from a newer version are ignored rather than
            // rejected, so old readers keep parsing new logs.
            if let Some(q) = Qualifier::from_name(&name) {
                out.insert(q);
            }
        }
        Ok(out)
    }
}

/// One thing a check noticed.
///
/// A finding never copies the checked text: it points into the original text
/// with a byte [`Span`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub(crate) check: Arc<str>,
    rule: Arc<str>,
    category: Arc<str>,
    severity: Severity,
    pub(crate) span: Span,
    #[serde(default, skip_serializing_if = "Qualifiers::is_empty")]
    qualifiers: Qualifiers,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    score: Option<f32>,
}

impl Finding {
    /// A finding of `check` (its id) for `rule` in `category`.
    ///
    /// Prefer passing `Arc<str>` values that the check built once: cloning an
    /// `Arc` does not allocate.
    pub fn new(
        check: impl Into<Arc<str>>,
        rule: impl Into<Arc<str>>,
        category: impl Into<Arc<str>>,
        severity: Severity,
        span: Span,
    ) -> Finding {
        Finding {
            check: check.into(),
            rule: rule.into(),
            category: category.into(),
            severity,
            span,
            qualifiers: Qualifiers::NONE,
            score: None,
        }
    }

    /// The same finding with context qualifiers attached.
    #[must_use]
    pub fn with_qualifiers(mut self, qualifiers: Qualifiers) -> Finding {
        self.qualifiers = qualifiers;
        self
    }

    /// The same finding carrying a score (for example a classifier's
    /// probability).
    #[must_use]
    pub fn with_score(mut self, score: f32) -> Finding {
        self.score = Some(score);
        self
    }

    /// The id of the check that made the finding (`"high_risk"`, ...).
    #[must_use]
    pub fn check(&self) -> &str {
        &self.check
    }

    /// The rule id (`"stroke.face_droop"`, ...).
    #[must_use]
    pub fn rule(&self) -> &str {
        &self.rule
    }

    /// The category (`"stroke"`, `"injection"`, ...).
    #[must_use]
    pub fn category(&self) -> &str {
        &self.category
    }

    /// How serious it is.
    #[must_use]
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// Where it is, as a byte range of the original text.
    #[must_use]
    pub fn span(&self) -> Span {
        self.span
    }

    /// Context qualifiers (negated, hypothetical, decoded, ...).
    #[must_use]
    pub fn qualifiers(&self) -> Qualifiers {
        self.qualifiers
    }

    /// A score, when the check reports one.
    #[must_use]
    pub fn score(&self) -> Option<f32> {
        self.score
    }
}

/// A human clinician or emergency guidance must be involved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    category: Arc<str>,
    severity: Severity,
    message: Arc<str>,
}

impl Escalation {
    /// An escalation for `category` at `severity` with the message to show.
    pub fn new(category: impl Into<Arc<str>>, severity: Severity, message: impl Into<Arc<str>>) -> Escalation {
        Escalation { category: category.into(), severity, message: message.into() }
    }

    /// The clinical category (`"stroke"`, `"suicide_self_harm"`, ...).
    #[must_use]
    pub fn category(&self) -> &str {
        &self.category
    }

    /// `urgent` or `emergency`.
    #[must_use]
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The localised message to show the user (emergency number included).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The outcome of checking one message.
///
/// `text` borrows the checked message when nothing changed
/// ([`Cow::Borrowed`]), so the clean path does not copy it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict<'a> {
    decision: Decision,
    escalation: Option<Escalation>,
    text: Cow<'a, str>,
    findings: Vec<Finding>,
    policy: Arc<str>,
}

impl<'a> Verdict<'a> {
    pub(crate) fn new(
        decision: Decision,
        escalation: Option<Escalation>,
        text: Cow<'a, str>,
        findings: Vec<Finding>,
        policy: Arc<str>,
    ) -> Verdict<'a> {
        Verdict { decision, escalation, text, findings, policy }
    }

    /// A verdict that allows `text` unchanged with no findings.
    ///
    /// Useful as the request context of [`check_response`] when a response
    /// has no request to be judged against.
    ///
    /// [`check_response`]: crate::Guardrail::check_response
    #[must_use]
    pub fn allow(text: &'a str, policy: impl Into<Arc<str>>) -> Verdict<'a> {
        Verdict::new(Decision::Allow, None, Cow::Borrowed(text), Vec::new(), policy.into())
    }

    /// May the text go on?
    #[must_use]
    pub fn decision(&self) -> Decision {
        self.decision
    }

    /// Must a human clinician / emergency guidance be involved?
    #[must_use]
    pub fn escalation(&self) -> Option<&Escalation> {
        self.escalation.as_ref()
    }

    /// The text to forward, or the replacement message when blocked.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text to forward as a `Cow`: borrowed from the input when nothing
    /// changed.
    #[must_use]
    pub fn text_cow(&self) -> &Cow<'a, str> {
        &self.text
    }

    /// Consumes the verdict and returns its text.
    #[must_use]
    pub fn into_text(self) -> Cow<'a, str> {
        self.text
    }

    /// Everything the checks noticed, in pipeline order.
    #[must_use]
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The policy that decided: name, version and content hash.
    #[must_use]
    pub fn policy(&self) -> &str {
        &self.policy
    }

    /// `decision == Allow`.
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        self.decision == Decision::Allow
    }

    /// `decision == Block`.
    #[must_use]
    pub fn is_blocked(&self) -> bool {
        self.decision == Decision::Block
    }

    /// Whether a clinician or emergency guidance must be involved.
    #[must_use]
    pub fn is_escalated(&self) -> bool {
        self.escalation.is_some()
    }

    /// A copy that owns its text, detached from the checked input.
    #[must_use]
    pub fn into_owned(self) -> Verdict<'static> {
        Verdict {
            decision: self.decision,
            escalation: self.escalation,
            text: Cow::Owned(self.text.into_owned()),
            findings: self.findings,
            policy: self.policy,
        }
    }
}

/// `Debug` shows the text's length, never the text: verdicts end up in logs.
impl fmt::Debug for Verdict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verdict")
            .field("decision", &self.decision)
            .field("escalation", &self.escalation.as_ref().map(|e| (e.category(), e.severity())))
            .field("text_len", &self.text.len())
            .field("text_borrowed", &matches!(self.text, Cow::Borrowed(_)))
            .field("findings", &self.findings)
            .field("policy", &self.policy)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_order_is_strictness() {
        assert!(Decision::Block > Decision::Modify);
        assert!(Decision::Modify > Decision::Allow);
        assert_eq!(Decision::Allow.merge(Decision::Block), Decision::Block);
        assert_eq!(Decision::Modify.merge(Decision::Allow), Decision::Modify);
    }

    #[test]
    fn span_serialises_as_pair() {
        let s = serde_json::to_string(&Span::new(3, 9)).unwrap();
        assert_eq!(s, "[3,9]");
        let back: Span = serde_json::from_str(&s).unwrap();
        assert_eq!(back, Span::new(3, 9));
        assert!(serde_json::from_str::<Span>("[9,3]").is_err());
    }

    #[test]
    fn qualifiers_round_trip_and_skip_when_empty() {
        let f = Finding::new("c", "r", "k", Severity::Info, Span::new(0, 1));
        let json = serde_json::to_string(&f).unwrap();
        assert!(!json.contains("qualifiers"), "{json}");
        assert!(!json.contains("score"), "{json}");
        let q = Qualifiers::from(Qualifier::Negated).with(Qualifier::ThirdParty);
        let f = f.with_qualifiers(q).with_score(0.5);
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains(r#""qualifiers":["negated","third_party"]"#), "{json}");
        let back: Finding = serde_json::from_str(&json).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn debug_never_prints_text() {
        let v = Verdict::allow("my secret symptom", "p");
        let dbg = format!("{v:?}");
        assert!(!dbg.contains("secret"), "{dbg}");
    }
}
