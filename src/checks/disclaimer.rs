//! The `disclaimer` check: makes sure every answer carries the operator's
//! disclaimer, and the emergency notice first when the exchange escalated.
//!
//! It runs at the response stage, always last (the
//! [`GuardrailBuilder`](crate::GuardrailBuilder) moves it to the end of the
//! pipeline), and also after a block: it applies to `allow` and `modify`
//! answers and to the replacement text of a blocked one.
//!
//! # Layout
//!
//! Following the clinical brief (California AB 3030: say the text is
//! AI-generated and how to reach a human, at the beginning; EU AI Act
//! Art. 50(1): tell users they are talking to an AI):
//!
//! 1. when the exchange escalated: the escalation message first, unhedged
//!    (the same text as the verdict's escalation message);
//! 2. otherwise, when the exchange touches a red flag softly (the request had
//!    a red-flag finding of `advisory` severity, or the answer mentions a red
//!    flag): the locale's `emergency_line`;
//! 3. the `banner` ("AI assistant, not a clinician ..."), at the configured
//!    `position` (`prepend` by default);
//! 4. the answer;
//! 5. the `footer` ("General information, not a diagnosis. To reach a
//!    clinician ..."), appended unless empty.
//!
//! Items 1 and 2 always go first, whatever the position.
//!
//! # Idempotence
//!
//! A piece that is already where it belongs is not added again: the answer
//! must *start* with the notice / line / banner (or *end* with the banner /
//! footer) once both are normalised like the detection view (whitespace
//! collapsed, case folded), ignoring Markdown decoration (`>`, `*`, `_`,
//! `#`). A paraphrased or truncated disclaimer does not count, and neither
//! does one buried in the middle of the answer or hidden in an HTML comment,
//! so nothing the user or the model writes can switch the disclaimer off.
//! Every piece added is reported as a finding of check `disclaimer`
//! (`disclaimer.emergency_notice`, `disclaimer.emergency_line`,
//! `disclaimer.banner`, `disclaimer.footer`), severity `info`.
//!
//! Removing the check from a pipeline takes
//! [`dangerous().allow_missing_safety_checks()`](crate::DangerousBuilder::allow_missing_safety_checks).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::check::{Check, CheckError, Context, Stages};
use crate::error::BuildError;
use crate::locale::{LocaleConfig, fill_placeholders as fill};
use crate::normalize::View;
use crate::policy::Policy;
use crate::verdict::{Severity, Span};

use super::diagnosis::{ExchangeContext, exchange_escalation_message};

/// Where the banner goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Position {
    /// Before the answer (AB 3030: "at the beginning").
    #[default]
    Prepend,
    /// After the answer, before the footer.
    Append,
}

/// How the added text is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Plain text paragraphs separated by a blank line.
    #[default]
    Plain,
    /// Markdown block quotes (`> text`, the emergency notice in bold), with
    /// Markdown special characters escaped.
    Markdown,
    /// HTML paragraphs (`<p class="medguard-disclaimer">`, the emergency
    /// notice with class `medguard-emergency`), text HTML-escaped.
    Html,
}

/// The disclaimer texts of one locale.
///
/// Texts may use the placeholders `{emergency}`, `{crisis}`, `{poison}`
/// and `{human}`, filled from the locale of the same tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclaimerText {
    /// The persistent banner: AI assistant, not a clinician, emergency
    /// number. Required.
    pub banner: String,
    /// The per-answer footer: general information, how to reach a human.
    /// Empty for none.
    #[serde(default)]
    pub footer: String,
    /// The soft-tier safety line shown when the exchange touches a red flag
    /// without escalating. Required.
    pub emergency_line: String,
}

