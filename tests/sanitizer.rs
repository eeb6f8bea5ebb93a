//! The input sanitizer and the detection view it shares with every check.
//!
//! * Table-driven cases (`testdata/sanitizer/cases.toml`): every obfuscation
//!   beside a benign near-miss that must pass unchanged.
//! * Properties of the view (never panics, exact maps, streaming equals the
//!   whole text) and of the sanitizer (idempotent, the view of the sanitised
//!   text equals the view of the original) on generated text made of the
//!   characters that matter: look-alikes, invisible and tag characters,
//!   combining marks, letter spacing, l33t, scripts with and without case.
//! * 64 KiB adversarial inputs complete (linear time; timings are in the
//!   benches).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::OnceLock;

use medguard::normalize::{Form, View, stable_prefix_len};
use medguard::{Decision, Guardrail, Policy, Qualifier, Span, Verdict};
use proptest::prelude::*;
use serde::Deserialize;

/// Characters that exercise every branch of the view.
const POOL: &[&str] = &[
    "a",
    "e",
    "i",
    "o",
    "s",
    "t",
    "G",
    "N",
    "R",
    " ",
    " ",
    " ",
    "  ",
    ".",
    "-",
    "\n",
    "1",
    "3",
    "0",
    "$",
    "@",
    "7",
    "а",
    "е",
    "о",
    "р",
    "с",
    "ѕ",
    "і",
    "ԁ",
    "Н",
    "Т",
    "п",
    "д",
    "л",
    "α",
    "ο",
    "ι",
    "υ",
    "η",
    "Η",
    "μ",
    "λ",
    "Γ",
    "ß",
    "ς",
    "é",
    "e\u{301}",
    "\u{301}",
    "\u{316}",
    "\u{327}",
    "\u{200B}",
    "\u{200D}",
    "\u{200C}",
    "\u{FE0F}",
    "\u{202E}",
    "\u{2066}",
    "\u{00AD}",
    "\u{FEFF}",
    "\u{0000}",
    "\u{0085}",
    "\u{000B}",
    "\u{0080}",
    "\u{E0041}",
    "\u{E0069}",
    "\u{E0020}",
    "\u{E007F}",
    "\u{E0001}",
    "\u{1F3F4}",
    "\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
    "ｉ",
    "Ａ",
    "𝐢",
    "ⓘ",
    "ﬁ",
    "²",
    "ᴀ",
    "ı",
    "中",
    "文",
    "한",
    "\u{1100}",
    "\u{1161}",
    "\u{11A8}",
    "ب",
    "ש",
    "👩",
    "\u{1F3FD}",
    "⚕",
    "🇺",
    "🇸",
    "·",
    "•",
    "ǅ",
    "\u{0344}",
    "\u{0F73}",
    "Å",
    "\u{212B}",
    "İ",
    "\u{20E3}",
    "#",
    "\u{E0100}",
    "葛",
    "≤",
    "\u{FE00}",
    "\u{180B}",
    "\u{180E}",
    "ᠠ",
    "\u{200E}",
    "\u{200F}",
    "\u{061C}",
    "\u{314F}",
    "\u{000C}",
    "\u{2069}",
    "\u{0F71}",
    "\u{0F72}",
    "\u{1F3F3}",
    "❤",
    "\u{115F}",
    "क",
    "\u{094D}",
    "\u{0308}",
];

fn pool_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(POOL), 0..48).prop_map(|v| v.concat())
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![pool_text(), any::<String>()]
}

fn view(s: &str) -> View {
    let mut v = View::new();
    v.build(s);
    v
}

fn assert_form_maps(s: &str, form: &Form) {
    let n = form.len();
    for i in 0..=n {
        for r in [i..i, i..(i + 1).min(n), 0..i, i..n] {
            let sp = form.span(r);
            assert!(sp.start <= sp.end && sp.end <= s.len(), "{sp:?} outside {}", s.len());
            assert!(s.is_char_boundary(sp.start) && s.is_char_boundary(sp.end), "{sp:?} not on char boundaries");
        }
    }
}

