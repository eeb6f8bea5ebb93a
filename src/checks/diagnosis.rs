//! The `diagnosis` check: keeps the model's answer from diagnosing,
//! dismissing red flags, prescribing doses, discouraging care or telling
//! the user to stop a medicine.
//!
//! It runs at the response stage, on the shared detection
//! [`View`] of the model's answer, and judges the
//! answer *together with the request it answers*.
//!
//! # What it looks for
//!
//! Rules are data (`src/checks/data/diagnosis.toml`, extendable from the
//! policy). Each rule has an id `<category>.<name>`, one of five categories,
//! literal *triggers* and a regular expression:
//!
//! | category | examples that fire | examples that must pass |
//! |---|---|---|
//! | `diagnosis` | "you have diabetes", "it's just anxiety", "sounds like a classic tension headache", "diagnosis: migraine" | "a doctor can tell whether this is a migraine", "if you have diabetes, ...", "people with diabetes ..." |
//! | `false_reassurance` | "nothing to worry about", "it's not a stroke", under-triage ("see your doctor next week" about a red flag), "call 911 if it gets worse" about a red flag | "I can't rule out a heart attack over chat; call 911" |
//! | `dosing` | "take 800 mg every 4 hours", "double your insulin", "take a Benadryl" about a red flag | "follow the label or ask a pharmacist", "do not take more than 4,000 mg a day" |
//! | `discourage_care` | "no need to see a doctor", "skip the ER", "wait and see" | "no need to panic, but get checked today" |
//! | `stop_medication` | "stop taking your metformin", "you can skip your insulin" | "don't stop taking it without talking to your prescriber" |
//!
//! A rule runs only in sentences where one of its triggers occurs (one
//! Aho-Corasick pass over the view finds them), so the regular expressions
//! see little text. A match is then tested against *guards*: hedges and
//! conditionals ("whether you have", "if it's just a cold"), a clinician as
//! the subject ("your doctor may stop ..."), negation ("don't stop ...",
//! "do not take more than ..."), label and missed-dose language, and
//! quotation (a match inside double quotes never fires). Guards look only at
//! the clause around the match (clauses end at "but", "however", ";", ...),
//! so "I can't tell whether you have diabetes, but you have diabetes" still
//! fires on its second clause.
//!
//! # Exchange context
//!
//! Rules have a *context*: `always`, `red_flag` (only when the exchange is
//! about a red flag) or `escalated` (only when the request escalated).
//!
//! * **Escalated request** (the request verdict carries an escalation, or an
//!   earlier check escalated this response): any finding at all, and an
//!   answer that does not direct the user to emergency or same-day human care
//!   (`false_reassurance.no_emergency_direction`), blocks the answer; the
//!   verdict's text becomes the escalation message of the exchange. Benign
//!   explanations ("sounds like a stress headache"), self-care ("try to rest",
//!   "take ibuprofen and lie down") and conditional care ("call 911 if it gets
//!   worse") are findings in this context. This cannot be configured away.
//! * **Red-flag topic** (not escalated, but the `high_risk` check reported a
//!   finding of at least `advisory` severity on the request, or any finding
//!   on this response): the `red_flag` rules run too and every finding takes
//!   the `red_flag_action` (default `block`).
//! * **Otherwise** each finding takes its rule's action, else its category's
//!   action from the policy: `block` replaces the answer with the locale's
//!   `response_blocked` text; `modify` removes the offending sentences and
//!   appends the locale's referral text.
//!
//! Every finding points at the offending sentence of the original text.
//!
//! # What it expects from `high_risk`
//!
//! Only findings with check id [`RED_FLAG_CHECK`] (`"high_risk"`) are read:
//! on the request verdict, any such finding of severity `advisory` or above
//! (the soft tier, e.g. "what are the signs of a stroke?"); on this answer,
//! any such finding at all (a red-flag mention, reported as `info`, by a
//! check that runs before this one). Categories and qualifiers are not used.
//! The request's escalation comes from the request verdict itself.
//!
//! # Removing it
//!
//! The guardrail refuses to build without this check (and `disclaimer`)
//! unless the loudly named
//! [`dangerous().allow_missing_safety_checks()`](crate::DangerousBuilder::allow_missing_safety_checks)
//! is called, or the policy sets `dangerous_allow_missing_safety_checks`.
//!
//! # Cost
//!
//! Everything is compiled when the check is built. A message costs one
//! Aho-Corasick pass; sentence segmentation and the rule expressions run
//! only when a trigger occurs, on the sentences that hold one; guards look
//! at a bounded window around each match; so the time is linear in the
//! length of the answer. Buffers live in the caller's
//! [`Scratch`](crate::Scratch).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};
// The meta regex engine itself (what `regex::Regex` wraps), because it
// reports its heap: `Check::memory_usage` counts the compiled rules.
use regex_automata::meta::Regex;
use regex_automata::util::syntax;
use serde::{Deserialize, Serialize};

use crate::check::{Check, CheckError, Context, Stages};
use crate::error::BuildError;
use crate::locale::LocaleConfig;
use crate::normalize::View;
use crate::policy::Policy;
use crate::verdict::{Severity, Span};

use super::disclaimer::LocalizedText;

/// The built-in rule data (`src/checks/data/diagnosis.toml`).
pub const BUILTIN_RULES_TOML: &str = include_str!("data/diagnosis.toml");

/// The check id that reports clinical red flags. Its findings on the request
/// (severity `advisory` or above) and on the response (any severity) make the
/// exchange a red-flag topic.
pub const RED_FLAG_CHECK: &str = "high_risk";

/// The five categories of the built-in rules.
pub const CATEGORIES: [&str; 5] = ["diagnosis", "false_reassurance", "dosing", "discourage_care", "stop_medication"];

/// Largest rules file read from `rules_files`, in bytes.
pub const MAX_RULES_FILE_BYTES: usize = 4 << 20;

/// How far (bytes of the view) a guard looks before and after a match.
const GUARD_WINDOW: usize = 200;

/// Sentences up to this length are seen whole by `sentence` guards.
const SENTENCE_WHOLE: usize = 1024;

/// Most matches of one rule examined in one sentence (keeps adversarial
/// sentences linear).
const MAX_MATCHES_PER_RULE_SENTENCE: usize = 16;

/// What a finding does to the answer when the request did not escalate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// Replace the whole answer with the locale's `response_blocked` text.
    Block,
    /// Remove the offending sentences and append the referral text.
    Modify,
}

/// When a rule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleContext {
    /// In every answer.
    #[default]
    Always,
    /// When the exchange is about a red flag (escalated request, advisory
    /// request finding, or red-flag finding on the answer).
    RedFlag,
    /// Only when the request (or the answer) escalated.
    Escalated,
}

/// Which text a guard looks at, relative to the match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardScope {
    /// From the start of the clause to the start of the match (`$` is the
    /// match start).
    Before,
    /// From the end of the match to the end of the clause (`^` is the match
    /// end).
    After,
    /// The whole clause around the match.
    Clause,
    /// From the end of the match to the end of the sentence, across clauses.
    Rest,
    /// The whole sentence around the match.
    Sentence,
    /// The matched text itself.
    Match,
}

