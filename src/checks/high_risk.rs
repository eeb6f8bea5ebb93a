//! The `high_risk` check: the clinical red-flag matcher that escalates a
//! message to a human clinician and emergency guidance.
//!
//! # What it does
//!
//! One Aho-Corasick automaton holds every phrase of the red-flag lexicon
//! (`src/checks/data/high_risk.toml`: stroke, cardiac, anaphylaxis, sepsis,
//! suicide and self-harm, overdose and poisoning, severe bleeding,
//! breathing, pregnancy, paediatric, meningitis, diabetic and collapse
//! emergencies, in lay, clinical, misspelt and Spanish forms). It runs once
//! over the shared detection [`View`](crate::normalize::View), so zero-width
//! characters, fullwidth letters and case are already folded. Each match is a
//! rule (`stroke.face_droop`) with a category and a severity:
//!
//! * `emergency` / `urgent` rules report a finding and, at the request
//!   stage, escalate the message ([`Context::escalate`]);
//! * `advisory` rules report the soft tier (resources, no paging);
//! * `signal` rules only feed **compound** rules (BE-FAST: two of face / arm
//!   / speech signs; chest pain with sweating or arm pain; infection with
//!   confusion; a young infant with fever; pregnancy with headache or vision
//!   change);
//! * `exclude` rules mask idioms ("stroke of luck", "gave me a heart
//!   attack").
//!
//! Context (negation, hypothetical and educational framing, explicit
//! history, "went away", third parties) is judged around each match, ConText
//! style, and attached to the finding as [`Qualifier`]s. It lowers severity
//! by the caps of [`ContextConfig`]; the built-in caps never drop a red flag
//! to nothing (negated → `advisory`), keep "went away" escalated for stroke,
//! anaphylaxis and overdose, and keep a third party's present emergency at
//! full severity. The choices and their reasons are in
//! `src/checks/data/high_risk_NOTES.md`.
//!
//! At the **response** stage the same matcher runs on the model's answer
//! only to know its topic: every red-flag mention is reported with
//! `Severity::Info` and its category (with the same qualifiers), and nothing
//! is escalated: the model is not the patient.
//!
//! # Findings other checks can rely on
//!
//! * check id `high_risk`; rule ids `<category>.<name>`; category one of the
//!   lexicon's categories.
//! * Request stage: one finding per rule (its strongest occurrence) and one
//!   per fired compound, in text order; severity `emergency` / `urgent` iff
//!   the rule escalated, `advisory` for the soft tier. The verdict's
//!   escalation is the strongest of them (the first in the text among
//!   equals).
//! * Response stage: the same findings with severity `info`.
//!
//! # Performance
//!
//! The automaton is a DFA with leftmost-longest semantics over the
//! lower-cased view (no ASCII case folding needed: the view is already
//! lower-cased, which halves the DFA). Clean text costs one automaton pass and
//! a word-boundary test per match; the context automaton and the rule tables
//! are touched only when something matched. Per-call buffers live in the
//! caller's [`Scratch`](crate::Scratch); the clean path does not allocate.

mod config;
mod context;
mod lexicon;
mod phrases;

use std::sync::Arc;

pub use config::{Boundary, Caps, CompoundConfig, ContextConfig, HighRiskConfig, RuleConfig, RuleSeverity};

use crate::check::{Check, CheckError, Context, Stage, Stages};
use crate::error::BuildError;
use crate::verdict::{Finding, Qualifiers, Severity};

use context::{Judgement, Marker};
use lexicon::Lexicon;

/// The clinical red-flag matcher; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct HighRisk {
    lex: Arc<Lexicon>,
}

/// One match of a rule in the view.
#[derive(Debug, Clone, Copy)]
struct Hit {
    rule: u32,
    start: u32,
    end: u32,
    negated: bool,
}

/// The strongest occurrence of a rule in the current message.
#[derive(Debug, Clone, Copy, Default)]
struct Best {
    epoch: u32,
    start: u32,
    end: u32,
    judgement: Judgement,
    /// Severity after context (for signals: as if `emergency`).
    eff: Option<Severity>,
}

