//! The `sanitizer` check: the text that is forwarded, cleaned of what no
//! reader can see, and flags for spam and code payloads.
//!
//! It runs first, on requests and on responses, and does two jobs.
//!
//! **It produces the forwarded text.** Characters that hide or reorder text
//! are removed, and the text is put in canonical composition (NFC):
//!
//! | class | rule id | what | default |
//! |---|---|---|---|
//! | invisible | `sanitizer.invisible` | zero-width space and joiners, word joiner, invisible operators, BOM, soft hyphen, fillers, stray variation selectors | strip |
//! | bidi controls | `sanitizer.bidi_control` | embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069); LRM/RLM/ALM outside right-to-left text | strip |
//! | control characters | `sanitizer.control` | C0/C1 controls other than tab, newline and carriage return (vertical tab, form feed and NEL become a newline) | strip |
//! | tag characters | `sanitizer.tag_characters` | Unicode tag characters (U+E0000–U+E007F) outside emoji flag sequences: hidden ASCII ("ASCII smuggling") | strip |
//! | composition | `sanitizer.nfc` | decomposed text recomposed (NFC, never NFKC) | on |
//!
//! Legitimate text passes unchanged (borrowed, no finding): emoji ZWJ
//! sequences (👩‍⚕️, 👨‍👩‍👧), skin tones, flags including the subdivision
//! flags made of tag characters (🏴󠁧󠁢󠁳󠁣󠁴󠁿), VS16 after an emoji and keycaps, ZWJ
//! and ZWNJ between letters of scripts that need them (Persian, Arabic,
//! Indic), one variation selector after a CJK ideograph or symbol, LRM/RLM
//! in right-to-left text, CJK, Arabic, Hebrew, accented Spanish and French.
//! Compatibility characters (fullwidth punctuation, ligatures, superscripts)
//! reach the model as the user wrote them: compatibility folding belongs to
//! the detection [`View`].
//!
//! Hidden tag-character text is also decoded into the view, so every other
//! check sees it (with `View::is_hidden` to qualify what it finds there);
//! this check reports it and removes it from the forwarded text.
//!
//! **It flags (and by policy blocks) abuse**, reading the detection view:
//!
//! | class | rule id | what | default |
//! |---|---|---|---|
//! | confusables | `sanitizer.confusables` | words mixing Latin letters with Greek/Cyrillic/Armenian look-alikes (the view folds them) | flag |
//! | repetition | `sanitizer.repetition.char`, `sanitizer.repetition.phrase` | one character repeated more than `max_char_run` (256) times (whitespace counted in the original), a word or phrase of up to `max_phrase_words` (8) words repeated more than `max_phrase_repeats` (16) times in a row | flag |
//! | code payloads | `sanitizer.code.script_tag`, `.javascript_url`, `.event_handler`, `.html_embed`, `.sql_injection`, `.shell`, `.template_injection` | payload shapes, as regular expressions on the view (see `src/checks/data/sanitizer_code.toml`) | block |
//!
//! Code rules describe payload *shapes*, not topics: "is SELECT safe for my
//! diet app?", a plain `SELECT * FROM meals` or "should I drop table salt?"
//! match nothing and pass under either setting; a `<script>` element, a
//! `' OR '1'='1` tautology or `curl … | sh` is blocked by default, because a
//! health chat has no use for them and they can reach logs, databases and
//! HTML views downstream. Set `code.action = "flag"` to only report them.
//! Repetition is flagged, not blocked, by default: a distressed user may
//! type "help" thirty times.
//!
//! **Messages over the size limit** are blocked by the guardrail itself,
//! before any check runs, with the finding `sanitizer.too_long` (category
//! `limit`); see [`Limits::max_input_bytes`](crate::Limits). This check does
//! not repeat that.
//!
//! Actions: `off` (ignore), `flag` (finding only, text unchanged), `strip`
//! (remove from the forwarded text, with a finding; for repetition: keep the
//! first `max_*` repeats), `block` (finding and block). `strip` is not
//! available for confusables and code payloads.
//!
//! Cost: one pass over the original (skipped for plain printable ASCII), one
//! pass over the view's words for repetition, one `RegexSet` pass over the
//! view for code. All linear in the message length.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use regex::RegexBuilder;
// The meta regex engine itself (what `regex::Regex` wraps), because it
// reports its heap: `Check::memory_usage` counts the compiled rules.
use regex_automata::meta::Regex;
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind, PatternSet};
use serde::{Deserialize, Serialize};
use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use crate::check::{Check, CheckError, Context, Stage, Stages};
use crate::error::BuildError;
use crate::normalize::{self, View, is_emoji_tag_sequence, is_invisible, is_tag};
use crate::verdict::{Finding, Qualifier, Qualifiers, Severity, Span};

/// The built-in code payload rules.
pub const BUILTIN_CODE_RULES: &str = include_str!("data/sanitizer_code.toml");

/// Largest compiled size of one code rule (bytes of regex program).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// What the sanitizer does with one class of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Ignore: no finding, text unchanged.
    Off,
    /// Report a finding; forward the text unchanged.
    Flag,
    /// Remove it from the forwarded text and report a finding.
    Strip,
    /// Report a finding and block the message.
    Block,
}

impl Action {
    fn reports(self) -> bool {
        self != Action::Off
    }
}

/// Repetition spam settings (`[sanitizer.repetition]`).
///
/// | field | default | meaning |
/// |---|---|---|
/// | `action` | `flag` | `off`, `flag`, `strip` (keep the first `max_*` repeats) or `block` |
/// | `max_char_run` | 256 | longest allowed run of one character (in the view; whitespace runs counted in the original) |
/// | `max_phrase_repeats` | 16 | most allowed consecutive repeats of one word or phrase |
/// | `max_phrase_words` | 8 | longest phrase (in words) whose repeats are counted |
///
/// A phrase counts only when it has a word with a letter or of three or
/// more characters, so tables of small numbers ("0 0 0 0 …") are not spam.
/// The defaults only flag: before switching to `block`, consider raising
/// `max_phrase_repeats` (a distressed user may type "help" twenty times).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepetitionConfig {
    /// What to do with spam.
    pub action: Action,
    /// Longest allowed run of one character.
    pub max_char_run: usize,
    /// Most allowed consecutive repeats of one word or phrase.
    pub max_phrase_repeats: usize,
    /// Longest phrase (in words) whose repeats are counted.
    pub max_phrase_words: usize,
}