/// Configuration of the `disclaimer` check (`[disclaimer]` in a policy).
///
/// | field | default | meaning |
/// |---|---|---|
/// | `position` | `prepend` | where the banner goes |
/// | `format` | `plain` | `plain`, `markdown` or `html` |
/// | `locales` | texts for `en-US`, `es-US`, `en-GB`, `en-EU`, `und` | per locale tag; every locale of the policy must have one, directly or through `und` |
///
/// The built-in texts:
///
/// * banner: "I'm an AI assistant, not a clinician: I can't diagnose
///   conditions or prescribe treatment. In an emergency, call {emergency}."
/// * footer: "This is general information, not a diagnosis. To reach a
///   clinician, {human}."
/// * emergency line: "If you or someone with you has any of these warning
///   signs now, call {emergency} right away."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DisclaimerConfig {
    /// Where the banner goes.
    pub position: Position,
    /// How the added text is written.
    pub format: Format,
    /// Texts per locale tag.
    pub locales: BTreeMap<String, DisclaimerText>,
}

impl Default for DisclaimerConfig {
    fn default() -> DisclaimerConfig {
        let en = DisclaimerText {
            banner: "I'm an AI assistant, not a clinician: I can't diagnose conditions or prescribe treatment. \
                     In an emergency, call {emergency}."
                .into(),
            footer: "This is general information, not a diagnosis. To reach a clinician, {human}.".into(),
            emergency_line:
                "If you or someone with you has any of these warning signs now, call {emergency} right away.".into(),
        };
        let es = DisclaimerText {
            banner: "Soy un asistente de inteligencia artificial, no un profesional de salud: no puedo diagnosticar \
                     enfermedades ni recetar tratamientos. En una emergencia, llame al {emergency}."
                .into(),
            footer: "Esta es información general, no un diagnóstico. Para hablar con un profesional de salud, {human}."
                .into(),
            emergency_line: "Si usted o alguien a su lado tiene alguna de estas señales de alarma ahora, llame al \
                             {emergency} de inmediato."
                .into(),
        };
        let locales = [
            ("en-US".to_string(), en.clone()),
            ("en-GB".to_string(), en.clone()),
            ("en-EU".to_string(), en.clone()),
            ("es-US".to_string(), es),
            ("und".to_string(), en),
        ]
        .into_iter()
        .collect();
        DisclaimerConfig { position: Position::Prepend, format: Format::Plain, locales }
    }
}

/// Operator texts per locale tag with the locale placeholders filled in;
/// lookups fall back to `und`.
#[derive(Debug, Clone)]
pub(crate) struct LocalizedText {
    texts: BTreeMap<String, Arc<str>>,
}

impl LocalizedText {
    /// Fills `config`'s texts for the locales defined in `locales` (texts
    /// for undefined locales are ignored) and checks that every locale
    /// resolves to a text.
    pub(crate) fn new(
        config: &BTreeMap<String, String>,
        locales: &BTreeMap<String, LocaleConfig>,
        field: &str,
    ) -> Result<LocalizedText, BuildError> {
        let mut texts = BTreeMap::new();
        for (tag, text) in config {
            let Some(loc) = locales.get(tag) else { continue };
            let filled = fill(text, loc).map_err(|e| BuildError::new(format!("{field}.{tag}"), e))?;
            texts.insert(tag.clone(), Arc::from(filled));
        }
        let out = LocalizedText { texts };
        for tag in locales.keys() {
            if out.get(tag).is_none() {
                return Err(BuildError::new(field, format!("no text for locale `{tag}` (and no `und` fallback)")));
            }
        }
        Ok(out)
    }

    /// The text for `tag`, else the `und` text.
    pub(crate) fn get(&self, tag: &str) -> Option<&Arc<str>> {
        self.texts.get(tag).or_else(|| self.texts.get("und"))
    }
}

/// One piece of disclaimer text, ready to insert.
#[derive(Debug, Clone)]
struct Piece {
    /// Formatted text followed by the separator.
    prepend: String,
    /// The separator followed by the formatted text.
    append: String,
    /// Normalised forms that count as "already there".
    needles: Vec<String>,
}

impl Piece {
    fn new(plain: &str, format: Format, class: &str) -> Piece {
        let formatted = format_block(plain, format, class);
        let sep = separator(format);
        let mut needles = Vec::new();
        for form in [plain, formatted.as_str()] {
            let n = normalise(form);
            if !n.is_empty() && !needles.contains(&n) {
                needles.push(n);
            }
        }
        Piece { prepend: format!("{formatted}{sep}"), append: format!("{sep}{formatted}"), needles }
    }
}