/// A finding about to be reported.
#[derive(Debug, Clone, Copy)]
struct Report {
    /// Rule index, or `rules.len() + compound index`.
    what: u32,
    start: u32,
    end: u32,
    judgement: Judgement,
    eff: Severity,
}

/// Per-call buffers, kept in the caller's scratch.
#[derive(Debug, Default)]
struct HighRiskScratch {
    hits: Vec<Hit>,
    markers: Vec<Marker>,
    best: Vec<Best>,
    touched: Vec<u32>,
    reports: Vec<Report>,
    /// Per category: end of the last match that is not negated.
    last_affirmed: Vec<u32>,
    /// Per category: end of the furthest exclusion seen so far.
    excluded_until: Vec<u32>,
    epoch: u32,
}

impl HighRisk {
    /// Builds the check from its policy section.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the field (`high_risk.rules[3].phrases[2]`,
    /// `high_risk.rules_files[0].rule[5].id`, ...) for a duplicate rule id,
    /// a rule without phrases, a phrase that normalises to nothing, a bad
    /// pattern, an unknown rule id in a compound or in `disabled_rules`, an
    /// unreadable rules file, or more than `max_phrases` phrases.
    pub fn new(config: &HighRiskConfig) -> Result<HighRisk, BuildError> {
        Ok(HighRisk { lex: Arc::new(lexicon::compile(config)?) })
    }

    /// Number of rules (compounds not included).
    #[must_use]
    pub fn rules_len(&self) -> usize {
        self.lex.rules.len()
    }

    /// Number of compound rules.
    #[must_use]
    pub fn compounds_len(&self) -> usize {
        self.lex.compounds.len()
    }

    /// The distinct normalised phrases of the automaton (after expansion and
    /// variants), in pattern order.
    pub fn phrases(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.lex.phrases.phrases().iter().map(String::as_str)
    }

    /// Per rule id, how many phrases of the automaton trigger it (after
    /// expansion and variants), in lexicon order.
    #[must_use]
    pub fn phrase_counts(&self) -> Vec<(&str, usize)> {
        let lex = &*self.lex;
        let mut counts = vec![0usize; lex.rules.len()];
        for id in 0..lex.phrases.phrases().len() {
            for m in lex.phrases.meanings_of(id) {
                counts[m.tag as usize] += 1;
            }
        }
        lex.rules.iter().zip(counts).map(|(r, n)| (&*r.id, n)).collect()
    }