impl Default for RepetitionConfig {
    fn default() -> RepetitionConfig {
        RepetitionConfig { action: Action::Flag, max_char_run: 256, max_phrase_repeats: 16, max_phrase_words: 8 }
    }
}

/// One code payload rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRule {
    /// Rule id used in findings (`sanitizer.code.…` by convention).
    pub id: String,
    /// What the rule catches (documentation only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Regular expressions matched against the detection view (lower case,
    /// folded); any one matching fires the rule.
    pub patterns: Vec<String>,
    /// Action for this rule, overriding `code.action`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
}

/// Code payload settings (`[sanitizer.code]`).
///
/// | field | default | meaning |
/// |---|---|---|
/// | `action` | `block` | `off`, `flag` or `block` for every rule without its own action |
/// | `builtin_rules` | `true` | keep the embedded rules (`src/checks/data/sanitizer_code.toml`) |
/// | `rules` | `[]` | extra rules inline |
/// | `rules_files` | `[]` | extra rule files (TOML with `[[rules]]`; absolute or relative to the working directory) |
/// | `disabled_rules` | `[]` | rule ids to drop |
/// | `rule_actions` | `{}` | per-rule action overrides (`{"sanitizer.code.shell" = "flag"}`) |
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodeConfig {
    /// Action for rules without their own.
    pub action: Action,
    /// Keep the embedded rules.
    pub builtin_rules: bool,
    /// Extra rules.
    pub rules: Vec<CodeRule>,
    /// Extra rule files.
    pub rules_files: Vec<String>,
    /// Rule ids to drop.
    pub disabled_rules: Vec<String>,
    /// Per-rule action overrides.
    pub rule_actions: BTreeMap<String, Action>,
}

impl Default for CodeConfig {
    fn default() -> CodeConfig {
        CodeConfig {
            action: Action::Block,
            builtin_rules: true,
            rules: Vec::new(),
            rules_files: Vec::new(),
            disabled_rules: Vec::new(),
            rule_actions: BTreeMap::new(),
        }
    }
}

/// Configuration of the [`Sanitizer`] check (`[sanitizer]` in a policy).
///
/// | field | default | meaning |
/// |---|---|---|
/// | `invisible` | `strip` | zero-width and other invisible format characters |
/// | `bidi_controls` | `strip` | bidi embeddings, overrides, isolates (and LRM/RLM/ALM outside right-to-left text) |
/// | `control_chars` | `strip` | control characters other than tab, newline, carriage return |
/// | `tag_characters` | `strip` | Unicode tag characters outside emoji flags (hidden ASCII) |
/// | `nfc` | `true` | recompose the forwarded text (NFC) |
/// | `confusables` | `flag` | words mixing Latin with look-alike letters (`off`, `flag` or `block`) |
/// | `repetition` | see [`RepetitionConfig`] | spam |
/// | `code` | see [`CodeConfig`] | code and markup payloads |
///
/// Every action is `off`, `flag`, `strip` or `block` (see [`Action`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SanitizerConfig {
    /// Invisible format characters.
    pub invisible: Action,
    /// Bidi control characters.
    pub bidi_controls: Action,
    /// Control characters.
    pub control_chars: Action,
    /// Unicode tag characters.
    pub tag_characters: Action,
    /// Canonical composition of the forwarded text.
    pub nfc: bool,
    /// Mixed-script words with look-alike letters.
    pub confusables: Action,
    /// Repetition spam.
    pub repetition: RepetitionConfig,
    /// Code and markup payloads.
    pub code: CodeConfig,
}

impl Default for SanitizerConfig {
    fn default() -> SanitizerConfig {
        SanitizerConfig {
            invisible: Action::Strip,
            bidi_controls: Action::Strip,
            control_chars: Action::Strip,
            tag_characters: Action::Strip,
            nfc: true,
            confusables: Action::Flag,
            repetition: RepetitionConfig::default(),
            code: CodeConfig::default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rules: Vec<CodeRule>,
}

/// A compiled code rule.
#[derive(Debug)]
struct CompiledRule {
    id: Arc<str>,
    regex: Regex,
    action: Action,
}

/// The classes of character changes, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CharClass {
    Invisible,
    Bidi,
    Control,
    Tag,
}

const CHAR_CLASSES: [CharClass; 4] = [CharClass::Invisible, CharClass::Bidi, CharClass::Control, CharClass::Tag];

/// Rule ids and categories, shared so findings do not allocate.
#[derive(Debug)]
struct Names {
    invisible: Arc<str>,
    bidi: Arc<str>,
    control: Arc<str>,
    tag: Arc<str>,
    nfc: Arc<str>,
    confusables: Arc<str>,
    rep_char: Arc<str>,
    rep_phrase: Arc<str>,
    cat_obfuscation: Arc<str>,
    cat_malformed: Arc<str>,
    cat_hidden: Arc<str>,
    cat_normalization: Arc<str>,
    cat_spam: Arc<str>,
    cat_code: Arc<str>,
}

impl Names {
    fn new() -> Names {
        Names {
            invisible: "sanitizer.invisible".into(),
            bidi: "sanitizer.bidi_control".into(),
            control: "sanitizer.control".into(),
            tag: "sanitizer.tag_characters".into(),
            nfc: "sanitizer.nfc".into(),
            confusables: "sanitizer.confusables".into(),
            rep_char: "sanitizer.repetition.char".into(),
            rep_phrase: "sanitizer.repetition.phrase".into(),
            cat_obfuscation: "obfuscation".into(),
            cat_malformed: "malformed".into(),
            cat_hidden: "hidden_text".into(),
            cat_normalization: "normalization".into(),
            cat_spam: "spam".into(),
            cat_code: "code".into(),
        }
    }
}

/// The `sanitizer` check; see the [module docs](self).
#[derive(Debug)]
pub struct Sanitizer {
    cfg: SanitizerConfig,
    set: Option<Regex>,
    rules: Vec<CompiledRule>,
    names: Names,
}

impl Sanitizer {
    /// Builds the check from its configuration.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the field (`sanitizer.code.rules[2].patterns[0]`,
    /// ...) for an invalid pattern, a duplicate or unknown rule id, an
    /// unreadable rule file, an unsupported action or a threshold out of
    /// range.
    pub fn new(cfg: &SanitizerConfig) -> Result<Sanitizer, BuildError> {
        if cfg.confusables == Action::Strip {
            return Err(BuildError::new("sanitizer.confusables", "`strip` is not supported; use `flag` or `block`"));
        }
        let rep = &cfg.repetition;
        if rep.max_char_run < 2 {
            return Err(BuildError::new("sanitizer.repetition.max_char_run", "must be at least 2"));
        }
        if rep.max_phrase_repeats < 2 {
            return Err(BuildError::new("sanitizer.repetition.max_phrase_repeats", "must be at least 2"));
        }
        if !(1..=32).contains(&rep.max_phrase_words) {
            return Err(BuildError::new("sanitizer.repetition.max_phrase_words", "must be between 1 and 32"));
        }
        let (set, rules) = compile_code(&cfg.code)?;
        Ok(Sanitizer { cfg: cfg.clone(), set, rules, names: Names::new() })
    }