/// Feeds `text` in `piece`-byte chunks, pushing only stable prefixes.
fn streamed(text: &str, piece: usize) -> View {
    let mut v = View::new();
    let mut pending = String::new();
    let mut rest = text;
    let mut produced = String::new();
    while !rest.is_empty() {
        let mut cut = piece.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        pending.push_str(&rest[..cut]);
        rest = &rest[cut..];
        let stable = stable_prefix_len(&pending);
        v.push_str(&pending[..stable]);
        pending.drain(..stable);
        assert!(v.as_str().starts_with(&produced), "main-form bytes changed after a stable push");
        produced.clear();
        produced.push_str(v.as_str());
    }
    v.push_str(&pending);
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn view_never_panics_and_maps_inside_the_original(s in any_text()) {
        let v = view(&s);
        for (form, _) in v.forms() {
            assert_form_maps(&s, form);
        }
        for h in v.hidden_spans() {
            prop_assert!(h.end <= s.len() && s.is_char_boundary(h.start) && s.is_char_boundary(h.end));
        }
        prop_assert_eq!(v.consumed(), s.len());
    }

    #[test]
    fn streaming_equals_the_whole_text(s in pool_text(), piece in 1usize..9) {
        let whole = view(&s);
        let v = streamed(&s, piece);
        prop_assert_eq!(v.as_str(), whole.as_str());
        for i in 0..whole.as_str().len() {
            prop_assert_eq!(v.span(i..i + 1), whole.span(i..i + 1));
        }
        prop_assert_eq!(v.squeezed().map(Form::as_str), whole.squeezed().map(Form::as_str));
        if let (Some(a), Some(b)) = (v.squeezed(), whole.squeezed()) {
            for i in 0..a.len() {
                prop_assert_eq!(a.span(i..i + 1), b.span(i..i + 1));
            }
        }
        prop_assert_eq!(v.hidden_spans(), whole.hidden_spans());
    }

    #[test]
    fn rebuilding_a_view_forgets_the_previous_text(a in pool_text(), b in pool_text()) {
        let mut v = View::new();
        v.build(&a);
        v.build(&b);
        let fresh = view(&b);
        prop_assert_eq!(v.as_str(), fresh.as_str());
        prop_assert_eq!(v.squeezed().map(Form::as_str), fresh.squeezed().map(Form::as_str));
        prop_assert_eq!(v.hidden_spans(), fresh.hidden_spans());
    }

    #[test]
    fn hidden_text_is_reported_where_it_was_decoded(pre in "[a-m ]{0,8}", secret in "[n-z]{1,8}", post in "[a-m ]{0,8}") {
        let tags: String = secret.chars().map(|c| char::from_u32(0xE0000 + c as u32).unwrap()).collect();
        let s = format!("{pre}{tags}{post}");
        let v = view(&s);
        let at = v.as_str().find(secret.as_str()).unwrap();
        let run = Span::new(pre.len(), pre.len() + tags.len());
        prop_assert_eq!(v.hidden_spans(), &[run]);
        prop_assert!(v.is_hidden(at..at + secret.len()));
        prop_assert_eq!(v.span(at..at + secret.len()), run);
    }
}

// ---------------------------------------------------------------------------
// The sanitizer through the guardrail
// ---------------------------------------------------------------------------

/// A guardrail running only the sanitizer, with `[sanitizer]` overrides
/// (a TOML table merged over the built-in policy's section).
fn guard_with(overrides: Option<&toml::Table>) -> Guardrail {
    let mut policy = Policy::builtin().unwrap();
    policy.pipeline.checks = vec!["sanitizer".into()];
    policy.pipeline.dangerous_allow_missing_safety_checks = true;
    if let Some(o) = overrides {
        let mut base = toml::Table::try_from(&policy.sanitizer).unwrap();
        merge(&mut base, o);
        policy.sanitizer = base.try_into().unwrap();
    }
    Guardrail::from_policy(&policy).unwrap()
}

fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

