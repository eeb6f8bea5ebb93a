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
//!   change), in the whole message or, for `scope = "sentence"` compounds,
//!   in one sentence (a quantity and "lethal"; a means and a death goal; a
//!   wish and "if I died");
//! * `exclude` rules mask idioms ("stroke of luck", "gave me a heart
//!   attack").
//!
//! Context (negation, hypothetical and educational framing, explicit
//! history, "went away", third parties) is judged around each match, ConText
//! style, inside its sentence (which ends at `.` `!` `?` `;` and at line
//! breaks of the original text, found through the view's offset map), and
//! attached to the finding as [`Qualifier`]s. It lowers severity by the caps
//! of [`ContextConfig`] (default, per category, per rule); the built-in caps
//! never drop a red flag
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
//! * Response stage: the same findings with severity `info` (never an
//!   escalation); their qualifiers say how the *model* framed the topic
//!   (`negated` on "it's not a stroke" is a dismissal worth checking).
//! * Qualifiers: `negated`, `hypothetical` (educational or conditional
//!   framing), `historical` (explicit past anchor, or "went away"),
//!   `third_party`, `squeezed` (found in the letter-spaced / l33t form),
//!   `hidden` (inside Unicode tag characters).
//! * Compound findings (`stroke.be_fast`, `cardiac.chest_pain_plus`, ...)
//!   span from their first to their last member.
//!
//! # Performance
//!
//! The automaton is a **contiguous NFA with leftmost-longest semantics**
//! over the lower-cased view (no ASCII case folding: the view is already
//! lower-cased). Measured on the built-in lexicon (about 23,000 phrases after
//! expansion at the time; `cargo run --release --example high_risk_automata`,
//! figures in BENCHMARKS.md): a DFA scans about 1.2–1.35x faster but takes
//! 66–83 MB and 200–400 ms to build; the contiguous NFA takes about 2.5 MB and
//! 40–80 ms, and the non-contiguous NFA is about 3x slower. The lexicon is
//! now about 27,000 phrases; building the check takes about 110 ms, two thirds
//! of it in the automaton (`cargo run --release --example
//! high_risk_build_time`). Leftmost-longest gives one match per position, the
//! longest phrase; a match whose word boundaries fail falls back to the
//! shorter phrases that are its prefixes at the same position. Clean text
//! costs one automaton pass and a word-boundary test per raw match; the
//! context automaton and the rule tables are touched only when something
//! matched. Per-call buffers live in the caller's
//! [`Scratch`](crate::Scratch); the warm clean path does not allocate.

mod config;
mod context;
mod lexicon;
mod phrases;

use std::sync::Arc;

pub use config::{Boundary, Caps, CompoundConfig, ContextConfig, HighRiskConfig, RuleConfig, RuleSeverity, Scope};

use crate::check::{Check, CheckError, Context, Stage, Stages};
use crate::error::BuildError;
use crate::normalize::Form;
use crate::verdict::{Finding, Qualifier, Qualifiers, Severity, Span};

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
    /// 0: main form, 1: squeezed form.
    form: u8,
}

/// The strongest occurrence of a rule in the current message.
#[derive(Debug, Clone, Copy, Default)]
struct Best {
    epoch: u32,
    /// In the original text.
    span: Span,
    judgement: Judgement,
    /// Severity after context (for signals: as if `emergency`).
    eff: Option<Severity>,
    /// Found in the squeezed form.
    squeezed: bool,
}

/// A finding about to be reported.
#[derive(Debug, Clone, Copy)]
struct Report {
    /// Rule index, or `rules.len() + compound index`.
    what: u32,
    span: Span,
    judgement: Judgement,
    eff: Severity,
    squeezed: bool,
}

