//! The lexicon file format and its compilation: pattern expansion, phrase
//! variants (apostrophes, accents, misspellings) and the rule tables.
//!
//! Everything here runs once, when the check is built.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::BuildError;
use crate::normalize::View;
use crate::verdict::Severity;

use super::config::{CompoundConfig, HighRiskConfig, ResolvedCaps, RuleConfig, RuleSeverity, Scope};
use super::context::ContextLexicon;
use super::phrases::{FastMap, FastSet, Meaning, NumberRanges, PhraseSet, PhraseSetBuilder};

/// The built-in lexicon.
pub(crate) const BUILTIN_LEXICON: &str = include_str!("../data/high_risk.toml");

/// Most phrases one pattern may expand to.
pub(crate) const MAX_EXPANSION: usize = 20_000;

/// Longest phrase (in words) that gets misspelling variants.
pub(crate) const MAX_TYPO_WORDS: usize = 3;

/// Largest lexicon file read from `lexicon_files`.
const MAX_FILE_BYTES: u64 = 8 << 20;

/// Named sets for `{$name}` in patterns.
pub(crate) type Sets = BTreeMap<String, Vec<String>>;

/// One lexicon file (the built-in one or a `lexicon_files` entry).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LexiconFile {
    /// Named sets for `{$name}`.
    pub(crate) sets: Sets,
    /// Misspellings per word.
    pub(crate) typos: BTreeMap<String, Vec<String>>,
    /// Words whose bounded edit-distance variants are added as misspellings.
    pub(crate) typo_generation: TypoGeneration,
    /// Context triggers.
    pub(crate) context: ContextLexicon,
    /// Rules.
    pub(crate) rule: Vec<RuleConfig>,
    /// Compound rules.
    pub(crate) compound: Vec<CompoundConfig>,
}

/// Generated misspellings: every deletion of one letter and every swap of
/// two neighbouring letters, never touching the first letter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TypoGeneration {
    /// Words to vary.
    pub(crate) words: Vec<String>,
    /// Variants never to add (real words, measured false positives).
    pub(crate) exclude: Vec<String>,
    /// Shortest word varied.
    pub(crate) min_len: usize,
}

impl Default for TypoGeneration {
    fn default() -> TypoGeneration {
        TypoGeneration { words: Vec::new(), exclude: Vec::new(), min_len: 7 }
    }
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) id: Arc<str>,
    pub(crate) cat: u16,
    pub(crate) severity: RuleSeverity,
    pub(crate) sources: Vec<String>,
    /// Context caps (rule override, else category, else defaults).
    pub(crate) caps: ResolvedCaps,
    /// Member of a sentence-scoped compound.
    pub(crate) in_sentence_compound: bool,
}

/// A compiled compound rule.
#[derive(Debug, Clone)]
pub(crate) struct Compound {
    pub(crate) id: Arc<str>,
    pub(crate) cat: u16,
    pub(crate) severity: Severity,
    pub(crate) require: Vec<Vec<u32>>,
    pub(crate) optional: Vec<Vec<u32>>,
    pub(crate) min_optional: usize,
    pub(crate) scope: Scope,
    pub(crate) caps: ResolvedCaps,
}

/// A category.
#[derive(Debug, Clone)]
pub(crate) struct Category {
    pub(crate) name: Arc<str>,
}

/// The compiled lexicon.
#[derive(Debug, Clone)]
pub(crate) struct Lexicon {
    pub(crate) rules: Vec<Rule>,
    pub(crate) compounds: Vec<Compound>,
    pub(crate) categories: Vec<Category>,
    pub(crate) phrases: PhraseSet,
    pub(crate) context: Option<PhraseSet>,
    /// Some compound is sentence-scoped.
    pub(crate) has_sentence_compounds: bool,
}

/// Parses a lexicon file; `field` names it in errors.
pub(crate) fn parse_file(text: &str, field: &str) -> Result<LexiconFile, BuildError> {
    toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| {
            let (l, c) = crate::policy::line_col(text, s.start);
            format!(" (line {}, column {})", l.unwrap_or(0), c.unwrap_or(0))
        });
        BuildError::new(field, format!("{}{}", e.message(), at.unwrap_or_default()))
    })
}