/// When a guard applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardWhen {
    /// In every answer.
    #[default]
    Always,
    /// Only when the exchange is not about a red flag (for example "self-care
    /// with return criteria", which is fine for a cold but not for chest
    /// pain).
    NoRedFlag,
}

/// One rule, as written in a rules file or inline in the policy.
///
/// Patterns are `regex` syntax over the detection view (lower case, NFKC,
/// whitespace collapsed to single spaces), with three conveniences: `\b` is
/// an ASCII word boundary, an ASCII apostrophe `'` also matches `’` and `ʼ`,
/// and `{name}` inserts the variable `name` of the `[vars]` table as a
/// non-capturing group. The rule only runs in sentences that contain one of
/// its `triggers` (literal text, normalised like the view): every match of
/// the patterns must contain a trigger, or it is never seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiagnosisRule {
    /// `<category>.<name>`, unique.
    pub id: String,
    /// The category (`diagnosis`, `false_reassurance`, `dosing`,
    /// `discourage_care`, `stop_medication`, or a custom one).
    pub category: String,
    /// When the rule runs (default `always`).
    #[serde(default)]
    pub context: RuleContext,
    /// Overrides the category's action when the request did not escalate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<RuleAction>,
    /// Literal prefilter words: the rule runs only in sentences holding one.
    pub triggers: Vec<String>,
    /// Alternative patterns (joined with `|`).
    pub patterns: Vec<String>,
    /// Texts the rule must fire on (checked by the test suite).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    /// Texts the rule must not fire on (checked by the test suite).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counter_examples: Vec<String>,
}

/// A hard-negative guard: when its pattern matches the scoped text around a
/// rule's match, that match does not count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiagnosisGuard {
    /// Unique id.
    pub id: String,
    /// Which text around the match the patterns see.
    pub scope: GuardScope,
    /// Categories it protects; empty means all. Entries may also be rule ids.
    #[serde(default)]
    pub applies_to: Vec<String>,
    /// Rule ids it never protects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
    /// When it applies (default `always`).
    #[serde(default)]
    pub when: GuardWhen,
    /// Alternative patterns (same syntax as rules).
    pub patterns: Vec<String>,
}

/// A rules file: variables, rules and guards.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiagnosisRules {
    /// Pattern variables, usable as `{name}`.
    pub vars: BTreeMap<String, String>,
    /// Rules.
    pub rules: Vec<DiagnosisRule>,
    /// Guards.
    pub guards: Vec<DiagnosisGuard>,
    /// Directions to care, for answers to escalated requests.
    pub directions: DiagnosisDirections,
}

/// Phrases that direct the user to care (`[directions]` of a rules file).
/// An answer to an escalated request must contain one that no guard
/// cancels, or it is blocked.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiagnosisDirections {
    /// Directions to emergency care (they satisfy an `emergency` or `urgent`
    /// escalation).
    pub emergency: Vec<String>,
    /// Directions to same-day human care (they satisfy an `urgent`
    /// escalation only).
    pub urgent: Vec<String>,
    /// Patterns over the clause before a direction that cancel it
    /// (negation: "you don't need to call 911").
    pub guards_before: Vec<String>,
    /// Patterns over the clause around a direction that cancel it
    /// (worsening conditionals: "call 911 if it gets worse").
    pub guards_clause: Vec<String>,
}

/// Configuration of the `diagnosis` check (`[diagnosis]` in a policy).
///
/// | field | default | meaning |
/// |---|---|---|
/// | `builtin_rules` | `true` | keep the embedded rules, guards and directions |
/// | `rules` | `[]` | extra rules inline |
/// | `guards` | `[]` | extra guards inline |
/// | `rules_files` | `[]` | extra rules files (TOML, same format as the built-in data), absolute or relative to the working directory |
/// | `disabled_rules` | `[]` | rule ids to drop (unknown ids are an error) |
/// | `disabled_guards` | `[]` | guard ids to drop (unknown ids are an error) |
/// | `actions` | `diagnosis`, `false_reassurance`, `dosing`, `discourage_care` = `modify`; `stop_medication` = `block` | action per category when the request did not escalate |
/// | `red_flag_action` | `block` | action of every finding when the exchange is about a red flag |
/// | `max_removed_fraction` | `0.5` | a `modify` that would remove more than this fraction of the answer blocks it instead |
/// | `referral` | English and Spanish texts for the built-in locales | appended after a `modify`; placeholders `{emergency}`, `{crisis}`, `{poison}`, `{human}`; `und` is the fallback |
///
/// What happens after an escalated request is not configurable: any finding,
/// or an answer without an emergency direction, blocks it and shows the
/// escalation message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiagnosisConfig {
    /// Keep the embedded rules.
    pub builtin_rules: bool,
    /// Extra rules.
    pub rules: Vec<DiagnosisRule>,
    /// Extra guards.
    pub guards: Vec<DiagnosisGuard>,
    /// Extra rules files.
    pub rules_files: Vec<PathBuf>,
    /// Rule ids to drop.
    pub disabled_rules: Vec<String>,
    /// Guard ids to drop.
    pub disabled_guards: Vec<String>,
    /// Action per category.
    pub actions: BTreeMap<String, RuleAction>,
    /// Action of every finding in a red-flag exchange.
    pub red_flag_action: RuleAction,
    /// Largest fraction of the answer a `modify` may remove.
    pub max_removed_fraction: f64,
    /// Referral text per locale tag.
    pub referral: BTreeMap<String, String>,
}