    /// The rule ids with their category and severity, in lexicon order.
    pub fn rules(&self) -> impl Iterator<Item = (&str, &str, RuleSeverity)> + '_ {
        self.lex.rules.iter().map(|r| (&*r.id, &*self.lex.categories[r.cat as usize].name, r.severity))
    }

    /// The sources (the clinical brief's references) of a rule.
    #[must_use]
    pub fn sources(&self, rule: &str) -> Option<&[String]> {
        self.lex.rules.iter().find(|r| &*r.id == rule).map(|r| r.sources.as_slice())
    }

    /// The compound rule ids with their category and severity.
    pub fn compounds(&self) -> impl Iterator<Item = (&str, &str, Severity)> + '_ {
        self.lex.compounds.iter().map(|c| (&*c.id, &*self.lex.categories[c.cat as usize].name, c.severity))
    }

    fn run(&self, cx: &mut Context<'_>, s: &mut HighRiskScratch) -> Result<(), CheckError> {
        let lex = &*self.lex;
        let view = cx.view().as_str();
        s.hits.clear();
        s.excluded_until.clear();
        s.excluded_until.resize(lex.categories.len(), 0);
        let hits = &mut s.hits;
        let excluded_until = &mut s.excluded_until;
        let rules = &lex.rules;
        // Exclusions ("stroke of luck") mask the matches of their own
        // category that start inside them; the search resumes inside an
        // exclusion, so other categories' phrases there are still found.
        lex.phrases.scan(view, |rule, a, b| {
            let r = &rules[rule as usize];
            let until = &mut excluded_until[r.cat as usize];
            if r.severity == RuleSeverity::Exclude {
                *until = (*until).max(b as u32);
            } else if (a as u32) >= *until {
                hits.push(Hit { rule, start: a as u32, end: b as u32, negated: false });
            }
        })?;
        if s.hits.is_empty() {
            return Ok(());
        }
        // Only signals matched and no compound could fire: nothing to report.
        let reportable = s.hits.iter().any(|h| rules[h.rule as usize].severity.reported().is_some());
        if !reportable && !self.any_compound_possible(&s.hits) {
            return Ok(());
        }

        match &lex.context {
            Some(ctx) => context::find_markers(ctx, view, &mut s.markers)?,
            None => s.markers.clear(),
        }

        // Strongest occurrence per rule.
        s.epoch = s.epoch.wrapping_add(1);
        if s.epoch == 0 {
            s.best.iter_mut().for_each(|b| b.epoch = 0);
            s.epoch = 1;
        }
        if s.best.len() < rules.len() {
            s.best.resize(rules.len(), Best::default());
        }
        s.touched.clear();
        s.last_affirmed.clear();
        s.last_affirmed.resize(lex.categories.len(), 0);
        for h in &mut s.hits {
            let rule = &rules[h.rule as usize];
            let caps = &lex.categories[rule.cat as usize].caps;
            let j = context::judge(view, &s.markers, h.start as usize, h.end as usize);
            h.negated = j.negated;
            if !j.negated {
                let last = &mut s.last_affirmed[rule.cat as usize];
                *last = (*last).max(h.start + 1);
            }
            let base = rule.severity.reported().unwrap_or(Severity::Emergency);
            let eff = cap(base, &j, caps);
            let b = &mut s.best[h.rule as usize];
            let better = b.epoch != s.epoch
                || b.eff.is_none_or(|old| eff > old)
                || (b.eff == Some(eff) && b.judgement.negated && !j.negated);
            if b.epoch != s.epoch {
                s.touched.push(h.rule);
            }
            if better {
                *b = Best { epoch: s.epoch, start: h.start, end: h.end, judgement: j, eff: Some(eff) };
            }
        }

        // "A denial suppresses only if no warning sign follows."
        for &r in &s.touched {
            let rule = &rules[r as usize];
            let caps = &lex.categories[rule.cat as usize].caps;
            let b = s.best[r as usize];
            if !(caps.denial_needs_no_later_sign && b.judgement.negated) {
                continue;
            }
            // `last_affirmed` holds start + 1 of the last match that is not
            // negated, 0 for none.
            if s.last_affirmed[rule.cat as usize] > b.start + 1 {
                let mut j = b.judgement;
                j.negated = false;
                let base = rule.severity.reported().unwrap_or(Severity::Emergency);
                s.best[r as usize].eff = Some(cap(base, &j, caps));
            }
        }

        s.reports.clear();
        for &r in &s.touched {
            let b = s.best[r as usize];
            if let (Some(_), Some(eff)) = (rules[r as usize].severity.reported(), b.eff) {
                s.reports.push(Report { what: r, start: b.start, end: b.end, judgement: b.judgement, eff });
            }
        }
        for (ci, c) in lex.compounds.iter().enumerate() {
            if let Some(rep) = self.compound(c, &s.best, s.epoch) {
                s.reports.push(Report { what: (rules.len() + ci) as u32, ..rep });
            }
        }
        s.reports.sort_by_key(|r| (r.start, r.what));

        let stage = cx.stage();
        for rep in &s.reports {
            let (id, cat) = if (rep.what as usize) < rules.len() {
                let r = &rules[rep.what as usize];
                (&r.id, r.cat)
            } else {
                let c = &lex.compounds[rep.what as usize - rules.len()];
                (&c.id, c.cat)
            };
            let category = &lex.categories[cat as usize].name;
            let span = cx.view().span(rep.start as usize..rep.end as usize);
            let severity = if stage == Stage::Request { rep.eff } else { Severity::Info };
            let quals: Qualifiers = rep.judgement.qualifiers();
            cx.push_finding(
                Finding::new(cx.check_id().clone(), id.clone(), category.clone(), severity, span)
                    .with_qualifiers(quals),
            );
        }
        if stage == Stage::Request {
            for rep in &s.reports {
                if rep.eff.escalates() {
                    let cat = if (rep.what as usize) < rules.len() {
                        rules[rep.what as usize].cat
                    } else {
                        lex.compounds[rep.what as usize - rules.len()].cat
                    };
                    cx.escalate(lex.categories[cat as usize].name.clone(), rep.eff);
                }
            }
        }
        Ok(())
    }

    /// Whether some compound has every required group matched (ignoring
    /// context): the cheap test before judging context for signals.
    fn any_compound_possible(&self, hits: &[Hit]) -> bool {
        let has = |group: &Vec<u32>| group.iter().any(|r| hits.iter().any(|h| h.rule == *r));
        self.lex
            .compounds
            .iter()
            .any(|c| c.require.iter().all(has) && c.optional.iter().filter(|g| has(g)).count() >= c.min_optional)
    }

    /// Evaluates a compound on the per-rule bests.
    fn compound(&self, c: &lexicon::Compound, best: &[Best], epoch: u32) -> Option<Report> {
        let lex = &*self.lex;
        // The best non-negated member of a group.
        let member = |group: &Vec<u32>| -> Option<Best> {
            group
                .iter()
                .map(|&r| best[r as usize])
                .filter(|b| b.epoch == epoch && !b.judgement.negated)
                .max_by_key(|b| (b.eff, std::cmp::Reverse(b.start)))
        };
        let mut acc: Option<(u32, u32, Judgement)> = None;
        let mut add = |b: Best| {
            acc = Some(match acc {
                None => (b.start, b.end, b.judgement),
                Some((s, e, j)) => (s.min(b.start), e.max(b.end), j.union(b.judgement)),
            });
        };
        for g in &c.require {
            add(member(g)?);
        }
        let mut n = 0;
        for g in &c.optional {
            if let Some(b) = member(g) {
                add(b);
                n += 1;
            }
        }
        if n < c.min_optional {
            return None;
        }
        let (start, end, judgement) = acc?;
        let eff = cap(c.severity, &judgement, &lex.categories[c.cat as usize].caps);
        Some(Report { what: 0, start, end, judgement, eff })
    }
}