#[derive(Deserialize)]
struct CaseFile {
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Repeat {
    unit: String,
    times: usize,
    prefix: String,
    suffix: String,
}

impl Repeat {
    fn build(&self) -> String {
        format!("{}{}{}", self.prefix, self.unit.repeat(self.times), self.suffix)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    kind: String,
    input: Option<String>,
    input_repeat: Option<Repeat>,
    #[serde(default)]
    stage: Option<String>,
    sanitizer: Option<toml::Table>,
    decision: Option<String>,
    text: Option<String>,
    text_repeat: Option<Repeat>,
    #[serde(default)]
    rules: Vec<String>,
    span: Option<[usize; 2]>,
    #[serde(default)]
    hidden: Vec<String>,
    view: Option<String>,
    squeezed: Option<String>,
}

fn cases() -> Vec<Case> {
    let file: CaseFile = toml::from_str(include_str!("../testdata/sanitizer/cases.toml")).unwrap();
    file.case
}

fn run(guard: &Guardrail, case: &Case, input: &str) -> Verdict<'static> {
    match case.stage.as_deref() {
        None | Some("request") => guard.check_request(input).into_owned(),
        Some("response") => {
            let request = Verdict::allow("", guard.policy_id());
            guard.check_response(&request, input).into_owned()
        }
        Some(other) => panic!("{}: unknown stage {other}", case.name),
    }
}

#[test]
fn table_driven_cases() {
    let cases = cases();
    let mut names = BTreeSet::new();
    let (mut attacks, mut benign) = (0, 0);
    for case in &cases {
        assert!(names.insert(case.name.as_str()), "duplicate case name {}", case.name);
        let input = match (&case.input, &case.input_repeat) {
            (Some(s), None) => s.clone(),
            (None, Some(r)) => r.build(),
            _ => panic!("{}: exactly one of input / input_repeat", case.name),
        };
        let guard = guard_with(case.sanitizer.as_ref());
        let verdict = guard.check_request(&input);
        let verdict = if case.stage.is_some() { run(&guard, case, &input) } else { verdict.into_owned() };
        let found: BTreeSet<&str> = verdict.findings().iter().map(|f| f.rule()).collect();
        match case.kind.as_str() {
            "benign" => {
                benign += 1;
                assert_eq!(verdict.decision(), Decision::Allow, "{}: {:?}", case.name, verdict);
                assert!(verdict.findings().is_empty(), "{}: unexpected findings {found:?}", case.name);
                assert_eq!(verdict.text(), input, "{}", case.name);
                assert!(case.decision.as_deref().is_none_or(|d| d == "allow"), "{}: benign cases allow", case.name);
            }
            "attack" => {
                attacks += 1;
                let want = case.decision.as_deref().unwrap_or_else(|| panic!("{}: decision missing", case.name));
                assert_eq!(verdict.decision().as_str(), want, "{}: {:?}", case.name, verdict);
            }
            other => panic!("{}: unknown kind {other}", case.name),
        }
        let text = case.text.clone().or_else(|| case.text_repeat.as_ref().map(Repeat::build));
        if let Some(text) = text {
            assert_eq!(verdict.text(), text, "{}", case.name);
        } else if verdict.decision() == Decision::Allow {
            assert_eq!(verdict.text(), input, "{}", case.name);
        }
        for rule in &case.rules {
            assert!(found.contains(rule.as_str()), "{}: {rule} missing from {found:?}", case.name);
        }
        if let Some([a, b]) = case.span {
            let f = verdict.findings().iter().find(|f| f.rule() == case.rules[0]).unwrap();
            assert_eq!(f.span(), Span::new(a, b), "{}", case.name);
        }
        for rule in &case.hidden {
            let f = verdict.findings().iter().find(|f| f.rule() == rule).unwrap();
            assert!(f.qualifiers().contains(Qualifier::Hidden), "{}: {rule} not hidden", case.name);
        }
        for f in verdict.findings() {
            let sp = f.span();
            assert!(sp.end <= input.len() && input.is_char_boundary(sp.start) && input.is_char_boundary(sp.end));
            assert!(sp.start < sp.end, "{}: empty span for {}", case.name, f.rule());
            assert_eq!(f.check(), "sanitizer");
        }
        let v = view(&input);
        if let Some(want) = &case.view {
            assert_eq!(v.as_str(), want, "{}: view", case.name);
        }
        if let Some(want) = &case.squeezed {
            let got = v.squeezed().map_or("", Form::as_str);
            assert_eq!(got, want, "{}: squeezed", case.name);
        }
    }
    assert!(attacks >= 40 && benign >= 30, "{attacks} attacks, {benign} benign cases");
}

#[test]
fn clean_text_is_borrowed() {
    let guard = guard_with(None);
    for text in ["What helps a sore throat?", "Me duele la cabeza 🤕", "我头疼", "line\r\nbreaks\tand tabs"] {
        let v = guard.check_request(text);
        assert!(matches!(v.text_cow(), Cow::Borrowed(_)), "{text}");
        assert!(v.is_allowed() && v.findings().is_empty(), "{text}");
    }
}

#[test]
fn builtin_policy_section_is_the_documented_default() {
    let policy = Policy::builtin().unwrap();
    assert_eq!(policy.sanitizer, medguard::checks::sanitizer::SanitizerConfig::default());
    assert_eq!(policy.pipeline.checks.first().map(String::as_str), Some("sanitizer"));
}

#[test]
fn unknown_sanitizer_fields_are_rejected_with_a_line() {
    let mut text = medguard::policy::BUILTIN_POLICY_TOML.to_string();
    text = text.replacen("nfc = true", "nfc = true\nnfkc = true", 1);
    let e = Policy::from_toml_str(&text).unwrap_err();
    assert!(e.to_string().contains("nfkc"), "{e}");
    assert!(e.problems()[0].line().is_some());
}

#[test]
fn over_long_messages_are_blocked_by_the_guardrail_before_the_sanitizer() {
    let guard = guard_with(None);
    let text = "a".repeat(guard.limits().max_input_bytes + 10);
    let v = guard.check_request(&text);
    assert!(v.is_blocked());
    let rules: Vec<&str> = v.findings().iter().map(|f| f.rule()).collect();
    assert_eq!(rules, ["sanitizer.too_long"], "the sanitizer must not run on (or re-report) a blocked message");
}

/// Text the sanitizer never blocks (code flagged only), for properties.
fn sanitize(guard: &Guardrail, text: &str) -> String {
    let v = guard.check_request(text);
    assert!(!v.is_blocked());
    v.text().to_string()
}

/// Guardrails built once for the properties (building compiles regexes).
fn flagging_guard() -> &'static Guardrail {
    static GUARD: OnceLock<Guardrail> = OnceLock::new();
    GUARD.get_or_init(|| {
        let over: toml::Table = toml::from_str("code = { action = \"flag\" }\nconfusables = \"flag\"").unwrap();
        guard_with(Some(&over))
    })
}