impl Default for DiagnosisConfig {
    fn default() -> DiagnosisConfig {
        let actions = [
            ("diagnosis", RuleAction::Modify),
            ("false_reassurance", RuleAction::Modify),
            ("dosing", RuleAction::Modify),
            ("discourage_care", RuleAction::Modify),
            ("stop_medication", RuleAction::Block),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let en = "Only a clinician who knows your situation can diagnose a condition or advise on your \
                  medicines. Please talk to a doctor, nurse or pharmacist; if this could be an emergency, \
                  call {emergency}.";
        let es = "Solo un profesional de salud que conozca su situación puede diagnosticar una enfermedad o \
                  aconsejarle sobre sus medicamentos. Hable con un médico, enfermera o farmacéutico; si puede \
                  ser una emergencia, llame al {emergency}.";
        let referral = [("en-US", en), ("en-GB", en), ("en-EU", en), ("und", en), ("es-US", es)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DiagnosisConfig {
            builtin_rules: true,
            rules: Vec::new(),
            guards: Vec::new(),
            rules_files: Vec::new(),
            disabled_rules: Vec::new(),
            disabled_guards: Vec::new(),
            actions,
            red_flag_action: RuleAction::Block,
            max_removed_fraction: 0.5,
            referral,
        }
    }
}

/// A compiled rule.
#[derive(Debug)]
struct Rule {
    id: Arc<str>,
    category: Arc<str>,
    context: RuleContext,
    action: RuleAction,
    regex: Regex,
    /// Indices into `Diagnosis::guards`.
    guards: Vec<u16>,
}

/// A compiled guard.
#[derive(Debug)]
struct Guard {
    scope: GuardScope,
    when: GuardWhen,
    regex: Regex,
}

/// The `diagnosis` check. See the [module documentation](self).
#[derive(Debug)]
pub struct Diagnosis {
    rules: Vec<Rule>,
    guards: Vec<Guard>,
    /// Trigger automaton over the view.
    triggers: AhoCorasick,
    /// For each trigger pattern, the rules it wakes.
    trigger_rules: Vec<Vec<u32>>,
    /// Clause breakers ("but", "however", ";", ...).
    clause_break: Regex,
    emergency_directions: Regex,
    urgent_directions: Regex,
    direction_guard_before: Option<Regex>,
    direction_guard_clause: Option<Regex>,
    red_flag_action: RuleAction,
    max_removed_fraction: f64,
    referral: LocalizedText,
    /// Expanded pattern sources, for introspection and the raw baseline
    /// bench.
    sources: Vec<(Arc<str>, String)>,
    trigger_literals: Vec<String>,
}

/// Per-call buffers.
#[derive(Debug, Default)]
struct DiagnosisScratch {
    /// (view position, rule index) of each trigger hit of an active rule.
    candidates: Vec<(u32, u32)>,
    /// Rules already run in the current sentence (bitset).
    seen: Vec<u64>,
    /// Rules to run in the current sentence.
    sentence_rules: Vec<u32>,
    /// Clause-break positions (start, end) in the current sentence.
    breaks: Vec<(usize, usize)>,
    /// Double-quote positions in the current sentence.
    quotes: Vec<usize>,
    /// Findings: (rule index, sentence range in the view, removal span).
    hits: Vec<Hit>,
    /// The normalised escalation message.
    message: View,
}

#[derive(Debug, Clone)]
struct Hit {
    rule: u32,
    sentence: Range<usize>,
}

/// The exchange seen from the response stage.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ExchangeContext {
    /// The request (or an earlier check on the answer) escalated.
    pub(crate) escalated: Option<Severity>,
    /// The request had a red-flag finding of at least `advisory` severity.
    pub(crate) advisory_request: bool,
    /// The answer has a red-flag finding.
    pub(crate) topic_in_response: bool,
}

impl ExchangeContext {
    pub(crate) fn of(cx: &Context<'_>) -> ExchangeContext {
        let escalated = cx.exchange_escalation().map(|(_, s)| s);
        let advisory_request = cx.request().is_some_and(|r| {
            r.findings().iter().any(|f| f.check() == RED_FLAG_CHECK && f.severity() >= Severity::Advisory)
        });
        let topic_in_response = cx.findings().iter().any(|f| f.check() == RED_FLAG_CHECK);
        ExchangeContext { escalated, advisory_request, topic_in_response }
    }

    /// Escalated, or a red-flag topic.
    pub(crate) fn red_flag(&self) -> bool {
        self.escalated.is_some() || self.advisory_request || self.topic_in_response
    }
}

/// The escalation message of the exchange: the request's message when the
/// request's escalation is the stronger one (that is what the guardrail
/// shows), else the locale's message for this message's own escalation.
pub(crate) fn exchange_escalation_message<'a>(cx: &Context<'a>) -> Option<&'a str> {
    let req = cx.request().and_then(|r| r.escalation());
    let own = cx.escalation().map(|(c, s)| (cx.locale().escalation_message(c, s), s));
    match (own, req) {
        (Some((m, s)), Some(r)) => Some(if r.severity() > s { r.message() } else { m }),
        (Some((m, _)), None) => Some(m),
        (None, Some(r)) => Some(r.message()),
        (None, None) => None,
    }
}

impl Diagnosis {
    /// Builds the check from a policy's `[diagnosis]` section and locales.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the field of a bad rule, guard, pattern,
    /// action or referral text.
    pub fn from_policy(policy: &Policy) -> Result<Diagnosis, BuildError> {
        Diagnosis::new(&policy.diagnosis, &policy.locales)
    }

    /// Builds the check from its configuration; `locales` fill the
    /// placeholders of the referral texts (every locale must resolve to a
    /// referral text, directly or through `und`).
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the field of a bad rule, guard, pattern,
    /// action or referral text.
    pub fn new(config: &DiagnosisConfig, locales: &BTreeMap<String, LocaleConfig>) -> Result<Diagnosis, BuildError> {
        let mut sets: Vec<(String, DiagnosisRules)> = Vec::new();
        if config.builtin_rules {
            let builtin: DiagnosisRules = toml::from_str(BUILTIN_RULES_TOML)
                .map_err(|e| BuildError::new("diagnosis.builtin_rules", format!("embedded rules: {}", e.message())))?;
            sets.push(("diagnosis.builtin_rules".into(), builtin));
        }
        for (i, path) in config.rules_files.iter().enumerate() {
            let field = format!("diagnosis.rules_files[{i}]");
            let meta = std::fs::metadata(path).map_err(|e| BuildError::new(&field, format!("cannot read: {e}")))?;
            if meta.len() > MAX_RULES_FILE_BYTES as u64 {
                return Err(BuildError::new(&field, format!("larger than {MAX_RULES_FILE_BYTES} bytes")));
            }
            let text =
                std::fs::read_to_string(path).map_err(|e| BuildError::new(&field, format!("cannot read: {e}")))?;
            let set: DiagnosisRules = toml::from_str(&text).map_err(|e| {
                let at = e.span().map(|s| crate::policy::line_col(&text, s.start));
                match at {
                    Some((Some(l), Some(c))) => {
                        BuildError::new(&field, format!("line {l}, column {c}: {}", e.message()))
                    }
                    _ => BuildError::new(&field, e.message().to_string()),
                }
            })?;
            sets.push((field, set));
        }
        sets.push((
            "diagnosis".into(),
            DiagnosisRules { rules: config.rules.clone(), guards: config.guards.clone(), ..DiagnosisRules::default() },
        ));

        // Variables are shared across sets; a name may be defined once.
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        for (field, set) in &sets {
            for (name, value) in &set.vars {
                if !is_var_name(name) {
                    return Err(BuildError::new(format!("{field}.vars.{name}"), "variable names are [a-z_]+"));
                }
                if vars.insert(name.clone(), value.clone()).is_some() {
                    return Err(BuildError::new(format!("{field}.vars.{name}"), "variable defined twice"));
                }
            }
        }
        // Expand variables inside variables (one level of nesting is plenty).
        let expanded_vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| Ok((k.clone(), expand_vars(v, &vars, &format!("diagnosis.vars.{k}"), 1)?)))
            .collect::<Result<_, BuildError>>()?;

