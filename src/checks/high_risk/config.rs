//! Configuration of the `high_risk` check (the `[high_risk]` policy section).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::verdict::Severity;

/// The `[high_risk]` section of a policy: the red-flag lexicon and how
/// context (negation, hypotheticals, history, third parties) changes a
/// finding's severity.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `builtin_rules` | `true` | keep the embedded clinical lexicon (`src/checks/data/high_risk.toml`) |
/// | `builtin_context` | `true` | keep the embedded context triggers (negation, hypothetical, history, ...) even when `builtin_rules` is `false` |
/// | `rules` | `[]` | extra rules, inline |
/// | `compounds` | `[]` | extra compound rules, inline |
/// | `rules` via `rules_files` | — | a policy file's `high_risk.rules_files = [...]` is spliced into `rules` by the policy loader (files holding `[[rules]]` tables only) |
/// | `lexicon_files` | `[]` | extra lexicon files in the full format of the built-in one (`[sets]`, `[typos]`, `[context]`, `[[rule]]`, `[[compound]]`), absolute or relative to the working directory; read when the check is built |
/// | `disabled_rules` | `[]` | rule or compound ids to drop (built-in or not) |
/// | `typos` | `true` | add the lexicon's misspelling variants (explicit lists and bounded edit-distance variants of key words) |
/// | `max_phrases` | `50000` | most phrases after expansion; more is a build error |
/// | `context` | see [`ContextConfig`] | severity caps for negated / hypothetical / conditional / historical / resolved / third-party findings, per category |
///
/// The defaults are the built-in, safety-first choices documented in
/// `src/checks/data/high_risk_NOTES.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HighRiskConfig {
    /// Keep the embedded clinical lexicon.
    pub builtin_rules: bool,
    /// Keep the embedded context triggers.
    pub builtin_context: bool,
    /// Extra rules, inline.
    pub rules: Vec<RuleConfig>,
    /// Extra compound rules, inline.
    pub compounds: Vec<CompoundConfig>,
    /// Extra lexicon files.
    pub lexicon_files: Vec<PathBuf>,
    /// Rule and compound ids to drop.
    pub disabled_rules: Vec<String>,
    /// Add misspelling variants.
    pub typos: bool,
    /// Most phrases after expansion.
    pub max_phrases: usize,
    /// How context changes severity.
    pub context: ContextConfig,
}

impl Default for HighRiskConfig {
    fn default() -> HighRiskConfig {
        HighRiskConfig {
            builtin_rules: true,
            builtin_context: true,
            rules: Vec::new(),
            compounds: Vec::new(),
            lexicon_files: Vec::new(),
            disabled_rules: Vec::new(),
            typos: true,
            max_phrases: 50_000,
            context: ContextConfig::default(),
        }
    }
}

/// What a rule's phrases mean when they match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleSeverity {
    /// Call the emergency number now.
    Emergency,
    /// A clinician (or crisis line) today.
    Urgent,
    /// Soft tier: show resources, do not page anyone.
    Advisory,
    /// Only a component of compound rules; never reported on its own.
    Signal,
    /// Masks other phrases that it contains or overlaps from the left
    /// ("stroke of luck", "gave me a heart attack"); never reported.
    Exclude,
}

impl RuleSeverity {
    /// The severity of a finding of this rule before context, if it reports.
    pub(crate) fn reported(self) -> Option<Severity> {
        match self {
            RuleSeverity::Emergency => Some(Severity::Emergency),
            RuleSeverity::Urgent => Some(Severity::Urgent),
            RuleSeverity::Advisory => Some(Severity::Advisory),
            RuleSeverity::Signal | RuleSeverity::Exclude => None,
        }
    }
}

/// Where a phrase must sit on ASCII word boundaries of the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Boundary {
    /// Both ends on word boundaries ("stroke" does not match "strokes").
    #[default]
    Word,
    /// Only the start ("suicid" matches "suicidal").
    Start,
    /// Only the end.
    End,
    /// Anywhere.
    None,
}