/// The severity left after the context caps.
fn cap(base: Severity, j: &Judgement, caps: &config::ResolvedCaps) -> Severity {
    let mut s = base;
    let mut lower = |on: bool, c: Severity| {
        if on && c < s {
            s = c;
        }
    };
    lower(j.negated, caps.negated);
    lower(j.hypothetical, caps.hypothetical);
    lower(j.conditional, caps.conditional);
    lower(j.historical, caps.historical);
    lower(j.resolved, caps.resolved);
    lower(j.third_party, caps.third_party);
    s
}

impl Check for HighRisk {
    fn id(&self) -> &str {
        "high_risk"
    }

    fn stages(&self) -> Stages {
        Stages::BOTH
    }

    /// Escalation must never hide behind a block.
    fn runs_after_block(&self) -> bool {
        true
    }

    fn check(&self, cx: &mut Context<'_>) -> Result<(), CheckError> {
        let mut s = std::mem::take(cx.scratch::<HighRiskScratch>());
        let result = self.run(cx, &mut s);
        *cx.scratch::<HighRiskScratch>() = s;
        result
    }

    fn memory_usage(&self) -> usize {
        let lex = &*self.lex;
        lex.phrases.memory_usage()
            + lex.context.as_ref().map_or(0, |c| c.memory_usage())
            + lex.rules.len() * std::mem::size_of::<lexicon::Rule>()
            + lex.compounds.len() * std::mem::size_of::<lexicon::Compound>()
    }
}