    fn class_action(&self, class: CharClass) -> Action {
        match class {
            CharClass::Invisible => self.cfg.invisible,
            CharClass::Bidi => self.cfg.bidi_controls,
            CharClass::Control => self.cfg.control_chars,
            CharClass::Tag => self.cfg.tag_characters,
        }
    }

    fn class_names(&self, class: CharClass) -> (&Arc<str>, &Arc<str>, Severity) {
        let n = &self.names;
        match class {
            CharClass::Invisible => (&n.invisible, &n.cat_obfuscation, Severity::Warning),
            CharClass::Bidi => (&n.bidi, &n.cat_obfuscation, Severity::Warning),
            CharClass::Control => (&n.control, &n.cat_malformed, Severity::Warning),
            CharClass::Tag => (&n.tag, &n.cat_hidden, Severity::High),
        }
    }

    /// Reports a finding and applies the action's effect on the decision.
    fn act(&self, cx: &mut Context<'_>, action: Action, finding: Finding) {
        if !action.reports() {
            return;
        }
        cx.push_finding(finding);
        if action == Action::Block {
            let text = match cx.stage() {
                Stage::Request => cx.locale().request_blocked(),
                Stage::Response => cx.locale().response_blocked(),
            };
            cx.block(text.to_string());
        }
    }

    fn finding(
        &self,
        cx: &Context<'_>,
        rule: &Arc<str>,
        category: &Arc<str>,
        severity: Severity,
        span: Span,
    ) -> Finding {
        Finding::new(cx.check_id().clone(), rule.clone(), category.clone(), severity, span)
    }
}

/// Compiles the code rules: built-in, files, inline; drops disabled ones.
fn compile_code(cfg: &CodeConfig) -> Result<(Option<Regex>, Vec<CompiledRule>), BuildError> {
    if cfg.action == Action::Strip {
        return Err(BuildError::new("sanitizer.code.action", "`strip` is not supported; use `flag` or `block`"));
    }
    // (rule, field path of the rule)
    let mut all: Vec<(CodeRule, String)> = Vec::new();
    if cfg.builtin_rules {
        let file: RuleFile = toml::from_str(BUILTIN_CODE_RULES)
            .map_err(|e| BuildError::new("sanitizer.code.builtin_rules", format!("built-in rules: {}", e.message())))?;
        all.extend(
            file.rules.into_iter().enumerate().map(|(i, r)| (r, format!("<builtin sanitizer_code.toml>.rules[{i}]"))),
        );
    }
    for (f, path) in cfg.rules_files.iter().enumerate() {
        let field = format!("sanitizer.code.rules_files[{f}]");
        let text = std::fs::read_to_string(path).map_err(|e| BuildError::new(&field, format!("cannot read: {e}")))?;
        let file: RuleFile = toml::from_str(&text).map_err(|e| BuildError::new(&field, e.message().to_string()))?;
        all.extend(file.rules.into_iter().enumerate().map(|(i, r)| (r, format!("{field}.rules[{i}]"))));
    }
    all.extend(cfg.rules.iter().cloned().enumerate().map(|(i, r)| (r, format!("sanitizer.code.rules[{i}]"))));

    let mut seen = BTreeSet::new();
    for (rule, field) in &all {
        if rule.id.trim().is_empty() {
            return Err(BuildError::new(format!("{field}.id"), "must not be empty"));
        }
        if !seen.insert(rule.id.as_str()) {
            return Err(BuildError::new(format!("{field}.id"), format!("rule id `{}` appears twice", rule.id)));
        }
        if rule.patterns.is_empty() {
            return Err(BuildError::new(format!("{field}.patterns"), "a rule needs at least one pattern"));
        }
        if rule.action == Some(Action::Strip) {
            return Err(BuildError::new(format!("{field}.action"), "`strip` is not supported; use `flag` or `block`"));
        }
    }
    for (i, id) in cfg.disabled_rules.iter().enumerate() {
        if !seen.contains(id.as_str()) {
            return Err(BuildError::new(format!("sanitizer.code.disabled_rules[{i}]"), format!("unknown rule `{id}`")));
        }
    }
    for (id, action) in &cfg.rule_actions {
        if !seen.contains(id.as_str()) {
            return Err(BuildError::new(format!("sanitizer.code.rule_actions.{id}"), "unknown rule"));
        }
        if *action == Action::Strip {
            return Err(BuildError::new(
                format!("sanitizer.code.rule_actions.{id}"),
                "`strip` is not supported; use `flag` or `block`",
            ));
        }
    }

    let mut rules = Vec::new();
    let mut sources = Vec::new();
    for (rule, field) in all {
        if cfg.disabled_rules.contains(&rule.id) {
            continue;
        }
        let action = cfg.rule_actions.get(&rule.id).copied().or(rule.action).unwrap_or(cfg.action);
        if action == Action::Off {
            continue;
        }
        for (j, p) in rule.patterns.iter().enumerate() {
            RegexBuilder::new(p)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| BuildError::new(format!("{field}.patterns[{j}]"), regex_error(&e)))?;
        }
        let joined = rule.patterns.iter().map(|p| format!("(?:{p})")).collect::<Vec<_>>().join("|");
        let regex = meta_regex(MatchKind::LeftmostFirst, REGEX_SIZE_LIMIT * rule.patterns.len().max(1))
            .build(&joined)
            .map_err(|e| BuildError::new(format!("{field}.patterns"), meta_error(&e)))?;
        sources.push(joined);
        rules.push(CompiledRule { id: rule.id.as_str().into(), regex, action });
    }
    if rules.is_empty() {
        return Ok((None, rules));
    }
    let set = meta_regex(MatchKind::All, REGEX_SIZE_LIMIT * sources.len())
        .build_many(&sources)
        .map_err(|e| BuildError::new("sanitizer.code", meta_error(&e)))?;
    Ok((Some(set), rules))
}