        let disabled_rules: BTreeSet<&str> = config.disabled_rules.iter().map(String::as_str).collect();
        let disabled_guards: BTreeSet<&str> = config.disabled_guards.iter().map(String::as_str).collect();
        let mut seen_rules: BTreeSet<String> = BTreeSet::new();
        let mut seen_guards: BTreeSet<String> = BTreeSet::new();

        // Guards first: rules refer to them.
        let mut guard_specs: Vec<(Guard, Vec<String>, Vec<String>)> = Vec::new();
        for (field, set) in &sets {
            for (i, g) in set.guards.iter().enumerate() {
                let gf = format!("{field}.guards[{i}]");
                if g.id.trim().is_empty() {
                    return Err(BuildError::new(format!("{gf}.id"), "must not be empty"));
                }
                if !seen_guards.insert(g.id.clone()) {
                    return Err(BuildError::new(format!("{gf}.id"), format!("guard id `{}` appears twice", g.id)));
                }
                if disabled_guards.contains(g.id.as_str()) {
                    continue;
                }
                let regex = compile_alternatives(&g.patterns, &expanded_vars, &format!("{gf}.patterns"))?;
                guard_specs.push((
                    Guard { scope: g.scope, when: g.when, regex },
                    g.applies_to.clone(),
                    g.except.clone(),
                ));
            }
        }
        for id in &disabled_guards {
            if !seen_guards.contains(*id) {
                return Err(BuildError::new("diagnosis.disabled_guards", format!("unknown guard id `{id}`")));
            }
        }
        if guard_specs.len() > usize::from(u16::MAX) {
            return Err(BuildError::new("diagnosis.guards", "too many guards"));
        }

        let mut rules: Vec<Rule> = Vec::new();
        let mut sources = Vec::new();
        let mut trigger_ids: HashMap<String, usize> = HashMap::new();
        let mut trigger_literals: Vec<String> = Vec::new();
        let mut trigger_rules: Vec<Vec<u32>> = Vec::new();
        let mut categories: BTreeSet<String> = BTreeSet::new();
        let mut norm = View::new();
        for (field, set) in &sets {
            for (i, r) in set.rules.iter().enumerate() {
                let rf = format!("{field}.rules[{i}]");
                if r.category.trim().is_empty() {
                    return Err(BuildError::new(format!("{rf}.category"), "must not be empty"));
                }
                let prefix_ok = r.id.strip_prefix(r.category.as_str()).is_some_and(|rest| {
                    rest.len() > 1
                        && rest.starts_with('.')
                        && rest[1..].bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                });
                if !prefix_ok {
                    return Err(BuildError::new(
                        format!("{rf}.id"),
                        format!("rule id `{}` must be `{}.<name>` with a lowercase name", r.id, r.category),
                    ));
                }
                if !seen_rules.insert(r.id.clone()) {
                    return Err(BuildError::new(format!("{rf}.id"), format!("rule id `{}` appears twice", r.id)));
                }
                categories.insert(r.category.clone());
                if disabled_rules.contains(r.id.as_str()) {
                    continue;
                }
                if r.triggers.is_empty() {
                    return Err(BuildError::new(format!("{rf}.triggers"), "a rule needs at least one trigger"));
                }
                let pattern_field = format!("{rf}.patterns");
                let (regex, source) = compile_alternatives_with_source(&r.patterns, &expanded_vars, &pattern_field)?;
                sources.push((Arc::from(r.id.as_str()), source));
                let idx = u32::try_from(rules.len()).map_err(|_| BuildError::new(&rf, "too many rules"))?;
                for (j, t) in r.triggers.iter().enumerate() {
                    for variant in apostrophe_variants(t) {
                        norm.build(&variant);
                        let n = norm.as_str().to_string();
                        if n.trim().is_empty() {
                            return Err(BuildError::new(format!("{rf}.triggers[{j}]"), "empty after normalisation"));
                        }
                        let id = *trigger_ids.entry(n.clone()).or_insert_with(|| {
                            trigger_literals.push(n);
                            trigger_rules.push(Vec::new());
                            trigger_rules.len() - 1
                        });
                        if !trigger_rules[id].contains(&idx) {
                            trigger_rules[id].push(idx);
                        }
                    }
                }
                // Each example must reach the rule: hold one of its triggers
                // and match its patterns (guards aside). This catches a
                // trigger list that does not cover the pattern.
                for (j, e) in r.examples.iter().enumerate() {
                    norm.build(e);
                    let hay = norm.as_str();
                    let triggered = trigger_rules
                        .iter()
                        .zip(&trigger_literals)
                        .any(|(rs, lit)| rs.contains(&idx) && hay.contains(lit.as_str()));
                    if !triggered || !regex.is_match(hay) {
                        let why = if triggered {
                            "the example does not match the patterns"
                        } else {
                            "the example holds none of the triggers"
                        };
                        return Err(BuildError::new(format!("{rf}.examples[{j}]"), why));
                    }
                }
                let action =
                    r.action.or_else(|| config.actions.get(&r.category).copied()).unwrap_or(RuleAction::Modify);
                let mut guards = Vec::new();
                for (gi, (_, applies, except)) in guard_specs.iter().enumerate() {
                    let applies = applies.is_empty() || applies.iter().any(|a| *a == r.category || *a == r.id);
                    if applies && !except.contains(&r.id) {
                        guards.push(gi as u16);
                    }
                }
                rules.push(Rule {
                    id: r.id.as_str().into(),
                    category: r.category.as_str().into(),
                    context: r.context,
                    action,
                    regex,
                    guards,
                });
            }
        }
        for id in &disabled_rules {
            if !seen_rules.contains(*id) {
                return Err(BuildError::new("diagnosis.disabled_rules", format!("unknown rule id `{id}`")));
            }
        }
        for cat in config.actions.keys() {
            if !categories.contains(cat) && !CATEGORIES.contains(&cat.as_str()) {
                return Err(BuildError::new(format!("diagnosis.actions.{cat}"), "no rule has this category"));
            }
        }
        if !(0.0..=1.0).contains(&config.max_removed_fraction) {
            return Err(BuildError::new("diagnosis.max_removed_fraction", "must be between 0 and 1"));
        }