#[derive(Debug, Clone)]
struct LocaleTexts {
    banner: Piece,
    footer: Option<Piece>,
    emergency_line: Piece,
}

/// The `disclaimer` check. See the [module documentation](self).
#[derive(Debug)]
pub struct Disclaimer {
    position: Position,
    format: Format,
    texts: BTreeMap<String, LocaleTexts>,
    /// The finding rules by [`Kind`] and the finding category, shared so
    /// that reporting a finding does not allocate.
    rules: [Arc<str>; 4],
    category: Arc<str>,
}

#[derive(Debug, Default)]
struct DisclaimerScratch {
    body: View,
    notice: View,
}

/// What to add, by kind, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Notice,
    Line,
    Banner,
    Footer,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Notice, Kind::Line, Kind::Banner, Kind::Footer];

    fn rule(self) -> &'static str {
        match self {
            Kind::Notice => "disclaimer.emergency_notice",
            Kind::Line => "disclaimer.emergency_line",
            Kind::Banner => "disclaimer.banner",
            Kind::Footer => "disclaimer.footer",
        }
    }
}

impl Disclaimer {
    /// Builds the check from a policy's `[disclaimer]` section and locales.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the field of a missing or bad text.
    pub fn from_policy(policy: &Policy) -> Result<Disclaimer, BuildError> {
        Disclaimer::new(&policy.disclaimer, &policy.locales)
    }

    /// Builds the check; `locales` fill the placeholders. Every locale in
    /// `locales` must have texts, directly or through `und`; texts for
    /// locales not in `locales` are ignored.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the field of a missing or bad text.
    pub fn new(config: &DisclaimerConfig, locales: &BTreeMap<String, LocaleConfig>) -> Result<Disclaimer, BuildError> {
        let mut texts = BTreeMap::new();
        for (tag, t) in &config.locales {
            let field = |f: &str| format!("disclaimer.locales.{tag}.{f}");
            let Some(loc) = locales.get(tag) else { continue };
            let banner = fill(&t.banner, loc).map_err(|e| BuildError::new(field("banner"), e))?;
            let footer = fill(&t.footer, loc).map_err(|e| BuildError::new(field("footer"), e))?;
            let line = fill(&t.emergency_line, loc).map_err(|e| BuildError::new(field("emergency_line"), e))?;
            if banner.trim().is_empty() {
                return Err(BuildError::new(field("banner"), "must not be empty"));
            }
            if line.trim().is_empty() {
                return Err(BuildError::new(field("emergency_line"), "must not be empty"));
            }
            texts.insert(
                tag.clone(),
                LocaleTexts {
                    banner: Piece::new(banner.trim(), config.format, "medguard-disclaimer"),
                    footer: (!footer.trim().is_empty())
                        .then(|| Piece::new(footer.trim(), config.format, "medguard-disclaimer")),
                    emergency_line: Piece::new(line.trim(), config.format, "medguard-emergency"),
                },
            );
        }
        let out = Disclaimer {
            position: config.position,
            format: config.format,
            texts,
            rules: Kind::ALL.map(|k| Arc::from(k.rule())),
            category: Arc::from("disclaimer"),
        };
        for tag in locales.keys() {
            if out.texts_for(tag).is_none() {
                return Err(BuildError::new(
                    "disclaimer.locales",
                    format!("no disclaimer for locale `{tag}` (and no `und` fallback)"),
                ));
            }
        }
        Ok(out)
    }

    fn texts_for(&self, tag: &str) -> Option<&LocaleTexts> {
        self.texts.get(tag).or_else(|| self.texts.get("und"))
    }

    /// Reports the finding for an added piece of `kind`.
    fn report(&self, cx: &mut Context<'_>, kind: Kind, span: Span) {
        cx.report(self.rules[kind as usize].clone(), self.category.clone(), Severity::Info, span);
    }
}