/// A builder with the settings `regex` uses for `&str` patterns (sets:
/// `MatchKind::All`, no captures).
fn meta_regex(kind: MatchKind, size_limit: usize) -> regex_automata::meta::Builder {
    let mut config = Regex::config().match_kind(kind).utf8_empty(true).nfa_size_limit(Some(size_limit));
    if kind == MatchKind::All {
        config = config.which_captures(regex_automata::nfa::thompson::WhichCaptures::None);
    }
    let mut b = Regex::builder();
    b.configure(config).syntax(syntax::Config::new().utf8(true));
    b
}

/// A meta-engine build error as one line, like [`regex_error`].
fn meta_error(e: &regex_automata::meta::BuildError) -> String {
    match (e.syntax_error(), e.size_limit()) {
        (Some(syntax), _) => {
            let text = syntax.to_string();
            let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid pattern").trim();
            format!("invalid pattern: {}", last.strip_prefix("error: ").unwrap_or(last))
        }
        (None, Some(limit)) => format!("invalid pattern: the compiled pattern exceeds the size limit of {limit} bytes"),
        (None, None) => format!("invalid pattern: {e}"),
    }
}

/// A regex error as one lowercase line (the regex crate's messages span
/// several lines with a caret diagram).
fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid pattern").trim();
    let last = last.strip_prefix("error: ").unwrap_or(last);
    format!("invalid pattern: {last}")
}

impl Check for Sanitizer {
    fn id(&self) -> &str {
        "sanitizer"
    }

    fn stages(&self) -> Stages {
        Stages::BOTH
    }

    fn check(&self, cx: &mut Context<'_>) -> Result<(), CheckError> {
        let mut s = std::mem::take(cx.scratch::<SanitizerScratch>());
        self.check_chars(cx, &mut s);
        self.check_repetition(cx, &mut s);
        self.check_code(cx);
        *cx.scratch::<SanitizerScratch>() = s;
        Ok(())
    }

    fn memory_usage(&self) -> usize {
        // Compiled regexes as the engine reports them (without the
        // per-search lazy-DFA caches).
        self.rules.iter().map(|r| r.regex.memory_usage() + r.id.len()).sum::<usize>()
            + self.set.as_ref().map_or(0, Regex::memory_usage)
    }
}

/// Reusable per-call buffers.
#[derive(Debug, Default)]
struct SanitizerScratch {
    /// Kept chars of the current NFC segment.
    seg: String,
    /// Pending edits of the character pass, in order.
    edits: Vec<PendingEdit>,
    /// Words of the view (for phrase repetition).
    words: Vec<WordTok>,
    /// Their hashes, apart so the comparison loops stay in cache.
    hashes: Vec<u64>,
    /// Words already inside a reported repetition.
    covered: Vec<bool>,
}

/// An edit of the character pass.
#[derive(Debug)]
struct PendingEdit {
    start: usize,
    end: usize,
    with: Replacement,
}

#[derive(Debug)]
enum Replacement {
    Remove,
    Newline,
    Text(String),
}

/// One word of the view.
#[derive(Debug, Clone, Copy)]
struct WordTok {
    start: u32,
    end: u32,
    /// Whether a phrase made of it counts as spam (a letter, or three or
    /// more characters).
    counts: bool,
}

/// Union span per class.
#[derive(Debug, Default)]
struct ClassSpans([Option<Span>; 4]);

impl ClassSpans {
    fn add(&mut self, class: CharClass, span: Span) {
        let slot = &mut self.0[class as usize];
        *slot = Some(slot.map_or(span, |s| s.union(&span)));
    }
}

fn union(slot: &mut Option<Span>, span: Span) {
    *slot = Some(slot.map_or(span, |s| s.union(&span)));
}

/// The NFC segment being collected (kept chars only).
#[derive(Debug, Default)]
struct Segment {
    start: usize,
    end: usize,
    /// Whether it may not be NFC (a non-starter or a char that may
    /// compose).
    suspect: bool,
    open: bool,
}

/// Which context-dependent format characters this run already kept (one
/// of each kind between two base characters).
#[derive(Debug, Default, Clone, Copy)]
struct RunFlags {
    zwj: bool,
    zwnj: bool,
    vs: bool,
    mark: bool,
    mongolian: bool,
}

/// A word of the original, for the mixed-script flag.
#[derive(Debug, Default)]
struct MixWord {
    start: usize,
    end: usize,
    latin: bool,
    look: bool,
    open: bool,
}