        let triggers = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&trigger_literals)
            .map_err(|e| BuildError::new("diagnosis.rules", format!("trigger automaton: {e}")))?;

        let mut emergency = Vec::new();
        let mut urgent = Vec::new();
        let mut dir_before = Vec::new();
        let mut dir_clause = Vec::new();
        for (_, set) in &sets {
            emergency.extend(set.directions.emergency.iter().cloned());
            urgent.extend(set.directions.urgent.iter().cloned());
            dir_before.extend(set.directions.guards_before.iter().cloned());
            dir_clause.extend(set.directions.guards_clause.iter().cloned());
        }
        if emergency.is_empty() {
            // Never satisfiable: every answer to an escalated request blocks.
            emergency.push(r"[^\s\S]".to_string());
        }
        if urgent.is_empty() {
            urgent.push(r"[^\s\S]".to_string());
        }
        let emergency_directions = compile_alternatives(&emergency, &expanded_vars, "diagnosis.directions.emergency")?;
        let urgent_directions = compile_alternatives(&urgent, &expanded_vars, "diagnosis.directions.urgent")?;
        let direction_guard_before = if dir_before.is_empty() {
            None
        } else {
            Some(compile_alternatives(&dir_before, &expanded_vars, "diagnosis.directions.guards_before")?)
        };
        let direction_guard_clause = if dir_clause.is_empty() {
            None
        } else {
            Some(compile_alternatives(&dir_clause, &expanded_vars, "diagnosis.directions.guards_clause")?)
        };
        let clause_break = compile(
            r"(?:,? but |; |, however|\bhowever, | although | though | whereas | yet | — | – | -- |,? pero |,? aunque |, sin embargo)",
            "diagnosis.clause_break",
        )?;
        let referral = LocalizedText::new(&config.referral, locales, "diagnosis.referral")?;

        Ok(Diagnosis {
            rules,
            guards: guard_specs.into_iter().map(|(g, _, _)| g).collect(),
            triggers,
            trigger_rules,
            clause_break,
            emergency_directions,
            urgent_directions,
            direction_guard_before,
            direction_guard_clause,
            red_flag_action: config.red_flag_action,
            max_removed_fraction: config.max_removed_fraction,
            referral,
            sources,
            trigger_literals,
        })
    }

    /// The expanded regular expression of each enabled rule, by rule id, as
    /// compiled (for explaining a rule and for baseline benchmarks).
    pub fn rule_patterns(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.sources.iter().map(|(id, p)| (&**id, p.as_str()))
    }

    /// The normalised trigger literals of the prefilter automaton.
    pub fn trigger_literals(&self) -> impl Iterator<Item = &str> + '_ {
        self.trigger_literals.iter().map(String::as_str)
    }

    /// Number of enabled rules.
    #[must_use]
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Finds the rule hits of `view` (sentence ranges of the view), given
    /// the exchange context.
    fn scan(&self, view: &View, original: &str, ctx: &ExchangeContext, skip: usize, s: &mut DiagnosisScratch) {
        s.candidates.clear();
        s.hits.clear();
        let text = view.as_str();
        let red_flag = ctx.red_flag();
        let escalated = ctx.escalated.is_some();
        for m in self.triggers.find_overlapping_iter(text) {
            for &r in &self.trigger_rules[m.pattern().as_usize()] {
                let active = match self.rules[r as usize].context {
                    RuleContext::Always => true,
                    RuleContext::RedFlag => red_flag,
                    RuleContext::Escalated => escalated,
                };
                if active && m.start() >= skip {
                    s.candidates.push((m.start() as u32, r));
                }
            }
        }
        if s.candidates.is_empty() {
            return;
        }
        s.candidates.sort_unstable();
        let words = self.rules.len().div_ceil(64);
        s.seen.clear();
        s.seen.resize(words, 0);

        let mut ci = 0;
        let mut start = skip;
        while ci < s.candidates.len() && start < text.len() {
            let (sent, next) = next_sentence(view, original, start);
            // Candidates before this sentence's start (in skipped spaces).
            while ci < s.candidates.len() && (s.candidates[ci].0 as usize) < sent.start {
                ci += 1;
            }
            s.sentence_rules.clear();
            while ci < s.candidates.len() && (s.candidates[ci].0 as usize) < sent.end {
                let r = s.candidates[ci].1 as usize;
                let (w, b) = (r / 64, 1u64 << (r % 64));
                if s.seen[w] & b == 0 {
                    s.seen[w] |= b;
                    s.sentence_rules.push(r as u32);
                }
                ci += 1;
            }
            if !s.sentence_rules.is_empty() {
                self.scan_sentence(text, sent.clone(), red_flag, s);
                for &r in &s.sentence_rules {
                    s.seen[r as usize / 64] = 0;
                }
            }
            start = next;
        }
    }

    /// Runs the sentence's candidate rules on it.
    fn scan_sentence(&self, text: &str, sent: Range<usize>, red_flag: bool, s: &mut DiagnosisScratch) {
        let sentence = &text[sent.clone()];
        // Clause breaks and quotes are found only once a rule matches.
        let mut prepared = false;
        for k in 0..s.sentence_rules.len() {
            let r = s.sentence_rules[k] as usize;
            let rule = &self.rules[r];
            for m in rule.regex.find_iter(sentence).take(MAX_MATCHES_PER_RULE_SENTENCE) {
                let (ms, me) = (m.start(), m.end());
                if !prepared {
                    s.breaks.clear();
                    s.breaks.extend(self.clause_break.find_iter(sentence).map(|m| (m.start(), m.end())));
                    s.quotes.clear();
                    s.quotes.extend(
                        sentence
                            .char_indices()
                            .filter(|(_, c)| matches!(c, '"' | '“' | '”' | '«' | '»'))
                            .map(|(i, _)| i),
                    );
                    prepared = true;
                }
                // A match never spans a clause break.
                if s.breaks.iter().any(|&(bs, be)| bs > ms && be < me) {
                    continue;
                }
                if in_quotes(&s.quotes, ms, me) {
                    continue;
                }
                if self.guarded(rule, sentence, ms, me, &s.breaks, red_flag) {
                    continue;
                }
                s.hits.push(Hit { rule: r as u32, sentence: sent.clone() });
                break;
            }
        }
    }

    fn guarded(
        &self,
        rule: &Rule,
        sentence: &str,
        ms: usize,
        me: usize,
        breaks: &[(usize, usize)],
        red_flag: bool,
    ) -> bool {
        let (cs, ce) = clause_bounds(breaks, ms, me, sentence.len());
        let lo = |from: usize| ceil_boundary(sentence, from.max(ms.saturating_sub(GUARD_WINDOW)));
        let hi = |to: usize| floor_boundary(sentence, to.min(me + GUARD_WINDOW));
        rule.guards.iter().any(|&g| {
            let guard = &self.guards[g as usize];
            if guard.when == GuardWhen::NoRedFlag && red_flag {
                return false;
            }
            let hay = match guard.scope {
                GuardScope::Before => &sentence[lo(cs)..ms],
                GuardScope::After => &sentence[me..hi(ce)],
                GuardScope::Clause => &sentence[lo(cs)..hi(ce)],
                GuardScope::Rest => &sentence[me..hi(sentence.len())],
                // Short sentences are seen whole (so `^` and `$` are the
                // sentence's ends); long ones through the window.
                GuardScope::Sentence if sentence.len() <= SENTENCE_WHOLE => sentence,
                GuardScope::Sentence => &sentence[lo(0)..hi(sentence.len())],
                GuardScope::Match => &sentence[ms..me],
            };
            guard.regex.is_match(hay)
        })
    }

    /// Whether the answer directs the user to emergency care (or, for an
    /// `urgent` escalation, to same-day human care), not negated, not
    /// conditional on getting worse, not quoted.
    fn directs_to_care(&self, view: &View, original: &str, severity: Severity, s: &mut DiagnosisScratch) -> bool {
        let text = view.as_str();
        let mut regexes: Vec<&Regex> = vec![&self.emergency_directions];
        if severity < Severity::Emergency {
            regexes.push(&self.urgent_directions);
        }
        let mut start = 0;
        while start < text.len() {
            let (sent, next) = next_sentence(view, original, start);
            let sentence = &text[sent.clone()];
            let mut any = false;
            for re in &regexes {
                if re.is_match(sentence) {
                    any = true;
                }
            }
            if any {
                s.breaks.clear();
                s.breaks.extend(self.clause_break.find_iter(sentence).map(|m| (m.start(), m.end())));
                s.quotes.clear();
                s.quotes.extend(
                    sentence.char_indices().filter(|(_, c)| matches!(c, '"' | '“' | '”' | '«' | '»')).map(|(i, _)| i),
                );
                for re in &regexes {
                    for m in re.find_iter(sentence).take(MAX_MATCHES_PER_RULE_SENTENCE) {
                        let (ms, me) = (m.start(), m.end());
                        if in_quotes(&s.quotes, ms, me) {
                            continue;
                        }
                        let (cs, ce) = clause_bounds(&s.breaks, ms, me, sentence.len());
                        let lo = ceil_boundary(sentence, cs.max(ms.saturating_sub(GUARD_WINDOW)));
                        let hi = floor_boundary(sentence, ce.min(me + GUARD_WINDOW));
                        if self.direction_guard_before.as_ref().is_some_and(|g| g.is_match(&sentence[lo..ms])) {
                            continue;
                        }
                        if self.direction_guard_clause.as_ref().is_some_and(|g| g.is_match(&sentence[lo..hi])) {
                            continue;
                        }
                        return true;
                    }
                }
            }
            start = next;
        }
        false
    }
}