/// Per-call buffers, kept in the caller's scratch.
#[derive(Debug, Default)]
struct HighRiskScratch {
    hits: Vec<Hit>,
    /// Context markers of the main and the squeezed form.
    markers: [Vec<Marker>; 2],
    /// Line breaks of the original text, as positions of each form.
    breaks: [Vec<u32>; 2],
    /// Context and original span of each hit (parallel to `hits`), kept
    /// when the lexicon has sentence-scoped compounds.
    judged: Vec<(Judgement, Span)>,
    /// Per rule: the sentence stamp where it was last seen affirmed, with
    /// its first affirmed occurrence in that sentence.
    sentence_seen: Vec<(u32, Span, Judgement, bool)>,
    sentence_stamp: u32,
    /// Per compound: the strongest firing of a sentence-scoped compound.
    sentence_best: Vec<Option<Report>>,
    /// Per rule: the epoch stamp of the run where it matched (for the
    /// quick compound test).
    present: Vec<u32>,
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
    /// `high_risk.lexicon_files[0].rule[5].id`, ...) for a duplicate rule id,
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
        let set = &self.lex.phrases;
        (0..set.len()).map(move |i| set.phrase(i))
    }

    /// Per rule id, how many phrases of the automaton trigger it (after
    /// expansion and variants), in lexicon order.
    #[must_use]
    pub fn phrase_counts(&self) -> Vec<(&str, usize)> {
        let lex = &*self.lex;
        let mut counts = vec![0usize; lex.rules.len()];
        for id in 0..lex.phrases.len() {
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
        let rules = &lex.rules;
        let view = cx.view();
        // The main form, and the squeezed form (letter-spaced runs joined,
        // l33t folded) when the message has one.
        let forms: [Option<&Form>; 2] = [Some(view.main()), view.squeezed()];
        s.hits.clear();
        for (fi, form) in forms.iter().enumerate() {
            let Some(form) = form else { continue };
            s.excluded_until.clear();
            s.excluded_until.resize(lex.categories.len(), 0);
            let hits = &mut s.hits;
            let excluded_until = &mut s.excluded_until;
            // Exclusions ("stroke of luck") mask the matches of their own
            // category that start inside them; the search resumes inside an
            // exclusion, so other categories' phrases there are still found.
            lex.phrases.scan(form.as_str(), |rule, a, b| {
                let r = &rules[rule as usize];
                let until = &mut excluded_until[r.cat as usize];
                if r.severity == RuleSeverity::Exclude {
                    *until = (*until).max(b as u32);
                } else if (a as u32) >= *until {
                    hits.push(Hit { rule, start: a as u32, end: b as u32, form: fi as u8 });
                }
            })?;
        }
        if s.hits.is_empty() {
            return Ok(());
        }
        // Only signals matched and no compound could fire: nothing to report.
        let reportable = s.hits.iter().any(|h| rules[h.rule as usize].severity.reported().is_some());
        if !reportable && !self.any_compound_possible(s) {
            return Ok(());
        }

        let original = cx.original();
        for (fi, form) in forms.iter().enumerate() {
            s.markers[fi].clear();
            s.breaks[fi].clear();
            let Some(form) = form else { continue };
            if !s.hits.iter().any(|h| usize::from(h.form) == fi) {
                continue;
            }
            if let Some(ctx) = &lex.context {
                context::find_markers(ctx, form.as_str(), &mut s.markers[fi])?;
            }
            context::line_breaks(original, form, &mut s.breaks[fi]);
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
        s.judged.clear();
        s.last_affirmed.clear();
        s.last_affirmed.resize(lex.categories.len(), 0);
        for h in &s.hits {
            let fi = usize::from(h.form);
            let Some(form) = forms[fi] else { continue };
            let rule = &rules[h.rule as usize];
            let caps = &rule.caps;
            let j = context::judge(form.as_str(), &s.markers[fi], &s.breaks[fi], h.start as usize, h.end as usize);
            let span = form.span(h.start as usize..h.end as usize);
            if lex.has_sentence_compounds {
                s.judged.push((j, span));
            }
            // A warning sign that follows a denial: a reported rule that is
            // not negated (compound signals are not signs on their own).
            if !j.negated && rule.severity.reported().is_some() {
                let last = &mut s.last_affirmed[rule.cat as usize];
                *last = (*last).max(span.start as u32 + 1);
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
                *b = Best { epoch: s.epoch, span, judgement: j, eff: Some(eff), squeezed: h.form == 1 };
            }
        }

        // "A denial suppresses only if no warning sign follows."
        for &r in &s.touched {
            let rule = &rules[r as usize];
            let caps = &rule.caps;
            let b = s.best[r as usize];
            if !(caps.denial_needs_no_later_sign && b.judgement.negated) {
                continue;
            }
            // `last_affirmed` holds start + 1 of the last match that is not
            // negated, 0 for none.
            if s.last_affirmed[rule.cat as usize] > b.span.start as u32 + 1 {
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
                s.reports.push(Report { what: r, span: b.span, judgement: b.judgement, eff, squeezed: b.squeezed });
            }
        }
        if lex.has_sentence_compounds {
            self.sentence_compounds(&forms, s);
        }
        for (ci, c) in lex.compounds.iter().enumerate() {
            let rep = match c.scope {
                Scope::Message => self.compound(c, &s.best, s.epoch),
                Scope::Sentence => s.sentence_best.get(ci).copied().flatten(),
            };
            if let Some(rep) = rep {
                s.reports.push(Report { what: (rules.len() + ci) as u32, ..rep });
            }
        }
        s.reports.sort_by_key(|r| (r.span.start, r.what));

        let stage = cx.stage();
        for rep in &s.reports {
            let (id, cat) = self.id_and_cat(rep.what);
            let category = &lex.categories[cat as usize].name;
            let severity = if stage == Stage::Request { rep.eff } else { Severity::Info };
            let mut quals: Qualifiers = rep.judgement.qualifiers();
            if rep.squeezed {
                quals.insert(Qualifier::Squeezed);
            }
            if view.is_hidden_span(rep.span) {
                quals.insert(Qualifier::Hidden);
            }
            cx.push_finding(
                Finding::new(cx.check_id().clone(), id.clone(), category.clone(), severity, rep.span)
                    .with_qualifiers(quals),
            );
        }
        if stage == Stage::Request {
            for rep in &s.reports {
                if rep.eff.escalates() {
                    let (_, cat) = self.id_and_cat(rep.what);
                    cx.escalate(lex.categories[cat as usize].name.clone(), rep.eff);
                }
            }
        }
        Ok(())
    }

    /// The id and category index of a report (rule or compound).
    fn id_and_cat(&self, what: u32) -> (&Arc<str>, u16) {
        let lex = &*self.lex;
        match lex.rules.get(what as usize) {
            Some(r) => (&r.id, r.cat),
            None => {
                let c = &lex.compounds[what as usize - lex.rules.len()];
                (&c.id, c.cat)
            }
        }
    }

    /// Whether some compound has every required group matched (ignoring
    /// context): the cheap test before judging context for signals. Marks
    /// the rules present in `s.present` (stamped with `s.epoch + 1`, the
    /// epoch the run is about to use), so the cost is one pass over the hits
    /// plus one over the compounds' members.
    fn any_compound_possible(&self, s: &mut HighRiskScratch) -> bool {
        let lex = &*self.lex;
        if lex.compounds.is_empty() {
            return false;
        }
        if s.present.len() < lex.rules.len() {
            s.present.resize(lex.rules.len(), 0);
        }
        let stamp = s.epoch.wrapping_add(1).max(1);
        if stamp == 1 {
            s.present.iter_mut().for_each(|p| *p = 0);
        }
        for h in &s.hits {
            s.present[h.rule as usize] = stamp;
        }
        let present = &s.present;
        let has = |group: &Vec<u32>| group.iter().any(|&r| present[r as usize] == stamp);
        lex.compounds
            .iter()
            .any(|c| c.require.iter().all(has) && c.optional.iter().filter(|g| has(g)).count() >= c.min_optional)
    }

    /// Evaluates the sentence-scoped compounds: the hits of each form are
    /// cut into sentences (no sentence end and no line break of the
    /// original between two neighbouring hits), and every sentence holding a
    /// member of such a compound is tested on its own. Fills
    /// `s.sentence_best` with the strongest firing of each compound (the
    /// first among equals). Linear in the hits and the gaps between them.
    fn sentence_compounds(&self, forms: &[Option<&Form>; 2], s: &mut HighRiskScratch) {
        let lex = &*self.lex;
        s.sentence_best.clear();
        s.sentence_best.resize(lex.compounds.len(), None);
        if s.sentence_seen.len() < lex.rules.len() {
            s.sentence_seen.resize(lex.rules.len(), (0, Span::default(), Judgement::default(), false));
        }
        let n = s.hits.len();
        let mut i = 0;
        while i < n {
            // The sentence starting at hit i: extend while no sentence end
            // lies between the furthest end so far and the next start.
            let fi = usize::from(s.hits[i].form);
            let Some(form) = forms[fi] else {
                i += 1;
                continue;
            };
            let bytes = form.as_str().as_bytes();
            let mut j = i + 1;
            let mut reach = s.hits[i].end as usize;
            while j < n && usize::from(s.hits[j].form) == fi {
                let start = s.hits[j].start as usize;
                if start > reach && context::sentence_end_between(bytes, &s.breaks[fi], reach, start) {
                    break;
                }
                reach = reach.max(s.hits[j].end as usize);
                j += 1;
            }
            // Hits i..j form one sentence.
            s.sentence_stamp = s.sentence_stamp.wrapping_add(1);
            if s.sentence_stamp == 0 {
                s.sentence_seen.iter_mut().for_each(|e| e.0 = 0);
                s.sentence_stamp = 1;
            }
            let stamp = s.sentence_stamp;
            let mut any = false;
            for k in i..j {
                let h = s.hits[k];
                let Some(&(judgement, span)) = s.judged.get(k) else { continue };
                if judgement.negated || !lex.rules[h.rule as usize].in_sentence_compound {
                    continue;
                }
                let e = &mut s.sentence_seen[h.rule as usize];
                if e.0 != stamp {
                    *e = (stamp, span, judgement, h.form == 1);
                    any = true;
                }
            }
            if any {
                for (ci, c) in lex.compounds.iter().enumerate() {
                    if c.scope != Scope::Sentence {
                        continue;
                    }
                    let member = |group: &Vec<u32>| {
                        group
                            .iter()
                            .map(|&r| s.sentence_seen[r as usize])
                            .find(|e| e.0 == stamp)
                            .map(|(_, span, j, sq)| (span, j, sq))
                    };
                    let Some(rep) = members_report(c, member) else { continue };
                    let best = &mut s.sentence_best[ci];
                    if best.is_none_or(|b| rep.eff > b.eff) {
                        *best = Some(rep);
                    }
                }
            }
            i = j;
        }
    }

    /// Evaluates a compound on the per-rule bests.
    fn compound(&self, c: &lexicon::Compound, best: &[Best], epoch: u32) -> Option<Report> {
        // The best non-negated member of a group.
        let member = |group: &Vec<u32>| {
            group
                .iter()
                .map(|&r| best[r as usize])
                .filter(|b| b.epoch == epoch && !b.judgement.negated)
                .max_by_key(|b| (b.eff, std::cmp::Reverse(b.span.start)))
                .map(|b| (b.span, b.judgement, b.squeezed))
        };
        members_report(c, member)
    }
}

/// The finding of compound `c` when its groups hold; `member` gives a
/// group's present member (span, context, squeezed). The span covers the
/// members, the context is their union, and the severity is capped by the
/// compound's caps.
fn members_report(
    c: &lexicon::Compound,
    member: impl Fn(&Vec<u32>) -> Option<(Span, Judgement, bool)>,
) -> Option<Report> {
    let mut acc: Option<(Span, Judgement, bool)> = None;
    let mut add = |(span, j, sq): (Span, Judgement, bool)| {
        acc = Some(match acc {
            None => (span, j, sq),
            Some((sp, j0, sq0)) => (sp.union(&span), j0.union(j), sq0 || sq),
        });
    };
    for g in &c.require {
        add(member(g)?);
    }
    let mut n = 0;
    for g in &c.optional {
        if let Some(m) = member(g) {
            add(m);
            n += 1;
        }
    }
    if n < c.min_optional {
        return None;
    }
    let (span, judgement, squeezed) = acc?;
    let eff = cap(c.severity, &judgement, &c.caps);
    Some(Report { what: 0, span, judgement, eff, squeezed })
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