impl MixWord {
    fn push(&mut self, c: char, start: usize, end: usize, found: &mut Option<Span>) {
        let class = normalize::classify(c);
        if class == normalize::Class::Break {
            self.finish(found);
            return;
        }
        if !self.open {
            *self = MixWord { start, end, latin: false, look: false, open: true };
        }
        self.end = end;
        match class {
            normalize::Class::Latin(_) => self.latin = true,
            normalize::Class::Look(_) => self.look = true,
            _ => {}
        }
    }

    fn finish(&mut self, found: &mut Option<Span>) {
        if self.open && self.latin && self.look {
            union(found, Span::new(self.start, self.end));
        }
        self.open = false;
    }
}

impl Sanitizer {
    // -----------------------------------------------------------------------
    // Characters
    // -----------------------------------------------------------------------

    fn check_chars(&self, cx: &mut Context<'_>, s: &mut SanitizerScratch) {
        let text = cx.original();
        let max_ws = self.cfg.repetition.max_char_run;
        let mut floods: Vec<(usize, usize, usize)> = Vec::new();
        // Plain printable ASCII (tab, newline and carriage return allowed)
        // has nothing to remove or compose: only whitespace floods.
        let clean = text.bytes().all(|b| (0x20..0x7F).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r'));
        if clean {
            if self.cfg.repetition.action.reports() && text.len() > max_ws {
                whitespace_floods(text, max_ws, &mut floods);
            }
            self.report_floods(cx, &floods);
            return;
        }

        let mut spans = ClassSpans::default();
        let mut nfc_span: Option<Span> = None;
        let mut mixed_span: Option<Span> = None;
        s.edits.clear();
        s.seg.clear();
        let mut seg = Segment::default();

        // Context of format characters.
        let mut prev_char: Option<char> = None;
        let mut base: Option<char> = None;
        let mut next_base: Option<(usize, Option<char>)> = None;
        let mut run = RunFlags::default();
        let mut tag_run: Option<(usize, bool)> = None;
        let mut has_rtl: Option<bool> = None;
        // Whitespace floods in the original.
        let mut ws_start = 0usize;
        let mut ws_count = 0usize;
        let mut word = MixWord::default();
        let confusables = self.cfg.confusables.reports();

        for (i, c) in text.char_indices() {
            let end = i + c.len_utf8();
            let class = format_class(c);
            let context_base = class.is_none() || c.is_whitespace();
            if let Some(class) = class.filter(|_| !context_base) {
                let kept_by_context = if is_tag(c) {
                    let (run_end, emoji) = match tag_run {
                        Some(t) if t.0 > i => t,
                        _ => {
                            let e = tag_run_end(text, i);
                            (e, is_emoji_tag_sequence(prev_char, &text[i..e]))
                        }
                    };
                    tag_run = Some((run_end, emoji));
                    emoji
                } else {
                    let n = match next_base {
                        Some((run_end, n)) if run_end > i => n,
                        _ => {
                            let found = scan_format_run(text, i);
                            next_base = Some(found);
                            found.1
                        }
                    };
                    keep_in_context(c, base, n, &mut run, || {
                        *has_rtl
                            .get_or_insert_with(|| text.chars().any(|c| is_strong_rtl(c) && format_class(c).is_none()))
                    })
                };
                prev_char = Some(c);
                if !kept_by_context {
                    let action = self.class_action(class);
                    if action.reports() {
                        spans.add(class, Span::new(i, end));
                    }
                    if action == Action::Strip {
                        push_removal(&mut s.edits, i, end);
                        continue;
                    }
                }
            } else {
                prev_char = Some(c);
                if !normalize::is_mark(c) {
                    // A whitespace control counts as the newline that stands
                    // in for it, so that a second pass decides the same.
                    base = Some(if class.is_some() { '\n' } else { c });
                    run = RunFlags::default();
                }
                if let Some(class) = class {
                    // A control that is whitespace (VT, FF, NEL): a newline
                    // stands in for it.
                    let action = self.class_action(class);
                    if action.reports() {
                        spans.add(class, Span::new(i, end));
                    }
                    if action == Action::Strip {
                        close_segment(&mut seg, s, &mut nfc_span);
                        s.edits.push(PendingEdit { start: i, end, with: Replacement::Newline });
                        ws_count = 0;
                        continue;
                    }
                }
                if c.is_whitespace() {
                    if ws_count == 0 {
                        ws_start = i;
                    }
                    ws_count += 1;
                    if ws_count == max_ws + 1 {
                        floods.push((ws_start, i, end));
                    } else if ws_count > max_ws + 1
                        && let Some(last) = floods.last_mut()
                    {
                        last.2 = end;
                    }
                } else {
                    ws_count = 0;
                }
                if confusables {
                    word.push(c, i, end, &mut mixed_span);
                }
            }
            // NFC segmentation of the kept text.
            if self.cfg.nfc {
                let (starts, suspect) = nfc_props(c);
                if starts || !seg.open {
                    close_segment(&mut seg, s, &mut nfc_span);
                    seg = Segment { start: i, end, suspect: !starts, open: true };
                }
                seg.end = end;
                seg.suspect |= suspect;
                s.seg.push(c);
            }
        }
        close_segment(&mut seg, s, &mut nfc_span);
        if confusables {
            word.finish(&mut mixed_span);
        }

        for e in s.edits.drain(..) {
            let with: Cow<'static, str> = match e.with {
                Replacement::Remove => Cow::Borrowed(""),
                Replacement::Newline => Cow::Borrowed("\n"),
                Replacement::Text(t) => Cow::Owned(t),
            };
            cx.edit(Span::new(e.start, e.end), with);
        }
        for class in CHAR_CLASSES {
            if let Some(span) = spans.0[class as usize] {
                let (rule, cat, sev) = self.class_names(class);
                let f = self.finding(cx, rule, cat, sev, span);
                self.act(cx, self.class_action(class), f);
            }
        }
        if let Some(span) = nfc_span {
            let f = self.finding(cx, &self.names.nfc, &self.names.cat_normalization, Severity::Info, span);
            cx.push_finding(f);
        }
        if let Some(span) = mixed_span {
            let f = self.finding(cx, &self.names.confusables, &self.names.cat_obfuscation, Severity::Warning, span);
            self.act(cx, self.cfg.confusables, f);
        }
        if !self.cfg.repetition.action.reports() {
            floods.clear();
        }
        self.report_floods(cx, &floods);
    }