fn default_guard() -> &'static Guardrail {
    static GUARD: OnceLock<Guardrail> = OnceLock::new();
    GUARD.get_or_init(|| guard_with(None))
}

/// The pool with code-ish and spam-ish fragments added.
fn sanitizer_text() -> impl Strategy<Value = String> {
    let extra: &[&str] = &["<script>", "' or '1'='1", "; drop table x; --", "${jndi:x}", "héllo", "ای\u{200C}ن"];
    let pool: Vec<&str> = POOL.iter().chain(extra).copied().collect();
    prop_oneof![prop::collection::vec(prop::sample::select(pool), 0..48).prop_map(|v| v.concat()), any::<String>(),]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn sanitizing_twice_equals_sanitizing_once(s in sanitizer_text()) {
        let guard = flagging_guard();
        let once = sanitize(guard, &s);
        let twice = sanitize(guard, &once);
        prop_assert_eq!(&twice, &once);
        // A clean result is forwarded unchanged.
        let again = guard.check_request(&once);
        prop_assert!(matches!(again.text_cow(), Cow::Borrowed(_)));
    }

    /// The view of the sanitised text equals the view of the original, for
    /// every input without tag characters: the sanitiser removes only what
    /// the view ignores, and NFC never changes NFKC. (Tag characters are
    /// excluded on purpose: the view decodes their hidden text, the
    /// sanitiser removes it from the forwarded text.)
    #[test]
    fn view_of_sanitized_text_equals_view_of_original(s in sanitizer_text()) {
        let s: String = s.chars().filter(|c| !matches!(c, '\u{E0000}'..='\u{E007F}')).collect();
        let clean = sanitize(flagging_guard(), &s);
        let (a, b) = (view(&s), view(&clean));
        prop_assert_eq!(a.as_str(), b.as_str());
        prop_assert_eq!(a.squeezed().map(Form::as_str), b.squeezed().map(Form::as_str));
    }

    #[test]
    fn finding_spans_lie_on_char_boundaries(s in sanitizer_text()) {
        let v = default_guard().check_request(&s);
        for f in v.findings() {
            let sp = f.span();
            prop_assert!(sp.start <= sp.end && sp.end <= s.len());
            prop_assert!(s.is_char_boundary(sp.start) && s.is_char_boundary(sp.end));
        }
    }
}