impl Check for Disclaimer {
    fn id(&self) -> &str {
        "disclaimer"
    }

    fn stages(&self) -> Stages {
        Stages::RESPONSE
    }

    fn runs_after_block(&self) -> bool {
        true
    }

    fn check(&self, cx: &mut Context<'_>) -> Result<(), CheckError> {
        let texts =
            self.texts_for(cx.locale().tag()).ok_or_else(|| CheckError::new("no disclaimer for the active locale"))?;
        let ctx = ExchangeContext::of(cx);
        let notice_msg = if ctx.escalated.is_some() { exchange_escalation_message(cx) } else { None };
        let soft = notice_msg.is_none() && (ctx.advisory_request || ctx.topic_in_response);
        let mut s = std::mem::take(cx.scratch::<DisclaimerScratch>());

        let notice = notice_msg.map(|m| {
            let formatted = format_notice(m, self.format);
            let mut needles = vec![normalise_into(&mut s.notice, m)];
            let f = normalise_into(&mut s.notice, &formatted);
            if f != needles[0] {
                needles.push(f);
            }
            let sep = separator(self.format);
            Piece { prepend: format!("{formatted}{sep}"), append: String::new(), needles }
        });

        // The pieces in order, `None` where a piece does not apply (fixed
        // arrays: no allocation per call).
        let leading = [
            notice.as_ref().map(|n| (Kind::Notice, n)),
            soft.then_some((Kind::Line, &texts.emergency_line)),
            (self.position == Position::Prepend).then_some((Kind::Banner, &texts.banner)),
        ];
        let trailing = [
            (self.position == Position::Append).then_some((Kind::Banner, &texts.banner)),
            texts.footer.as_ref().map(|f| (Kind::Footer, f)),
        ];

        let blocked = cx.is_blocked();
        let block_text: Option<String> = if blocked {
            Some(cx.block_text().map_or_else(|| cx.locale().response_blocked().to_string(), str::to_string))
        } else {
            None
        };
        let hay: &str = match &block_text {
            Some(t) => {
                s.body.build(t);
                s.body.as_str()
            }
            None => cx.view().as_str(),
        };
        let (lead, trail) = (missing_leading(hay, leading), missing_trailing(hay, trailing));
        let inserts = || lead.iter().chain(&trail).flatten();

        match block_text {
            Some(body) => {
                if inserts().next().is_some() {
                    let mut start = String::new();
                    let mut end = String::new();
                    let mut at: Vec<(usize, &str)> = Vec::new();
                    for ins in inserts() {
                        match ins.place {
                            Place::Start => start.push_str(ins.text),
                            Place::End => end.push_str(ins.text),
                            Place::At(v) => at.push((s.body.span(v..v).start, ins.text)),
                        }
                        self.report(cx, ins.kind, Span::new(0, 0));
                    }
                    at.sort_by_key(|(o, _)| *o);
                    let extra = start.len() + end.len() + at.iter().map(|(_, t)| t.len()).sum::<usize>();
                    let mut out = String::with_capacity(body.len() + extra);
                    out.push_str(&start);
                    let mut from = 0;
                    for (o, t) in at {
                        out.push_str(&body[from..o]);
                        out.push_str(t);
                        from = o;
                    }
                    out.push_str(&body[from..]);
                    out.push_str(&end);
                    cx.replace_block_text(out);
                }
            }
            None => {
                let len = cx.original().len();
                for ins in inserts() {
                    let span = match ins.place {
                        Place::Start => {
                            cx.prepend(ins.text.to_string());
                            Span::new(0, 0)
                        }
                        Place::End => {
                            cx.append(ins.text.to_string());
                            Span::new(len, len)
                        }
                        Place::At(v) => {
                            let o = cx.view().span(v..v).start;
                            cx.edit(Span::new(o, o), ins.text.to_string());
                            Span::new(o, o)
                        }
                    };
                    self.report(cx, ins.kind, span);
                }
            }
        }
        *cx.scratch::<DisclaimerScratch>() = s;
        Ok(())
    }