    fn report_floods(&self, cx: &mut Context<'_>, floods: &[(usize, usize, usize)]) {
        let action = self.cfg.repetition.action;
        for &(start, cut, end) in floods {
            let f =
                self.finding(cx, &self.names.rep_char, &self.names.cat_spam, Severity::Warning, Span::new(start, end));
            if action == Action::Strip {
                cx.edit(Span::new(cut, end), "");
            }
            self.act(cx, action, f);
        }
    }

    // -----------------------------------------------------------------------
    // Repetition
    // -----------------------------------------------------------------------

    fn check_repetition(&self, cx: &mut Context<'_>, s: &mut SanitizerScratch) {
        let action = self.cfg.repetition.action;
        if !action.reports() {
            return;
        }
        let view = cx.view();
        let text = view.as_str();
        let max = self.cfg.repetition.max_char_run;

        // One character repeated (compared as UTF-8 byte sequences, so plain
        // ASCII needs no decoding).
        if text.len() > max {
            let bytes = text.as_bytes();
            let mut i = 0usize;
            while i < bytes.len() {
                let b = bytes[i];
                let n = utf8_len(b);
                let mut j = i + n;
                let mut count = 1usize;
                if n == 1 {
                    while j < bytes.len() && bytes[j] == b {
                        j += 1;
                        count += 1;
                    }
                } else {
                    while j + n <= bytes.len() && bytes[j..j + n] == bytes[i..i + n] {
                        j += n;
                        count += 1;
                    }
                }
                if count > max && b != b' ' {
                    self.report_view_range(cx, view, action, &self.names.rep_char, i..j, i + max * n..j);
                }
                i = j;
            }
        }

        // A word or phrase repeated.
        let repeats = self.cfg.repetition.max_phrase_repeats;
        s.words.clear();
        s.hashes.clear();
        view_words(text, &mut s.words, &mut s.hashes);
        let words = &s.words;
        let hashes = &s.hashes;
        let n = words.len();
        if n <= repeats {
            return;
        }
        s.covered.clear();
        s.covered.resize(n, false);
        for p in 1..=self.cfg.repetition.max_phrase_words {
            if (repeats + 1) * p > n {
                break;
            }
            let mut run = 0usize;
            for i in p..=n {
                if i < n && hashes[i] == hashes[i - p] && same_word(text, words[i], words[i - p]) {
                    run += 1;
                    continue;
                }
                if run >= repeats * p {
                    let a = i - run - p;
                    let copies = (run + p) / p;
                    let b = a + copies * p;
                    if !s.covered[a] && words[a..a + p].iter().any(|w| w.counts) {
                        s.covered[a..b].iter_mut().for_each(|x| *x = true);
                        let all = words[a].start as usize..words[b - 1].end as usize;
                        let excess = words[a + repeats * p - 1].end as usize..words[b - 1].end as usize;
                        self.report_view_range(cx, view, action, &self.names.rep_phrase, all, excess);
                    }
                }
                run = 0;
            }
        }
    }

    /// Reports spam found at `all` (view range); `strip` removes `excess`.
    fn report_view_range(
        &self,
        cx: &mut Context<'_>,
        view: &View,
        action: Action,
        rule: &Arc<str>,
        all: std::ops::Range<usize>,
        excess: std::ops::Range<usize>,
    ) {
        let mut f = self.finding(cx, rule, &self.names.cat_spam, Severity::Warning, view.span(all.clone()));
        if view.is_hidden(all) {
            f = f.with_qualifiers(Qualifiers::from(Qualifier::Hidden));
        }
        if action == Action::Strip && excess.start < excess.end {
            cx.edit(view.span(excess), "");
        }
        self.act(cx, action, f);
    }

    // -----------------------------------------------------------------------
    // Code payloads
    // -----------------------------------------------------------------------

    fn check_code(&self, cx: &mut Context<'_>) {
        let Some(set) = &self.set else { return };
        let view = cx.view();
        let text = view.as_str();
        // `is_match` uses the pooled cache and does not allocate: the clean
        // path stops here.
        if !set.is_match(text) {
            return;
        }
        let mut matched = PatternSet::new(set.pattern_len());
        set.which_overlapping_matches(&Input::new(text), &mut matched);
        for idx in matched.iter() {
            let rule = &self.rules[idx.as_usize()];
            let Some(m) = rule.regex.find(text) else { continue };
            let mut f = self.finding(cx, &rule.id, &self.names.cat_code, Severity::High, view.span(m.range()));
            if view.is_hidden(m.range()) {
                f = f.with_qualifiers(Qualifiers::from(Qualifier::Hidden));
            }
            self.act(cx, rule.action, f);
        }
    }
}

/// Closes an NFC segment: when its kept chars are not in NFC, one edit
/// replaces the whole segment (removed chars inside it included) by their
/// composition, superseding the removals inside it.
fn close_segment(seg: &mut Segment, s: &mut SanitizerScratch, nfc_span: &mut Option<Span>) {
    if !seg.open {
        return;
    }
    seg.open = false;
    let suspect = seg.suspect && is_nfc_quick(s.seg.chars()) != IsNormalized::Yes;
    if suspect {
        let composed: String = s.seg.chars().nfc().collect();
        if composed != s.seg {
            union(nfc_span, Span::new(seg.start, seg.end));
            let (a, b) = (seg.start, seg.end);
            while s.edits.last().is_some_and(|e| e.start >= a && e.end <= b) {
                s.edits.pop();
            }
            s.edits.push(PendingEdit { start: a, end: b, with: Replacement::Text(composed) });
        }
    }
    s.seg.clear();
}