impl Check for Diagnosis {
    fn id(&self) -> &str {
        "diagnosis"
    }

    fn stages(&self) -> Stages {
        Stages::RESPONSE
    }

    fn check(&self, cx: &mut Context<'_>) -> Result<(), CheckError> {
        let ctx = ExchangeContext::of(cx);
        let view = cx.view();
        let original = cx.original();
        let mut s = std::mem::take(cx.scratch::<DiagnosisScratch>());
        // An answer that already opens with the exchange's escalation message
        // (our own output checked again) is judged after it: operator texts
        // such as "... if they get worse, call 999" must not trip the rules.
        let skip = match ctx.escalated.and(exchange_escalation_message(cx)) {
            Some(m) => {
                s.message.build(m);
                let needle = s.message.as_str().trim();
                let at = view.as_str().len() - view.as_str().trim_start_matches([' ', '>', '*', '_', '#']).len();
                if !needle.is_empty() && view.as_str()[at..].starts_with(needle) { at + needle.len() } else { 0 }
            }
            None => 0,
        };
        self.scan(view, original, &ctx, skip, &mut s);

        if let Some(severity) = ctx.escalated {
            // Opening with the escalation message is the direction itself.
            let directs = skip > 0 || !s.hits.is_empty() || self.directs_to_care(view, original, severity, &mut s);
            let message = exchange_escalation_message(cx);
            for h in &s.hits {
                let rule = &self.rules[h.rule as usize];
                cx.report(rule.id.clone(), rule.category.clone(), Severity::High, view.span(h.sentence.clone()));
            }
            let missing = !directs && s.hits.is_empty();
            if missing {
                cx.report(
                    "false_reassurance.no_emergency_direction",
                    "false_reassurance",
                    Severity::High,
                    Span::new(0, original.len()),
                );
            }
            if missing || !s.hits.is_empty() {
                match message {
                    Some(m) => cx.replace_block_text(m.to_string()),
                    None => cx.block(cx.locale().response_blocked().to_string()),
                }
            }
            *cx.scratch::<DiagnosisScratch>() = s;
            return Ok(());
        }

        if s.hits.is_empty() {
            *cx.scratch::<DiagnosisScratch>() = s;
            return Ok(());
        }

        let red_flag = ctx.red_flag();
        let mut block = false;
        let mut removed = 0usize;
        let mut last_sentence: Option<Range<usize>> = None;
        for h in &s.hits {
            let rule = &self.rules[h.rule as usize];
            let action = if red_flag { self.red_flag_action } else { rule.action };
            let severity = if action == RuleAction::Block { Severity::High } else { Severity::Warning };
            cx.report(rule.id.clone(), rule.category.clone(), severity, view.span(h.sentence.clone()));
            if action == RuleAction::Block {
                block = true;
            }
            if last_sentence.as_ref() != Some(&h.sentence) {
                let span = removal_span(view, original, h.sentence.clone());
                removed += span.len();
                last_sentence = Some(h.sentence.clone());
            }
        }
        let too_much = removed as f64 > self.max_removed_fraction * original.len() as f64;
        if block || too_much {
            cx.block(cx.locale().response_blocked().to_string());
        } else {
            let mut last: Option<Range<usize>> = None;
            for h in &s.hits {
                if last.as_ref() != Some(&h.sentence) {
                    cx.edit(removal_span(view, original, h.sentence.clone()), "");
                    last = Some(h.sentence.clone());
                }
            }
            let referral = self
                .referral
                .get(cx.locale().tag())
                .ok_or_else(|| CheckError::new("no referral text for the active locale"))?;
            cx.append(format!("\n\n{referral}"));
        }
        *cx.scratch::<DiagnosisScratch>() = s;
        Ok(())
    }

    fn memory_usage(&self) -> usize {
        // Compiled regexes as the engine reports them (without the per-search
        // lazy-DFA caches, which grow up to `hybrid_cache_capacity` each).
        let regexes = self.rules.iter().map(|r| &r.regex).chain(self.guards.iter().map(|g| &g.regex));
        let regexes = regexes
            .chain([&self.clause_break, &self.emergency_directions, &self.urgent_directions])
            .chain(self.direction_guard_before.iter().chain(self.direction_guard_clause.iter()));
        self.triggers.memory_usage()
            + regexes.map(Regex::memory_usage).sum::<usize>()
            + self.sources.iter().map(|(_, p)| p.len()).sum::<usize>()
            + self.trigger_literals.iter().map(String::len).sum::<usize>()
            + self.trigger_rules.iter().map(|v| v.len() * 4 + 24).sum::<usize>()
    }
}