/// [`normalise`] of an owned phrase: printable ASCII is lower-cased and its
/// space runs collapsed in place, without a second allocation.
pub(crate) fn normalise_owned(mut s: String) -> String {
    if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return normalise(&s);
    }
    s.make_ascii_lowercase();
    if s.starts_with(' ') || s.ends_with(' ') || s.contains("  ") {
        // Rare: rebuild with single spaces.
        let mut out = String::with_capacity(s.len());
        for w in s.split(' ').filter(|w| !w.is_empty()) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(w);
        }
        return out;
    }
    s
}

/// Normalises one phrase through the detection view.
pub(crate) fn normalise(s: &str) -> String {
    // Plain ASCII without control characters: the view is the lower-cased
    // text with space runs collapsed (the same result, without the view).
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        let mut out = String::with_capacity(s.len());
        for w in s.split(' ').filter(|w| !w.is_empty()) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.extend(w.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        }
        return out;
    }
    thread_local! {
        static VIEW: std::cell::RefCell<View> = std::cell::RefCell::new(View::new());
    }
    VIEW.with(|v| match v.try_borrow_mut() {
        Ok(mut v) => {
            v.build(s);
            v.as_str().trim().to_string()
        }
        Err(_) => {
            let mut v = View::new();
            v.build(s);
            v.as_str().trim().to_string()
        }
    })
}

/// Expands a pattern (`{a|b}`, `{$set}`, `{#1-9}`) into raw phrases.
pub(crate) fn expand(pattern: &str, sets: &Sets) -> Result<Vec<String>, String> {
    expand_depth(pattern, sets, 0)
}

/// [`expand`], where set values may themselves be patterns (at most 4 deep).
fn expand_depth(pattern: &str, sets: &Sets, depth: usize) -> Result<Vec<String>, String> {
    if depth > 4 {
        return Err("sets nest more than 4 deep".into());
    }
    let mut out = vec![String::new()];
    let mut rest = pattern;
    while !rest.is_empty() {
        let Some(open) = rest.find('{') else {
            out.iter_mut().for_each(|o| o.push_str(rest));
            break;
        };
        if rest[..open].contains('}') {
            return Err("unmatched '}'".into());
        }
        let lit = &rest[..open];
        out.iter_mut().for_each(|o| o.push_str(lit));
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err("unclosed '{'".into());
        };
        let inner = &after[..close];
        if inner.contains('{') {
            return Err("nested '{' is not supported".into());
        }
        let mut alts: Vec<String> = Vec::new();
        for alt in inner.split('|') {
            if let Some(name) = alt.strip_prefix('$') {
                let values = sets.get(name).ok_or_else(|| format!("unknown set `{name}`"))?;
                for v in values {
                    if v.contains('{') {
                        alts.extend(expand_depth(v, sets, depth + 1)?);
                    } else {
                        alts.push(v.clone());
                    }
                }
            } else if let Some(range) = alt.strip_prefix('#') {
                let (a, b) = range.split_once('-').ok_or("a number range is written {#from-to}")?;
                let a: u32 = a.trim().parse().map_err(|_| format!("bad number `{a}`"))?;
                let b: u32 = b.trim().parse().map_err(|_| format!("bad number `{b}`"))?;
                if a > b || b - a > 1000 {
                    return Err(format!("bad number range {a}-{b} (at most 1000 values)"));
                }
                alts.extend((a..=b).map(|n| n.to_string()));
            } else {
                alts.push(alt.to_string());
            }
        }
        if out.len().saturating_mul(alts.len()) > MAX_EXPANSION {
            return Err(format!("expands to more than {MAX_EXPANSION} phrases"));
        }
        let mut next = Vec::with_capacity(out.len() * alts.len());
        for o in &out {
            for a in &alts {
                let mut s = o.clone();
                s.push_str(a);
                next.push(s);
            }
        }
        out = next;
        rest = &after[close + 1..];
    }
    Ok(out)
}