/// Length of the UTF-8 sequence that starts with byte `b`.
fn utf8_len(b: u8) -> usize {
    match b {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// Records the removal of `start..end`, merged with a removal that ends
/// there.
fn push_removal(edits: &mut Vec<PendingEdit>, start: usize, end: usize) {
    if let Some(last) = edits.last_mut()
        && matches!(last.with, Replacement::Remove)
        && last.end == start
    {
        last.end = end;
        return;
    }
    edits.push(PendingEdit { start, end, with: Replacement::Remove });
}

/// Runs of more than `max` whitespace characters in plain ASCII text:
/// (start, first byte past the allowed ones, end).
fn whitespace_floods(text: &str, max: usize, out: &mut Vec<(usize, usize, usize)>) {
    let mut count = 0usize;
    let mut start = 0usize;
    for (i, b) in text.bytes().enumerate() {
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            if count == 0 {
                start = i;
            }
            count += 1;
            if count == max + 1 {
                out.push((start, i, i + 1));
            } else if count > max + 1
                && let Some(last) = out.last_mut()
            {
                last.2 = i + 1;
            }
        } else {
            count = 0;
        }
    }
}

/// Splits the view into words (runs of ASCII alphanumerics and non-ASCII
/// characters) with a hash each.
fn view_words(text: &str, out: &mut Vec<WordTok>, hashes: &mut Vec<u64>) {
    let bytes = text.as_bytes();
    let mut i = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_alphanumeric() || b >= 0x80) {
            i += 1;
            continue;
        }
        let start = i;
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut letter = false;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] >= 0x80) {
            let x = bytes[i];
            letter |= x.is_ascii_alphabetic() || x >= 0x80;
            hash = (hash ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3);
            i += 1;
        }
        // Small numbers ("0", "12") repeat in tables; anything longer counts.
        let counts = letter || i - start >= 3;
        out.push(WordTok { start: start as u32, end: i as u32, counts });
        hashes.push(hash);
    }
}

fn same_word(text: &str, a: WordTok, b: WordTok) -> bool {
    a.end - a.start == b.end - b.start
        && text.as_bytes()[a.start as usize..a.end as usize] == text.as_bytes()[b.start as usize..b.end as usize]
}

// ---------------------------------------------------------------------------
// Character classes
// ---------------------------------------------------------------------------

/// The class of a character the sanitizer may remove, if any.
fn format_class(c: char) -> Option<CharClass> {
    if c.is_ascii() {
        return (c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r')).then_some(CharClass::Control);
    }
    match c {
        '\u{E0000}'..='\u{E007F}' => Some(CharClass::Tag),
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}' => {
            Some(CharClass::Bidi)
        }
        '\u{0080}'..='\u{009F}' => Some(CharClass::Control),
        // Hangul fillers that take part in old Hangul syllables: kept.
        '\u{115F}' | '\u{1160}' => None,
        _ if is_invisible(c) => Some(CharClass::Invisible),
        _ => None,
    }
}

/// End of the run of format characters starting at `i` (whitespace
/// controls end it: a newline stands in for them) and the char after it.
fn scan_format_run(text: &str, i: usize) -> (usize, Option<char>) {
    for (j, c) in text[i..].char_indices() {
        if format_class(c).is_none() {
            return (i + j, Some(c));
        }
        if c.is_whitespace() {
            return (i + j, Some('\n'));
        }
    }
    (text.len(), None)
}

/// End of the run of tag characters starting at `i`.
fn tag_run_end(text: &str, i: usize) -> usize {
    text[i..].char_indices().find(|&(_, c)| !is_tag(c)).map_or(text.len(), |(j, _)| i + j)
}

/// Whether a format character is legitimate where it stands: `p` is the
/// last base character before it (combining marks skipped), `n` the first
/// one after its run of format characters. At most one of each kind is kept
/// between two base characters.
fn keep_in_context(
    c: char,
    p: Option<char>,
    n: Option<char>,
    run: &mut RunFlags,
    has_rtl: impl FnOnce() -> bool,
) -> bool {
    // Judge the neighbours as NFC will leave them (U+212B ANGSTROM SIGN is
    // Latin Å after NFC), so that a second pass decides the same.
    let (p, n) = (p.map(canonical), n.map(canonical));
    let p_is = |f: fn(char) -> bool| p.is_some_and(f);
    let n_is = |f: fn(char) -> bool| n.is_some_and(f);
    if matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}') {
        // Only the first variation selector of a run may stay, whatever its
        // kind: a run of them is a payload ("emoji smuggling").
        let first = !run.vs;
        run.vs = true;
        if !first {
            return false;
        }
    }
    let mut spent = false;
    let (flag, ok) = match c {
        // Emoji ZWJ sequences; joiners in scripts that use them.
        '\u{200D}' => (
            &mut run.zwj,
            (p_is(is_pictographic) && n_is(is_pictographic)) || (p_is(is_joining_script) && n_is(is_joining_script)),
        ),
        '\u{200C}' => (&mut run.zwnj, p_is(is_joining_script) && n_is(is_joining_script)),
        // Emoji / text presentation, keycaps.
        '\u{FE0E}' | '\u{FE0F}' => (
            &mut spent,
            p_is(is_pictographic) || (p_is(|p| matches!(p, '0'..='9' | '#' | '*')) && n == Some('\u{20E3}')),
        ),
        // Standardized variants of symbols and CJK compatibility ideographs.
        '\u{FE00}'..='\u{FE0D}' => {
            (&mut spent, p_is(|p| !p.is_ascii() && normalize::classify(p) == normalize::Class::Break))
        }
        // Ideographic variation sequences.
        '\u{E0100}'..='\u{E01EF}' => (&mut spent, p_is(is_han)),
        // Mongolian free variation selectors and vowel separator.
        '\u{180B}'..='\u{180D}' | '\u{180F}' => (&mut run.mongolian, p_is(is_mongolian)),
        '\u{180E}' => (&mut run.mongolian, p_is(is_mongolian) && n_is(is_mongolian)),
        // Directional marks belong to right-to-left text, not inside a
        // Latin/Greek/Cyrillic word.
        '\u{200E}' | '\u{200F}' | '\u{061C}' => {
            let inside_word = p_is(is_lgc_letter) && n_is(is_lgc_letter);
            (&mut run.mark, !inside_word && has_rtl())
        }
        _ => return false,
    };
    if *flag || !ok {
        return false;
    }
    *flag = true;
    true
}