/// The sentence starting at or after `start` (leading spaces skipped) as a
/// range of the view, and where the next one may start.
///
/// A sentence ends after `.`, `!` or `?` (and any closing quotes or
/// brackets) followed by a space, except after common abbreviations, or at a
/// space that stands for a line break in the original text.
fn next_sentence(view: &View, original: &str, mut start: usize) -> (Range<usize>, usize) {
    let text = view.as_str();
    let b = text.as_bytes();
    while start < b.len() && b[start] == b' ' {
        start += 1;
    }
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'.' | b'!' | b'?' => {
                let mut j = i + 1;
                // Closing quotes and brackets belong to the sentence.
                loop {
                    let rest = &text[j..];
                    if let Some(c) = rest.chars().next()
                        && matches!(c, '"' | '\'' | ')' | ']' | '”' | '’' | '»' | '*' | '_')
                    {
                        j += c.len_utf8();
                        continue;
                    }
                    break;
                }
                if j >= b.len() {
                    return (start..b.len(), b.len());
                }
                if b[j] == b' ' && !(b[i] == b'.' && is_abbreviation(&text[start..i])) {
                    return (start..j, j + 1);
                }
                i = j.max(i + 1);
            }
            b' ' => {
                if i > start && space_is_line_break(view, original, i) {
                    return (start..i, i + 1);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    (start..b.len(), b.len())
}

/// Whether the text before a period ends with an abbreviation (or a single
/// letter, an initial), so the period does not end the sentence.
fn is_abbreviation(before: &str) -> bool {
    let word = before.rsplit(' ').next().unwrap_or("");
    let word = word.trim_start_matches(['(', '"', '\'', '“']);
    if word.chars().count() == 1 && word.chars().all(char::is_alphabetic) {
        return true;
    }
    matches!(
        word,
        "e.g"
            | "i.e"
            | "dr"
            | "mr"
            | "mrs"
            | "ms"
            | "vs"
            | "st"
            | "no"
            | "approx"
            | "fig"
            | "jr"
            | "sr"
            | "a.m"
            | "p.m"
            | "u.s"
            | "u.k"
            | "inc"
            | "ltd"
            | "sra"
            | "dra"
            | "ud"
            | "uds"
    )
}

/// Whether the collapsed space at view position `i` stands for whitespace
/// that contained a line break in the original.
fn space_is_line_break(view: &View, original: &str, i: usize) -> bool {
    let from = view.span(i..i + 1).start;
    let to = if i + 1 < view.as_str().len() { view.span(i + 1..i + 2).start } else { original.len() };
    from < to && original.as_bytes()[from..to].iter().any(|&c| c == b'\n' || c == b'\r')
        || original[from..to.max(from)].contains(['\u{2028}', '\u{2029}', '\u{85}'])
}

/// The original span that removing the sentence `sent` (a view range)
/// deletes: the sentence and the whitespace up to the next one.
fn removal_span(view: &View, original: &str, sent: Range<usize>) -> Span {
    let text = view.as_str();
    let start = view.span(sent.clone()).start;
    let mut next = sent.end;
    while next < text.len() && text.as_bytes()[next] == b' ' {
        next += 1;
    }
    let end = if next < text.len() { view.span(next..next + 1).start } else { original.len() };
    Span::new(start, end.max(start))
}

/// The clause around `[ms, me)`: between the nearest break before it and the
/// nearest one after it.
fn clause_bounds(breaks: &[(usize, usize)], ms: usize, me: usize, len: usize) -> (usize, usize) {
    let cs = breaks.iter().filter(|&&(_, be)| be <= ms).map(|&(_, be)| be).max().unwrap_or(0);
    let ce = breaks.iter().filter(|&&(bs, _)| bs >= me).map(|&(bs, _)| bs).min().unwrap_or(len);
    (cs, ce)
}

/// Whether `[ms, me)` lies between an opening and a closing double quote.
fn in_quotes(quotes: &[usize], ms: usize, me: usize) -> bool {
    let before = quotes.partition_point(|&q| q < ms);
    before % 2 == 1 && quotes.iter().any(|&q| q >= me)
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

fn is_var_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// Replaces `{name}` by `(?:value)`. Repetitions such as `{0,40}` are left
/// alone (they start with a digit).
fn expand_vars(pattern: &str, vars: &BTreeMap<String, String>, field: &str, depth: u8) -> Result<String, BuildError> {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}');
        let name = close.map(|c| &after[..c]);
        match name {
            Some(n) if is_var_name(n) && !rest[..open].ends_with('\\') => {
                let Some(value) = vars.get(n) else {
                    return Err(BuildError::new(field, format!("unknown variable {{{n}}}")));
                };
                let value = if depth > 0 { expand_vars(value, vars, field, depth - 1)? } else { value.clone() };
                out.push_str(&rest[..open]);
                out.push_str("(?:");
                out.push_str(&value);
                out.push(')');
                rest = &after[n.len() + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Rewrites a pattern for the view: `\b` → ASCII word boundary, `'` → any
/// apostrophe.
fn rewrite_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('b') if !in_class => out.push_str(r"(?-u:\b)"),
                Some('B') if !in_class => out.push_str(r"(?-u:\B)"),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                // A leading `]` or `^]` is literal.
                let mut peek = chars.clone();
                if let Some('^') = peek.next() {
                    out.push('^');
                    chars.next();
                }
                let mut peek = chars.clone();
                if let Some(']') = peek.next() {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '\'' if in_class => out.push_str("'’ʼ"),
            '\'' => out.push_str("['’ʼ]"),
            other => out.push(other),
        }
    }
    out
}

fn apostrophe_variants(t: &str) -> Vec<String> {
    if t.contains('\'') {
        vec![t.to_string(), t.replace('\'', "’"), t.replace('\'', "ʼ")]
    } else {
        vec![t.to_string()]
    }
}

fn compile(pattern: &str, field: &str) -> Result<Regex, BuildError> {
    compile_rewritten(&rewrite_pattern(pattern), field)
}

/// Compiles with the settings `regex::Regex` uses for `&str` (leftmost-first,
/// no empty match inside a UTF-8 code point), larger size limits.
fn compile_rewritten(pattern: &str, field: &str) -> Result<Regex, BuildError> {
    let config = Regex::config()
        .match_kind(regex_automata::MatchKind::LeftmostFirst)
        .utf8_empty(true)
        .nfa_size_limit(Some(32 << 20))
        .hybrid_cache_capacity(8 << 20);
    Regex::builder().configure(config).syntax(syntax::Config::new().utf8(true)).build(pattern).map_err(|e| {
        let why = match (e.syntax_error(), e.size_limit()) {
            (Some(syntax), _) => first_line(&syntax.to_string()),
            (None, Some(limit)) => format!("the compiled pattern exceeds the size limit of {limit} bytes"),
            (None, None) => first_line(&e.to_string()),
        };
        BuildError::new(field, format!("bad pattern: {why}"))
    })
}

fn compile_alternatives(
    patterns: &[String],
    vars: &BTreeMap<String, String>,
    field: &str,
) -> Result<Regex, BuildError> {
    compile_alternatives_with_source(patterns, vars, field).map(|(regex, _)| regex)
}

/// [`compile_alternatives`], also returning the compiled pattern text.
fn compile_alternatives_with_source(
    patterns: &[String],
    vars: &BTreeMap<String, String>,
    field: &str,
) -> Result<(Regex, String), BuildError> {
    if patterns.is_empty() {
        return Err(BuildError::new(field, "at least one pattern is required"));
    }
    let mut joined = String::new();
    for (i, p) in patterns.iter().enumerate() {
        let f = format!("{field}[{i}]");
        if p.trim().is_empty() {
            return Err(BuildError::new(f, "empty pattern"));
        }
        let expanded = expand_vars(p, vars, &f, 2)?;
        // Each entry is parsed alone (syntax only: cheap) so that an error
        // names the right entry and no entry can unbalance the alternation;
        // only the joined alternation is compiled (compiling every entry
        // twice was a quarter of the guardrail's build time).
        if regex_syntax::ast::parse::Parser::new().parse(&rewrite_pattern(&expanded)).is_err() {
            // The compiler's message for the same pattern.
            compile(&expanded, &f)?;
            return Err(BuildError::new(f, "bad pattern"));
        }
        if i > 0 {
            joined.push('|');
        }
        joined.push_str("(?:");
        joined.push_str(&expanded);
        joined.push(')');
    }
    // On the error paths, compile the entries alone to name the culprit.
    let alone = |i: usize, p: &String| {
        let f = format!("{field}[{i}]");
        expand_vars(p, vars, &f, 2).and_then(|e| compile(&e, &f)).map(|re| (f, re))
    };
    let source = rewrite_pattern(&joined);
    let regex = compile_rewritten(&source, field).map_err(|joined_error| {
        patterns.iter().enumerate().find_map(|(i, p)| alone(i, p).err()).unwrap_or(joined_error)
    })?;
    // An alternation matches the empty string exactly when an entry does.
    if regex.is_match("") {
        for (i, p) in patterns.iter().enumerate() {
            let (f, re) = alone(i, p)?;
            if re.is_match("") {
                return Err(BuildError::new(f, "the pattern matches the empty string"));
            }
        }
        return Err(BuildError::new(field, "the pattern matches the empty string"));
    }
    Ok((regex, source))
}

fn first_line(s: &str) -> String {
    s.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(s).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(s: &str) -> View {
        let mut v = View::new();
        v.build(s);
        v
    }

    #[test]
    fn alternatives_errors_name_the_entry() {
        let vars = BTreeMap::new();
        let pats = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok = compile_alternatives(&pats(&["you have", r"\bflu\b"]), &vars, "r.patterns").unwrap();
        assert!(ok.is_match("i think you have the flu"));
        // An entry that would balance the joined alternation is still rejected alone.
        let e = compile_alternatives(&pats(&["flu", "a)|(b"]), &vars, "r.patterns").unwrap_err();
        assert!(e.to_string().contains("r.patterns[1]"), "{e}");
        let e = compile_alternatives(&pats(&["flu", "(unclosed"]), &vars, "r.patterns").unwrap_err();
        assert!(e.to_string().contains("r.patterns[1]") && e.to_string().contains("bad pattern"), "{e}");
        let e = compile_alternatives(&pats(&["flu", "x*", "cold"]), &vars, "r.patterns").unwrap_err();
        assert!(e.to_string().contains("r.patterns[1]") && e.to_string().contains("empty string"), "{e}");
        // Zero-length but never empty-matching on its own is allowed, as before.
        compile_alternatives(&pats(&[r"\bflu"]), &vars, "r.patterns").unwrap();
    }

    fn sentences(s: &str) -> Vec<String> {
        let v = view(s);
        let mut out = Vec::new();
        let mut start = 0;
        while start < v.as_str().len() {
            let (r, next) = next_sentence(&v, s, start);
            if !r.is_empty() {
                out.push(v.as_str()[r].to_string());
            }
            start = next;
        }
        out
    }

    #[test]
    fn segmentation_handles_abbreviations_quotes_and_line_breaks() {
        assert_eq!(
            sentences("Dr. Smith said so, e.g. twice. \"Is it bad?\" Yes!\n- You have X\n\nNext"),
            ["dr. smith said so, e.g. twice.", "\"is it bad?\"", "yes!", "- you have x", "next"]
        );
        assert_eq!(sentences("Take 2.5 mg. Then rest"), ["take 2.5 mg.", "then rest"]);
        assert_eq!(sentences("  "), Vec::<String>::new());
    }

    #[test]
    fn pattern_rewriting() {
        assert_eq!(rewrite_pattern(r"\bit's\b"), r"(?-u:\b)it['’ʼ]s(?-u:\b)");
        assert_eq!(rewrite_pattern(r"[a-z']+"), "[a-z'’ʼ]+");
        assert_eq!(rewrite_pattern(r"[]a]"), "[]a]");
        let vars: BTreeMap<String, String> = [("x".to_string(), "a|b".to_string())].into();
        assert_eq!(expand_vars("{x} {0,3}", &vars, "f", 1).unwrap(), "(?:a|b) {0,3}");
        assert!(expand_vars("{nope}", &vars, "f", 1).is_err());
    }

    #[test]
    fn removal_span_takes_the_following_whitespace() {
        let s = "Rest well.  You have diabetes.\n\nDrink water.";
        let v = view(s);
        let (_, n) = next_sentence(&v, s, 0);
        let (r, _) = next_sentence(&v, s, n);
        let sp = removal_span(&v, s, r);
        assert_eq!(&s[sp.range()], "You have diabetes.\n\n");
    }

    #[test]
    fn builtin_rules_build() {
        let d = Diagnosis::new(&DiagnosisConfig::default(), &Policy::builtin().unwrap().locales).unwrap();
        assert!(d.rule_count() > 10);
    }

    /// Rule ids that fire on `text` in the given context.
    fn fired(d: &Diagnosis, text: &str, ctx: &ExchangeContext) -> Vec<String> {
        let v = view(text);
        let mut s = DiagnosisScratch::default();
        d.scan(&v, text, ctx, 0, &mut s);
        s.hits.iter().map(|h| d.rules[h.rule as usize].id.to_string()).collect()
    }

    #[test]
    fn every_builtin_rule_fires_on_its_examples_and_not_on_its_counter_examples() {
        let d = Diagnosis::new(&DiagnosisConfig::default(), &Policy::builtin().unwrap().locales).unwrap();
        let data: DiagnosisRules = toml::from_str(BUILTIN_RULES_TOML).unwrap();
        let mut failures = Vec::new();
        for r in &data.rules {
            let ctx = match r.context {
                RuleContext::Always => ExchangeContext::default(),
                RuleContext::RedFlag => ExchangeContext { topic_in_response: true, ..ExchangeContext::default() },
                RuleContext::Escalated => {
                    ExchangeContext { escalated: Some(Severity::Emergency), ..ExchangeContext::default() }
                }
            };
            assert!(!r.examples.is_empty(), "{} has no examples", r.id);
            for e in &r.examples {
                if !fired(&d, e, &ctx).contains(&r.id) {
                    failures.push(format!("{} missed example {e:?}", r.id));
                }
            }
            for e in &r.counter_examples {
                if fired(&d, e, &ctx).contains(&r.id) {
                    failures.push(format!("{} fired on counter-example {e:?}", r.id));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