/// Expands and normalises; an entry that normalises to nothing is an error.
pub(crate) fn expand_normalised(pattern: &str, sets: &Sets, field: &str) -> Result<Vec<String>, BuildError> {
    let raw = expand(pattern, sets).map_err(|e| BuildError::new(field, e))?;
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        let n = normalise_owned(r);
        if n.is_empty() {
            return Err(BuildError::new(field, "the phrase is empty after normalisation"));
        }
        out.push(n);
    }
    Ok(out)
}

/// Apostrophe and accent variants of a normalised phrase (itself included,
/// first).
fn spelling_variants(p: String, out: &mut Vec<String>) {
    let start = out.len();
    out.push(p);
    let p = &out[start];
    if !p.contains('\'') && p.is_ascii() {
        return;
    }
    let p = p.clone();
    if p.contains('\'') {
        out.push(p.replace('\'', "\u{2019}"));
        out.push(p.replace('\'', ""));
    }
    let end = out.len();
    for i in start..end {
        let s = &out[i];
        if s.chars().any(|c| matches!(c, 'á' | 'é' | 'í' | 'ó' | 'ú' | 'ü' | 'ñ')) {
            let plain: String = s
                .chars()
                .map(|c| match c {
                    'á' => 'a',
                    'é' => 'e',
                    'í' => 'i',
                    'ó' => 'o',
                    'ú' | 'ü' => 'u',
                    'ñ' => 'n',
                    c => c,
                })
                .collect();
            out.push(plain);
        }
    }
}

/// Misspelling variants of `p`: one word replaced at a time.
fn typo_variants(p: &str, typos: &FastMap<String, Vec<String>>, out: &mut Vec<String>) {
    let words: Vec<&str> = p.split(' ').collect();
    for (i, w) in words.iter().enumerate() {
        if let Some(vs) = typos.get(*w) {
            for v in vs {
                let mut s = String::with_capacity(p.len() + 4);
                for (j, w2) in words.iter().enumerate() {
                    if j > 0 {
                        s.push(' ');
                    }
                    s.push_str(if i == j { v } else { w2 });
                }
                out.push(s);
            }
        }
    }
}

/// Bounded edit-distance variants of `w` (see [`TypoGeneration`]).
pub(crate) fn generated_typos(w: &str, exclude: &BTreeSet<String>, min_len: usize) -> Vec<String> {
    let chars: Vec<char> = w.chars().collect();
    if chars.len() < min_len {
        return Vec::new();
    }
    let mut out = BTreeSet::new();
    for i in 1..chars.len() {
        let mut d = chars.clone();
        d.remove(i);
        out.insert(d.into_iter().collect::<String>());
        if i + 1 < chars.len() && chars[i] != chars[i + 1] {
            let mut t = chars.clone();
            t.swap(i, i + 1);
            out.insert(t.into_iter().collect::<String>());
        }
    }
    out.into_iter().filter(|v| v != w && v.chars().count() >= 5 && !exclude.contains(v)).collect()
}

/// One source of rules with the field path used in its errors.
struct Source {
    field: String,
    file: LexiconFile,
    rules: bool,
}