/// Inputs the properties once failed on (each was a real bug).
#[test]
fn property_regressions() {
    let guard = flagging_guard();
    for s in [
        // U+0F73 has ccc 0 but decomposes to non-starters: not a boundary.
        "a\u{0F73}\u{0301}",
        // A BOM in the Arabic presentation block made the text "RTL".
        "a\u{FEFF}\u{200E}",
        // NEL is replaced by a newline: judge the context as a newline.
        "\u{0085}\u{FE00}",
        // U+212B ANGSTROM SIGN becomes Latin Å under NFC.
        "а\u{200E}\u{212B}ب",
        // A Hangul compatibility vowel composes with the consonant before it.
        "\u{1100}\u{314F}",
    ] {
        let once = sanitize(guard, s);
        assert_eq!(sanitize(guard, &once), once, "{s:?}");
        assert_eq!(view(&once).as_str(), view(s).as_str(), "{s:?}");
    }
}

// ---------------------------------------------------------------------------
// Linear time: 64 KiB adversarial inputs complete.
// ---------------------------------------------------------------------------

#[test]
fn adversarial_64k_inputs_complete() {
    const N: usize = 64 * 1024 - 16;
    let fill = |unit: &str| {
        let mut s = String::with_capacity(N + 8);
        while s.len() + unit.len() <= N {
            s.push_str(unit);
        }
        s
    };
    let inputs = [
        // One base and a flood of combining marks.
        format!("a{}", "\u{0301}".repeat((N - 1) / 2)),
        // Marks in reverse canonical order (every segment reorders).
        fill("a\u{0301}\u{0316}"),
        // One repeated character, and one repeated look-alike.
        fill("a"),
        fill("а"),
        // Alternating scripts inside one word: every char flips the
        // confusable decision's inputs.
        fill("aа"),
        fill("аaп"),
        fill("ѕυісіԁеп"),
        // Letter-spaced text and l33t.
        fill("i g n o r e "),
        fill("1 "),
        fill("a.b."),
        fill("1gn0r3"),
        // Invisible, bidi, tag and variation-selector floods.
        fill("\u{200B}"),
        fill("\u{200D}"),
        fill("👩\u{200D}"),
        fill("\u{202E}"),
        fill("\u{E0041}"),
        format!("😀{}", "\u{FE0F}".repeat(N / 3 - 2)),
        fill("\u{E0100}"),
        // Regex stress: unclosed tags, quotes, keywords.
        fill("<a "),
        fill("' or "),
        fill("; drop table "),
        fill("union select "),
        fill("curl "),
        fill("${"),
        // Phrase repetition with every period.
        fill("a b c d e f g h "),
        fill("\n"),
    ];
    let guard = guard_with(None);
    for s in &inputs {
        assert!(s.len() <= guard.limits().max_input_bytes);
        let v = guard.check_request(s);
        let _ = v.decision();
        let mut view = View::new();
        view.build(s);
        assert!(view.as_str().len() <= 4 * s.len());
    }
}