    fn memory_usage(&self) -> usize {
        self.texts
            .values()
            .map(|t| {
                let p = |p: &Piece| p.prepend.len() + p.append.len() + p.needles.iter().map(String::len).sum::<usize>();
                p(&t.banner) + p(&t.emergency_line) + t.footer.as_ref().map_or(0, p)
            })
            .sum()
    }
}

/// Where a missing piece goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Before everything (a prefix).
    Start,
    /// After everything (a suffix).
    End,
    /// At this offset of the view of the body, next to pieces already there.
    At(usize),
}

/// A piece to add.
#[derive(Debug, Clone, Copy)]
struct Insert<'p> {
    kind: Kind,
    place: Place,
    text: &'p str,
}

/// The leading pieces not already at the start of `hay`, in order, each
/// placed after the pieces before it that are there. `items[i]` is `None`
/// when that piece does not apply; the result has the insert for
/// `items[i]` at index `i` (`None` when it is there or does not apply).
fn missing_leading<'p, const N: usize>(hay: &str, items: [Option<(Kind, &'p Piece)>; N]) -> [Option<Insert<'p>>; N] {
    let mut cur = 0;
    let mut missing = [None; N];
    for (i, item) in items.iter().enumerate() {
        let Some((kind, piece)) = *item else { continue };
        let at = skip_decoration_forward(hay, cur);
        match piece.needles.iter().find(|n| hay[at..].starts_with(n.as_str())) {
            Some(n) => cur = at + n.len(),
            None if cur == 0 => missing[i] = Some(Insert { kind, place: Place::Start, text: &piece.prepend }),
            None => missing[i] = Some(Insert { kind, place: Place::At(cur), text: &piece.append }),
        }
    }
    missing
}

/// The trailing pieces not already at the end of `hay`, in order, each
/// placed before the pieces after it that are there. Same shape as
/// [`missing_leading`].
fn missing_trailing<'p, const N: usize>(hay: &str, items: [Option<(Kind, &'p Piece)>; N]) -> [Option<Insert<'p>>; N] {
    let mut cur = hay.len();
    let mut missing = [None; N];
    // Where the present pieces after the current item start, if any.
    let mut first_present_after: Option<usize> = None;
    for (i, item) in items.iter().enumerate().rev() {
        let Some((kind, piece)) = *item else { continue };
        let at = skip_decoration_backward(hay, cur);
        if let Some(n) = piece.needles.iter().find(|n| hay[..at].ends_with(n.as_str())) {
            cur = at - n.len();
            first_present_after = Some(cur);
        } else {
            missing[i] = Some(match first_present_after {
                Some(at) => Insert { kind, place: Place::At(at), text: &piece.prepend },
                None => Insert { kind, place: Place::End, text: &piece.append },
            });
        }
    }
    missing
}

fn skip_decoration_forward(hay: &str, mut i: usize) -> usize {
    let b = hay.as_bytes();
    while i < b.len() && matches!(b[i], b' ' | b'>' | b'*' | b'_' | b'#') {
        i += 1;
    }
    i
}

fn skip_decoration_backward(hay: &str, mut i: usize) -> usize {
    let b = hay.as_bytes();
    while i > 0 && matches!(b[i - 1], b' ' | b'*' | b'_') {
        i -= 1;
    }
    i
}

fn normalise(s: &str) -> String {
    let mut v = View::new();
    normalise_into(&mut v, s)
}

fn normalise_into(v: &mut View, s: &str) -> String {
    v.build(s);
    v.as_str().trim().to_string()
}

fn separator(format: Format) -> &'static str {
    match format {
        Format::Plain | Format::Markdown => "\n\n",
        Format::Html => "\n",
    }
}

fn format_block(text: &str, format: Format, class: &str) -> String {
    match format {
        Format::Plain => text.to_string(),
        Format::Markdown => format!("> {}", markdown_escape(text)),
        Format::Html => format!("<p class=\"{class}\">{}</p>", html_escape(text)),
    }
}