/// The first char of the NFC form of `c` alone (itself for nearly every
/// char; the canonical twin for singletons such as U+212B ANGSTROM SIGN).
fn canonical(c: char) -> char {
    if c.is_ascii() || is_nfc_quick(std::iter::once(c)) != IsNormalized::No {
        return c;
    }
    std::iter::once(c).nfc().next().unwrap_or(c)
}

/// `(starts an NFC segment, may need composition)`.
fn nfc_props(c: char) -> (bool, bool) {
    if c.is_ascii() || normalize::is_stable_starter(c) {
        return (true, false);
    }
    if canonical_combining_class(c) != 0 {
        return (false, true);
    }
    match is_nfc_quick(std::iter::once(c)) {
        IsNormalized::Yes => (true, false),
        // A boundary only when the decomposition starts with a starter that
        // cannot compose backwards (U+0F73 decomposes to two vowel signs).
        IsNormalized::No => {
            let first = std::iter::once(c).nfd().next().unwrap_or(c);
            let safe =
                canonical_combining_class(first) == 0 && is_nfc_quick(std::iter::once(first)) == IsNormalized::Yes;
            (safe, true)
        }
        IsNormalized::Maybe => (false, true),
    }
}

fn is_lgc_letter(c: char) -> bool {
    matches!(normalize::classify(c), normalize::Class::Latin(_) | normalize::Class::Look(_) | normalize::Class::Other)
}

/// Extended pictographic characters (emoji), approximated by blocks.
fn is_pictographic(c: char) -> bool {
    matches!(c as u32,
        0x00A9 | 0x00AE | 0x203C | 0x2049 | 0x2122 | 0x2139
        | 0x2194..=0x2199 | 0x21A9..=0x21AA | 0x231A..=0x231B | 0x2328 | 0x23CF
        | 0x23E9..=0x23F3 | 0x23F8..=0x23FA | 0x24C2 | 0x25AA..=0x25AB | 0x25B6 | 0x25C0
        | 0x25FB..=0x25FE | 0x2600..=0x27BF | 0x2934..=0x2935 | 0x2B05..=0x2B07
        | 0x2B1B..=0x2B1C | 0x2B50 | 0x2B55 | 0x3030 | 0x303D | 0x3297 | 0x3299
        | 0x1F000..=0x1FAFF
    )
}

/// Scripts that use ZWJ/ZWNJ in ordinary text: Arabic, Syriac, Thaana, N'Ko,
/// the Indic scripts, Tibetan, Myanmar, Khmer, Mongolian.
fn is_joining_script(c: char) -> bool {
    matches!(c as u32,
        0x0600..=0x08FF | 0x0900..=0x0DFF | 0x0F00..=0x0FFF | 0x1000..=0x109F | 0x1780..=0x18AF
        | 0xA800..=0xA8FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF | 0x10A00..=0x10A5F | 0x11000..=0x1107F
    )
}

fn is_strong_rtl(c: char) -> bool {
    matches!(c as u32, 0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFF | 0x10800..=0x10FFF | 0x1E800..=0x1EFFF)
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3FFFF)
}

fn is_mongolian(c: char) -> bool {
    matches!(c as u32, 0x1800..=0x18AF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_compile() {
        let s = Sanitizer::new(&SanitizerConfig::default()).unwrap();
        assert!(s.rules.len() >= 7);
    }

    #[test]
    fn bad_configuration_names_the_field() {
        let mut cfg = SanitizerConfig::default();
        cfg.code.rules.push(CodeRule {
            id: "x.y".into(),
            description: String::new(),
            patterns: vec!["ok".into(), "(".into()],
            action: None,
        });
        let e = Sanitizer::new(&cfg).unwrap_err();
        assert_eq!(e.field(), "sanitizer.code.rules[0].patterns[1]");
        assert!(e.message().starts_with("invalid pattern"), "{e}");

        let mut cfg = SanitizerConfig::default();
        cfg.code.disabled_rules.push("sanitizer.code.nope".into());
        assert_eq!(Sanitizer::new(&cfg).unwrap_err().field(), "sanitizer.code.disabled_rules[0]");

        let mut cfg = SanitizerConfig::default();
        cfg.code.rules.push(CodeRule {
            id: "sanitizer.code.shell".into(),
            description: String::new(),
            patterns: vec!["x".into()],
            action: None,
        });
        assert!(Sanitizer::new(&cfg).unwrap_err().message().contains("twice"));

        let cfg = SanitizerConfig { confusables: Action::Strip, ..SanitizerConfig::default() };
        assert_eq!(Sanitizer::new(&cfg).unwrap_err().field(), "sanitizer.confusables");

        let mut cfg = SanitizerConfig::default();
        cfg.repetition.max_phrase_words = 0;
        assert_eq!(Sanitizer::new(&cfg).unwrap_err().field(), "sanitizer.repetition.max_phrase_words");
    }

    #[test]
    fn keycap_and_emoji_variation_selectors_are_kept() {
        let mut run = RunFlags::default();
        assert!(keep_in_context('\u{FE0F}', Some('1'), Some('\u{20E3}'), &mut run, || false));
        let mut run = RunFlags::default();
        assert!(!keep_in_context('\u{FE0F}', Some('a'), Some('b'), &mut run, || false));
        let mut run = RunFlags::default();
        assert!(keep_in_context('\u{FE0F}', Some('❤'), None, &mut run, || false));
        // Only one per run.
        assert!(!keep_in_context('\u{FE0F}', Some('❤'), None, &mut run, || false));
    }
}
