//! Fuzz target `normalize`: the detection view and the sanitizer on
//! arbitrary text.
//!
//! Invariants:
//!
//! * every byte and every range of the view's forms (main and squeezed) maps
//!   back into the original text, on its char boundaries;
//! * a view built in two pieces cut where `stable_prefix_len` says equals
//!   the view of the whole text (what the stream guard relies on);
//! * the sanitizer is idempotent: sanitizing its own output changes nothing.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz normalize fuzz/corpus/normalize fuzz/seeds/normalize`
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use medguard::normalize::{Form, View, stable_prefix_len};
use medguard::{Guardrail, Policy};

/// A pipeline with only the sanitizer, so its output is the forwarded text.
static SANITIZER: LazyLock<Guardrail> = LazyLock::new(|| {
    let mut policy = Policy::builtin().expect("the built-in policy parses");
    policy.pipeline.checks = vec!["sanitizer".into()];
    Guardrail::builder()
        .policy(&policy)
        .dangerous()
        .allow_missing_safety_checks()
        .build()
        .expect("the sanitizer-only pipeline builds")
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };

    let mut view = View::new();
    view.build(text);
    check_form(view.main(), text);
    if let Some(sq) = view.squeezed() {
        check_form(sq, text);
    }

    // Appending in two pieces, cut where the view says it is stable.
    let cut = stable_prefix_len(text);
    assert!(cut <= text.len() && text.is_char_boundary(cut));
    let mut pieces = View::new();
    pieces.build(&text[..cut]);
    pieces.push_str(&text[cut..]);
    assert_eq!(pieces.as_str(), view.as_str(), "view in pieces (cut at {cut}) differs from the whole");

    // Sanitizing is idempotent.
    let first = SANITIZER.check_request(text);
    if !first.is_blocked() {
        let once = first.text();
        let second = SANITIZER.check_request(once);
        if !second.is_blocked() {
            assert_eq!(second.text(), once, "sanitizing the sanitized text changed it");
        }
    }
});

fn check_form(form: &Form, original: &str) {
    let len = form.len();
    let ok = |s: medguard::Span| {
        s.start <= s.end
            && s.end <= original.len()
            && original.is_char_boundary(s.start)
            && original.is_char_boundary(s.end)
    };
    for i in 0..len {
        let s = form.span_at(i);
        assert!(ok(s), "byte {i} of the form maps to {s:?} (original len {})", original.len());
    }
    let whole = form.span(0..len);
    assert!(ok(whole));
    // Ranges at every char boundary of the form, paired with a far end.
    let bounds: Vec<usize> = (0..=len).filter(|&i| form.as_str().is_char_boundary(i)).collect();
    for (k, &a) in bounds.iter().enumerate() {
        let b = bounds[(k * 7 + 3) % bounds.len()];
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        let s = form.span(a..b);
        assert!(ok(s), "range {a}..{b} of the form maps to {s:?}");
    }
}