fn format_notice(text: &str, format: Format) -> String {
    match format {
        Format::Plain => text.to_string(),
        Format::Markdown => format!("> **{}**", markdown_escape(text)),
        Format::Html => format!("<p class=\"medguard-emergency\"><strong>{}</strong></p>", html_escape(text)),
    }
}

/// Escapes the characters Markdown gives inline meaning to.
fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|') {
            out.push('\\');
        }
        if c == '\n' {
            out.push_str("\n> ");
            continue;
        }
        out.push(c);
    }
    out
}

/// Escapes text for HTML element content: `<`, `>`, and `&` where it could
/// start a character reference (`&name;`, `&#...`). A bare `&` as in "A&E"
/// is valid text and stays, so the visible text equals the plain text.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let b = text.as_bytes();
    for (i, c) in text.char_indices() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' if starts_reference(&b[i + 1..]) => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

fn starts_reference(rest: &[u8]) -> bool {
    match rest.first() {
        Some(b'#') => true,
        Some(c) if c.is_ascii_alphanumeric() => {
            let n = rest.iter().take_while(|c| c.is_ascii_alphanumeric()).count();
            // Named references, and the legacy ones browsers accept without
            // the semicolon, start with letters; escape whenever letters run
            // into `;` or the run is a known legacy prefix.
            rest.get(n) == Some(&b';') || n >= 2
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(html_escape("A&E <b> &amp; &#1; x&y"), "A&E &lt;b&gt; &amp;amp; &amp;#1; x&y");
        assert_eq!(markdown_escape("a*b_c"), r"a\*b\_c");
    }

    #[test]
    fn placeholders() {
        let p = Policy::builtin().unwrap();
        let loc = &p.locales["en-US"];
        assert_eq!(fill("call {emergency}", loc).unwrap(), "call 911");
        assert!(fill("call {nope}", loc).unwrap_err().contains("nope"));
        assert!(fill("call {emergency", loc).is_err());
    }

    /// The inserts of `missing_leading` / `missing_trailing`, in order.
    fn found<'p, const N: usize>(ins: [Option<Insert<'p>>; N]) -> Vec<Insert<'p>> {
        ins.into_iter().flatten().collect()
    }

    #[test]
    fn leading_and_trailing_presence() {
        let a = Piece::new("AI assistant, not a clinician.", Format::Plain, "c");
        let b = Piece::new("General information.", Format::Plain, "c");
        let hay = normalise("  > ai ASSISTANT,\n not a clinician.  Body text. general   information.");
        assert!(found(missing_leading(&hay, [Some((Kind::Banner, &a))])).is_empty());
        assert!(found(missing_trailing(&hay, [Some((Kind::Footer, &b))])).is_empty());
        // A missing piece goes after the leading pieces that are there.
        let ins =
            found(missing_leading(&hay, [Some((Kind::Notice, &b)), Some((Kind::Banner, &a)), Some((Kind::Line, &b))]));
        assert_eq!(ins.len(), 2);
        assert_eq!(ins[0].place, Place::Start);
        assert!(matches!(ins[1].place, Place::At(n) if hay[..n].ends_with("clinician.")));
        // A piece that does not apply is skipped, not reported.
        let ins = found(missing_leading(&hay, [None, Some((Kind::Banner, &a)), Some((Kind::Line, &b))]));
        assert_eq!(ins.len(), 1);
        assert_eq!(ins[0].kind, Kind::Line);
        // A missing trailing piece goes before the trailing pieces that are there.
        let ins = found(missing_trailing(&hay, [Some((Kind::Banner, &a)), None, Some((Kind::Footer, &b))]));
        assert_eq!(ins.len(), 1);
        assert!(matches!(ins[0].place, Place::At(n) if hay[n..].starts_with("general")));
        // In the middle does not count.
        let hay = normalise("Body. AI assistant, not a clinician. More body.");
        assert_eq!(found(missing_leading(&hay, [Some((Kind::Banner, &a))])).len(), 1);
        // Truncated does not count.
        let hay = normalise("AI assistant, not a clin");
        assert_eq!(found(missing_leading(&hay, [Some((Kind::Banner, &a))])).len(), 1);
    }
}