/// Builds the lexicon from a configuration.
pub(crate) fn compile(config: &HighRiskConfig) -> Result<Lexicon, BuildError> {
    // Gather the sources in order: built-in, files, inline.
    let mut sources = Vec::new();
    if config.builtin_rules || config.builtin_context {
        let mut file = parse_file(BUILTIN_LEXICON, "high_risk.builtin_rules")?;
        if !config.builtin_rules {
            file.rule.clear();
            file.compound.clear();
        }
        if !config.builtin_context {
            file.context = ContextLexicon::default();
        }
        sources.push(Source { field: "high_risk.builtin_rules".into(), file, rules: config.builtin_rules });
    }
    for (i, path) in config.lexicon_files.iter().enumerate() {
        let field = format!("high_risk.lexicon_files[{i}]");
        let meta = std::fs::metadata(path)
            .map_err(|e| BuildError::new(&field, format!("cannot read {}: {e}", path.display())))?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(BuildError::new(&field, format!("the file is larger than {MAX_FILE_BYTES} bytes")));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| BuildError::new(&field, format!("cannot read {}: {e}", path.display())))?;
        let file = parse_file(&text, &field)?;
        sources.push(Source { field, file, rules: true });
    }

    // Sets, typos and context from every file.
    let mut sets = Sets::new();
    let mut typo_lists: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut context = ContextLexicon::default();
    for src in &mut sources {
        for (name, values) in std::mem::take(&mut src.file.sets) {
            if sets.contains_key(&name) {
                return Err(BuildError::new(format!("{}.sets.{name}", src.field), "this set is already defined"));
            }
            sets.insert(name, values);
        }
        let gen_field = format!("{}.typo_generation", src.field);
        let tg = std::mem::take(&mut src.file.typo_generation);
        let exclude: BTreeSet<String> = tg.exclude.iter().map(|w| normalise(w)).collect();
        if config.typos {
            for (word, list) in std::mem::take(&mut src.file.typos) {
                let key = normalise(&word);
                if key.is_empty() || key.contains(' ') {
                    return Err(BuildError::new(
                        format!("{}.typos.{word}", src.field),
                        "a misspelt word must be one word",
                    ));
                }
                let entry = typo_lists.entry(key).or_default();
                for v in list {
                    let v = normalise(&v);
                    if v.is_empty() {
                        return Err(BuildError::new(format!("{}.typos.{word}", src.field), "empty misspelling"));
                    }
                    if !exclude.contains(&v) {
                        entry.insert(v);
                    }
                }
            }
            for (i, w) in tg.words.iter().enumerate() {
                let key = normalise(w);
                if key.is_empty() || key.contains(' ') {
                    return Err(BuildError::new(format!("{gen_field}.words[{i}]"), "must be one word"));
                }
                let generated = generated_typos(&key, &exclude, tg.min_len.max(4));
                typo_lists.entry(key).or_default().extend(generated);
            }
        }
        context.extend(std::mem::take(&mut src.file.context));
    }
    let typos: FastMap<String, Vec<String>> =
        typo_lists.into_iter().map(|(k, v)| (k, v.into_iter().collect())).collect();

    // Rules and compounds with their error paths.
    let mut rule_cfgs: Vec<(String, &RuleConfig)> = Vec::new();
    let mut compound_cfgs: Vec<(String, &CompoundConfig)> = Vec::new();
    for src in &sources {
        if !src.rules {
            continue;
        }
        for (i, r) in src.file.rule.iter().enumerate() {
            rule_cfgs.push((format!("{}.rule[{i}]", src.field), r));
        }
        for (i, c) in src.file.compound.iter().enumerate() {
            compound_cfgs.push((format!("{}.compound[{i}]", src.field), c));
        }
    }
    for (i, r) in config.rules.iter().enumerate() {
        rule_cfgs.push((format!("high_risk.rules[{i}]"), r));
    }
    for (i, c) in config.compounds.iter().enumerate() {
        compound_cfgs.push((format!("high_risk.compounds[{i}]"), c));
    }

    // Ids: unique across rules and compounds; disabled ids must exist.
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (field, id) in rule_cfgs
        .iter()
        .map(|(f, r)| (f.as_str(), r.id.as_str()))
        .chain(compound_cfgs.iter().map(|(f, c)| (f.as_str(), c.id.as_str())))
    {
        if let Some(first) = seen.insert(id, field) {
            return Err(BuildError::new(
                format!("{field}.id"),
                format!("duplicate rule id `{id}` (first at `{first}`)"),
            ));
        }
    }
    let mut disabled: BTreeSet<&str> = BTreeSet::new();
    for (i, id) in config.disabled_rules.iter().enumerate() {
        if !seen.contains_key(id.as_str()) {
            return Err(BuildError::new(format!("high_risk.disabled_rules[{i}]"), format!("unknown rule id `{id}`")));
        }
        disabled.insert(id);
    }
    // Built-in overrides whose rule is not loaded (builtin_rules = false)
    // are unused; any other unknown id is an error.
    let builtin_overrides = super::config::ContextConfig::default().rules;
    for id in config.context.rules.keys() {
        if !seen.contains_key(id.as_str()) && !builtin_overrides.contains_key(id) {
            return Err(BuildError::new(format!("high_risk.context.rules.{id}"), format!("unknown rule id `{id}`")));
        }
    }

    let mut categories: Vec<Category> = Vec::new();
    let mut cat_index = |name: &str| -> u16 {
        if let Some(i) = categories.iter().position(|c| &*c.name == name) {
            return i as u16;
        }
        categories.push(Category { name: name.into() });
        (categories.len() - 1) as u16
    };

    let mut rules = Vec::new();
    let mut rule_ids: HashMap<&str, u32> = HashMap::new();
    let mut builder = PhraseSetBuilder::default();
    let mut variants = Vec::new();
    let mut spelled = Vec::new();
    for (field, r) in &rule_cfgs {
        let category = category_of(field, &r.id, r.category.as_deref())?;
        if disabled.contains(r.id.as_str()) {
            continue;
        }
        if r.phrases.is_empty() && r.patterns.is_empty() {
            return Err(BuildError::new(format!("{field}.phrases"), "a rule needs at least one phrase or pattern"));
        }
        let number = number_ranges(field, &r.number)?;
        let tag = rules.len() as u32;
        let cat = cat_index(category);
        rules.push(Rule {
            id: r.id.as_str().into(),
            cat,
            severity: r.severity,
            sources: r.sources.clone(),
            caps: config.context.resolve(category, &r.id),
            in_sentence_compound: false,
        });
        rule_ids.insert(&r.id, tag);
        let entries = r
            .phrases
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("{field}.phrases[{i}]"), p, false))
            .chain(r.patterns.iter().enumerate().map(|(i, p)| (format!("{field}.patterns[{i}]"), p, true)));
        for (path, entry, is_pattern) in entries {
            let base = if is_pattern {
                expand_normalised(entry, &sets, &path)?
            } else if entry.contains(['{', '}']) {
                return Err(BuildError::new(
                    path,
                    "a literal phrase cannot hold `{` or `}` (templates go in `patterns`)",
                ));
            } else {
                let n = normalise(entry);
                if n.is_empty() {
                    return Err(BuildError::new(path, "the phrase is empty after normalisation"));
                }
                vec![n]
            };
            for p in base {
                variants.clear();
                spelled.clear();
                // Misspellings only for short core phrases (at most
                // MAX_TYPO_WORDS words): long templated phrases would
                // multiply the automaton for little recall.
                if r.typos && !typos.is_empty() && p.split(' ').count() <= MAX_TYPO_WORDS {
                    typo_variants(&p, &typos, &mut variants);
                }
                spelling_variants(p, &mut spelled);
                for v in variants.drain(..) {
                    spelling_variants(v, &mut spelled);
                }
                for v in spelled.drain(..) {
                    builder.add(
                        v,
                        Meaning {
                            number,
                            rescan: r.severity == RuleSeverity::Exclude,
                            ..Meaning::whole(tag, r.boundary)
                        },
                    );
                }
            }
            if builder.len() > config.max_phrases {
                return Err(BuildError::new(
                    path,
                    format!("the lexicon has more than {} phrases (high_risk.max_phrases)", config.max_phrases),
                ));
            }
        }
    }

    let mut compounds = Vec::new();
    for (field, c) in &compound_cfgs {
        let category = category_of(field, &c.id, c.category.as_deref())?;
        if disabled.contains(c.id.as_str()) {
            continue;
        }
        let Some(severity) = c.severity.reported() else {
            return Err(BuildError::new(
                format!("{field}.severity"),
                "a compound must be emergency, urgent or advisory",
            ));
        };
        if c.require.is_empty() && c.optional.is_empty() {
            return Err(BuildError::new(format!("{field}.require"), "a compound needs at least one group"));
        }
        let resolve = |groups: &[Vec<String>], name: &str| -> Result<Option<Vec<Vec<u32>>>, BuildError> {
            let mut out = Vec::new();
            for (g, group) in groups.iter().enumerate() {
                if group.is_empty() {
                    return Err(BuildError::new(format!("{field}.{name}[{g}]"), "empty group"));
                }
                let mut ids = Vec::new();
                for (k, id) in group.iter().enumerate() {
                    match rule_ids.get(id.as_str()) {
                        Some(&r) => ids.push(r),
                        None if disabled.contains(id.as_str()) => {}
                        None => {
                            return Err(BuildError::new(
                                format!("{field}.{name}[{g}][{k}]"),
                                format!("unknown rule id `{id}` (compounds refer to rules, not compounds)"),
                            ));
                        }
                    }
                }
                if ids.is_empty() {
                    // Every member is disabled: the group can never hold.
                    return Ok(None);
                }
                out.push(ids);
            }
            Ok(Some(out))
        };
        let Some(require) = resolve(&c.require, "require")? else { continue };
        let Some(optional) = resolve(&c.optional, "optional")? else { continue };
        let min_optional = c.min_optional.unwrap_or(usize::from(!optional.is_empty()));
        if min_optional > optional.len() {
            return Err(BuildError::new(
                format!("{field}.min_optional"),
                format!("needs {min_optional} of {} optional groups", optional.len()),
            ));
        }
        let cat = cat_index(category);
        if c.scope == Scope::Sentence {
            for &r in require.iter().chain(&optional).flatten() {
                rules[r as usize].in_sentence_compound = true;
            }
        }
        compounds.push(Compound {
            id: c.id.as_str().into(),
            cat,
            severity,
            require,
            optional,
            min_optional,
            scope: c.scope,
            caps: config.context.resolve(category, &c.id),
        });
    }

    // Red flags that are negated function ("not breathing", "hasn't moved")
    // are matched whole before negation logic: they become pseudo-triggers,
    // so their "not" never negates a later finding.
    let mut negations = Vec::new();
    for (i, entry) in context.negation.iter().enumerate() {
        negations.extend(expand_normalised(entry, &sets, &format!("high_risk.context.negation[{i}]"))?);
    }
    let negations: FastSet<&str> = negations.iter().map(String::as_str).collect();
    let extra_pseudo: Vec<String> = builder
        .phrases()
        .iter()
        .filter(|p| p.match_indices(' ').any(|(i, _)| negations.contains(&p[..i])))
        .cloned()
        .collect();
    // A contained phrase lends its meaning to a longer one across
    // categories; within a category the longer phrase is a deliberate
    // refinement ("had a stroke" is history, "stroke of luck" an idiom),
    // unless the longer phrase is only a compound signal: a signal must not
    // hide a finding of its own category. A phrase that begins an exclusion
    // of its category ("end it" in "end it with him") is not lent inside a
    // signal, where the exclusion could no longer mask it; nor is a phrase
    // that an exclusion of its category inside the longer phrase covers
    // ("bleed out" in "how long it takes to bleed out", where "takes to
    // bleed out" is excluded).
    let mut excluded_starts: FastSet<(u16, &str)> = FastSet::default();
    let mut exclusions: FastSet<(u16, &str)> = FastSet::default();
    for (p, ms) in builder.phrases().iter().zip(builder.meanings()) {
        for m in ms.iter().filter(|m| rules[m.tag as usize].severity == RuleSeverity::Exclude) {
            let cat = rules[m.tag as usize].cat;
            exclusions.insert((cat, p.as_str()));
            excluded_starts.insert((cat, p.as_str()));
            for (i, _) in p.match_indices(' ') {
                excluded_starts.insert((cat, &p[..i]));
            }
        }
    }
    // Whether an exclusion of `cat` lies inside `p` over position `a` (it
    // would have masked the contained phrase starting there).
    let masked_inside = |cat: u16, p: &str, a: usize| {
        let starts = std::iter::once(0).chain(p.match_indices(' ').map(|(i, _)| i + 1)).filter(|&s| s <= a);
        starts.into_iter().any(|s| {
            p.match_indices(' ')
                .map(|(i, _)| i)
                .chain(std::iter::once(p.len()))
                .filter(|&e| e > a)
                .any(|e| exclusions.contains(&(cat, &p[s..e])))
        })
    };
    let lend = |existing: &[Meaning], m: &Meaning, p: &str, a: usize, b: usize| {
        let plain = |m: &Meaning| !m.rescan && m.number.is_none();
        let cat = rules[m.tag as usize].cat;
        let signal = |e: &Meaning| rules[e.tag as usize].severity == RuleSeverity::Signal;
        let sub = &p[a..b];
        plain(m)
            && existing.iter().all(|e| {
                plain(e) && (rules[e.tag as usize].cat != cat || (signal(e) && !excluded_starts.contains(&(cat, sub))))
            })
            && !masked_inside(cat, p, a)
    };
    // Only the tables are borrowed by `lend`; the builder is changed after.
    let additions = builder.sub_phrase_meanings(lend);
    builder.add_meanings(additions);
    let phrases = builder.build("high_risk")?;
    let context = context.compile(&sets, "high_risk", &extra_pseudo)?;
    let has_sentence_compounds = compounds.iter().any(|c| c.scope == Scope::Sentence);
    Ok(Lexicon { rules, compounds, categories, phrases, context, has_sentence_compounds })
}