/// One lexicon rule: an id, a severity and the phrases that trigger it.
///
/// `phrases` are literal; `patterns` are expanded at build time:
/// `{a|b|}` is an alternation (the empty alternative is allowed), `{$name}`
/// a named set of the lexicon (`[sets]`), `{#20-54}` the integers of a
/// range. Every phrase is normalised by the same detection view as message
/// text, and variants are added for apostrophes (`can't`, `can’t`, `cant`),
/// Spanish accents (`caída`, `caida`) and, with `typos`, the lexicon's
/// misspellings of the words it contains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// `<category>.<name>`, unique.
    pub id: String,
    /// The clinical category; default: the part of the id before the first
    /// `.`, which it must equal when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// What a match means.
    pub severity: RuleSeverity,
    /// Literal phrases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phrases: Vec<String>,
    /// Phrase templates, expanded at build time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<String>,
    /// Word-boundary requirement (default `word`).
    #[serde(default)]
    pub boundary: Boundary,
    /// Whether misspelling variants are added (default `true`).
    #[serde(default = "yes")]
    pub typos: bool,
    /// When given, every phrase must be followed (after at most one space)
    /// by an integer in one of these inclusive ranges (at most 4), e.g.
    /// `[[10, 39]]` after "sugar is"; the finding covers the number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub number: Vec<[u32; 2]>,
    /// References that justify the rule (the clinical brief's `S1`..`S23`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Free-text note.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

fn yes() -> bool {
    true
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Where the members of a compound rule must occur together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Anywhere in the message.
    #[default]
    Message,
    /// In one sentence: no sentence end (`.`, `!`, `?`, `;`, a line break of
    /// the original text) between them. Suits co-occurrences that only mean
    /// something together ("how many of my pills" + "would be lethal").
    Sentence,
}

/// A rule that fires when signals of several rules occur in one message
/// (BE-FAST: two of face / arm / speech without the word "stroke"; chest
/// pain with sweating or arm pain; infection with confusion), or in one
/// sentence (`scope = "sentence"`: a lethal-amount question, a means with a
/// death goal).
///
/// Every group of `require` must be present, and at least `min_optional`
/// groups of `optional`. A group is present when one of its rules matched
/// and was not negated (in the same sentence, for sentence scope). The
/// finding's span covers its members; its qualifiers are theirs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompoundConfig {
    /// `<category>.<name>`, unique among rules and compounds.
    pub id: String,
    /// The category; default: the id's prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Severity of the finding before context.
    pub severity: RuleSeverity,
    /// Groups of rule ids that must all be present.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<Vec<String>>,
    /// Groups of rule ids of which `min_optional` must be present.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub optional: Vec<Vec<String>>,
    /// How many `optional` groups are needed (default 1 when there are any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_optional: Option<usize>,
    /// Where the members must occur together (default: anywhere in the
    /// message).
    #[serde(default, skip_serializing_if = "is_default")]
    pub scope: Scope,
    /// References that justify the rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Free-text note.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// Severity caps: the most a finding in each context can keep.
///
/// A finding's severity is the rule's, lowered to the smallest cap of the
/// contexts it is in. `emergency` means "no cap". Missing fields of a
/// per-category override fall back to the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Caps {
    /// "no chest pain", "denies", "without".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negated: Option<Severity>,
    /// Educational framing: "what are the signs of", "symptoms of".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hypothetical: Option<Severity>,
    /// Conditional framing: "what if I", "if someone".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditional: Option<Severity>,
    /// An explicit past anchor ("in 2015", "years ago") and no present cue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub historical: Option<Severity>,
    /// "went away", "fine now" after the finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<Severity>,
    /// Someone other than the writer ("my dad").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub third_party: Option<Severity>,
    /// When `true`, a negated finding keeps its severity if another finding
    /// of the same category that is not negated follows it (suicide: "a
    /// denial suppresses only if no warning sign follows").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denial_needs_no_later_sign: Option<bool>,
}

