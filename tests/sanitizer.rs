//! The input sanitizer and the detection view it shares with every check.
//!
//! Properties of the view (never panics, exact maps, streaming equals the
//! whole text) run on generated text made of the characters that matter:
//! look-alikes, invisible and tag characters, combining marks, letter
//! spacing, l33t, scripts with and without case.

use medguard::Span;
use medguard::normalize::{Form, View, stable_prefix_len};
use proptest::prelude::*;

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