/// The number ranges of a rule, checked.
fn number_ranges(field: &str, ranges: &[[u32; 2]]) -> Result<Option<NumberRanges>, BuildError> {
    if ranges.is_empty() {
        return Ok(None);
    }
    if ranges.len() > 4 {
        return Err(BuildError::new(format!("{field}.number"), "at most 4 ranges"));
    }
    let mut nr = NumberRanges { ranges: [(0, 0); 4], len: ranges.len() as u8 };
    for (i, [a, b]) in ranges.iter().enumerate() {
        if a > b || *b > 9_999_999 {
            return Err(BuildError::new(format!("{field}.number[{i}]"), format!("bad range {a}..{b}")));
        }
        nr.ranges[i] = (*a, *b);
    }
    Ok(Some(nr))
}

/// The category of a rule or compound: the id's prefix, which an explicit
/// category must equal.
fn category_of<'a>(field: &str, id: &'a str, explicit: Option<&'a str>) -> Result<&'a str, BuildError> {
    let Some((prefix, name)) = id.split_once('.') else {
        return Err(BuildError::new(format!("{field}.id"), format!("rule id `{id}` must be `<category>.<name>`")));
    };
    if prefix.is_empty() || name.is_empty() {
        return Err(BuildError::new(format!("{field}.id"), format!("rule id `{id}` must be `<category>.<name>`")));
    }
    match explicit {
        Some(c) if c != prefix => Err(BuildError::new(
            format!("{field}.category"),
            format!("category `{c}` differs from the id's prefix `{prefix}`"),
        )),
        _ => Ok(prefix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_expand_alternations_sets_and_ranges() {
        let mut sets = Sets::new();
        sets.insert("poss".into(), vec!["my".into(), "his".into()]);
        let mut v = expand("{$poss} face {is |}droop{ing|y}", &sets).unwrap();
        v.sort();
        assert_eq!(v.len(), 8);
        assert!(v.contains(&"my face is drooping".to_string()));
        assert!(v.contains(&"his face droopy".to_string()));
        assert_eq!(expand("sugar is {#38-40}", &sets).unwrap(), ["sugar is 38", "sugar is 39", "sugar is 40"]);
        assert!(expand("{a|b", &sets).is_err());
        assert!(expand("{$nope}", &sets).unwrap_err().contains("nope"));
        assert!(expand("{#5-1}", &sets).is_err());
    }

    #[test]
    fn variants_cover_apostrophes_and_accents() {
        let mut out = Vec::new();
        spelling_variants("can't breathe".to_string(), &mut out);
        assert_eq!(out, ["can't breathe", "can\u{2019}t breathe", "cant breathe"]);
        out.clear();
        spelling_variants("cara caída".to_string(), &mut out);
        assert_eq!(out, ["cara caída", "cara caida"]);
    }

    #[test]
    fn the_ascii_shortcut_equals_the_view() {
        for p in ["  Can't   BREATHE ", "chest pain", "a  b", "X", "sugar is 38", "Caída", "tab\there"] {
            let mut v = View::new();
            v.build(p);
            assert_eq!(normalise(p), v.as_str().trim(), "{p:?}");
            assert_eq!(normalise_owned(p.to_string()), normalise(p), "{p:?}");
        }
    }

    #[test]
    fn generated_typos_keep_the_first_letter() {
        let v = generated_typos("seizure", &BTreeSet::new(), 7);
        assert!(v.contains(&"siezure".to_string()));
        assert!(v.contains(&"seizre".to_string()));
        assert!(v.iter().all(|w| w.starts_with('s')));
        assert!(generated_typos("stroke", &BTreeSet::new(), 7).is_empty());
    }
}