/// How context lowers severity: defaults, per-category and per-rule
/// overrides.
///
/// A finding's caps are its rule's (or compound's) override, else its
/// category's, else the defaults, field by field.
///
/// | context | default cap | built-in overrides |
/// |---|---|---|
/// | negated | `advisory` | — (suicide: kept when a later warning sign follows) |
/// | hypothetical | `advisory` | rule `suicide_self_harm.method_seeking`: `urgent` (kept) |
/// | conditional | `advisory` | `suicide_self_harm`: `urgent` |
/// | historical | `advisory` | — |
/// | resolved | `urgent` | `stroke`, `anaphylaxis`, `overdose_poisoning`: `emergency` (kept) |
/// | third_party | `emergency` (kept) | — |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContextConfig {
    /// Caps for every category.
    pub default: Caps,
    /// Per-category overrides.
    pub categories: BTreeMap<String, Caps>,
    /// Per-rule overrides, by rule or compound id (an unknown id is a build
    /// error).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rules: BTreeMap<String, Caps>,
}

impl Default for ContextConfig {
    fn default() -> ContextConfig {
        let default = Caps {
            negated: Some(Severity::Advisory),
            hypothetical: Some(Severity::Advisory),
            conditional: Some(Severity::Advisory),
            historical: Some(Severity::Advisory),
            resolved: Some(Severity::Urgent),
            third_party: Some(Severity::Emergency),
            denial_needs_no_later_sign: Some(false),
        };
        let keep_resolved = Caps { resolved: Some(Severity::Emergency), ..Caps::default() };
        let mut categories = BTreeMap::new();
        categories.insert("stroke".to_string(), keep_resolved);
        categories.insert("anaphylaxis".to_string(), keep_resolved);
        categories.insert("overdose_poisoning".to_string(), keep_resolved);
        categories.insert(
            "suicide_self_harm".to_string(),
            Caps { conditional: Some(Severity::Urgent), denial_needs_no_later_sign: Some(true), ..Caps::default() },
        );
        // Searching for a method is itself the warning sign (S12: "looking
        // for a way to kill oneself, such as searching online"): an
        // educational or fictional framing does not lower it.
        let mut rules = BTreeMap::new();
        rules.insert(
            "suicide_self_harm.method_seeking".to_string(),
            Caps { hypothetical: Some(Severity::Urgent), ..Caps::default() },
        );
        ContextConfig { default, categories, rules }
    }
}

/// Resolved caps of one category (no `Option`s left).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResolvedCaps {
    pub(crate) negated: Severity,
    pub(crate) hypothetical: Severity,
    pub(crate) conditional: Severity,
    pub(crate) historical: Severity,
    pub(crate) resolved: Severity,
    pub(crate) third_party: Severity,
    pub(crate) denial_needs_no_later_sign: bool,
}

impl ContextConfig {
    /// The caps of rule (or compound) `id` of `category`: the rule's
    /// override, else the category's, else the defaults, else no cap.
    pub(crate) fn resolve(&self, category: &str, id: &str) -> ResolvedCaps {
        let d = &self.default;
        let c = self.categories.get(category).copied().unwrap_or_default();
        let r = self.rules.get(id).copied().unwrap_or_default();
        let pick = |a: Option<Severity>, b: Option<Severity>, x: Option<Severity>| {
            a.or(b).or(x).unwrap_or(Severity::Emergency)
        };
        ResolvedCaps {
            negated: pick(r.negated, c.negated, d.negated),
            hypothetical: pick(r.hypothetical, c.hypothetical, d.hypothetical),
            conditional: pick(r.conditional, c.conditional, d.conditional),
            historical: pick(r.historical, c.historical, d.historical),
            resolved: pick(r.resolved, c.resolved, d.resolved),
            third_party: pick(r.third_party, c.third_party, d.third_party),
            denial_needs_no_later_sign: r
                .denial_needs_no_later_sign
                .or(c.denial_needs_no_later_sign)
                .or(d.denial_needs_no_later_sign)
                .unwrap_or(false),
        }
    }
}
