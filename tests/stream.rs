//! The stream guard: released text plus tail equals the whole-text verdict,
//! cut-off on block, hold-back on escalated exchanges.

use medguard::{Check, CheckError, Context, Guardrail, Severity, Span, Stages, StreamConfig, Verdict};
use proptest::prelude::*;

/// Removes every "darn" (an edit on the original text).
struct Remover;
impl Check for Remover {
    fn id(&self) -> &str {
        "remover"
    }
    fn stages(&self) -> Stages {
        Stages::RESPONSE
    }
    fn check(&self, cx: &mut Context<'_>) -> Result<(), CheckError> {
        let view = cx.view().as_str();
        let mut from = 0;
        while let Some(i) = view[from..].find("darn") {
            let at = from + i;
            let span = cx.view().span(at..at + 4);
            cx.report("remover.darn", "test", Severity::Warning, span);
            cx.edit(span, "");
            from = at + 4;
        }
        Ok(())
    }
}

/// Blocks on "forbidden".
struct Stopper;
impl Check for Stopper {
    fn id(&self) -> &str {
        "stopper"
    }
    fn stages(&self) -> Stages {
        Stages::RESPONSE
    }
    fn check(&self, cx: &mut Context<'_>) -> Result<(), CheckError> {
        if let Some(i) = cx.view().as_str().find("forbidden") {
            let span = cx.view().span(i..i + 9);
            cx.report("stopper.forbidden", "test", Severity::High, span);
            cx.block("[safe replacement]");
        }
        Ok(())
    }
}

/// Adds a banner and a footer, like the disclaimer.
struct Banner;
impl Check for Banner {
    fn id(&self) -> &str {
        "banner"
    }
    fn stages(&self) -> Stages {
        Stages::RESPONSE
    }
    fn runs_after_block(&self) -> bool {
        true
    }
    fn check(&self, cx: &mut Context<'_>) -> Result<(), CheckError> {
        cx.prepend("[AI assistant] ");
        cx.append(" [footer]");
        Ok(())
    }
}

/// Escalates every request that mentions "stroke".
struct Escalator;
impl Check for Escalator {
    fn id(&self) -> &str {
        "escalator"
    }
    fn stages(&self) -> Stages {
        Stages::REQUEST
    }
    fn check(&self, cx: &mut Context<'_>) -> Result<(), CheckError> {
        if cx.view().as_str().contains("stroke") {
            cx.report("escalator.stroke", "stroke", Severity::Emergency, Span::new(0, 0));
            cx.escalate("stroke", Severity::Emergency);
        }
        Ok(())
    }
}

fn guard() -> Guardrail {
    Guardrail::builder()
        .check(Remover)
        .check(Stopper)
        .check(Escalator)
        .check(Banner)
        .dangerous()
        .allow_missing_safety_checks()
        .build()
        .unwrap()
}

fn small() -> StreamConfig {
    StreamConfig { window: 16, hold_min: 32, min_step: 8 }
}

/// Streams `text` in pieces of the given sizes; returns (shown text, end).
fn stream(
    g: &Guardrail,
    request: &Verdict<'_>,
    text: &str,
    sizes: &[usize],
    config: StreamConfig,
) -> (String, medguard::StreamEnd, usize) {
    let mut s = g.response_stream_with(request, config);
    let mut shown = String::new();
    let mut releases = 0;
    let mut rest = text;
    let mut i = 0;
    while !rest.is_empty() {
        let mut n = sizes[i % sizes.len()].max(1).min(rest.len());
        while !rest.is_char_boundary(n) {
            n += 1;
        }
        let r = s.push(&rest[..n]);
        if !r.text().is_empty() {
            releases += 1;
        }
        shown.push_str(r.text());
        rest = &rest[n..];
        i += 1;
    }
    let end = s.finish();
    shown.push_str(&end.tail);
    (shown, end, releases)
}

fn long_answer() -> String {
    let mut t = String::new();
    for i in 0..40 {
        t.push_str(&format!("Sentence number {i} is about hydration, darn it, and rest. "));
        if i % 7 == 3 {
            t.push('\n');
        }
    }
    t
}

#[test]
fn streamed_text_equals_the_whole_text_verdict() {
    let g = guard();
    let req = g.check_request("how do I stay hydrated?");
    let text = long_answer();
    let whole = g.check_response(&req, &text);
    for sizes in [&[1usize][..], &[7], &[13, 2, 50], &[1000]] {
        let (shown, end, releases) = stream(&g, &req, &text, sizes, small());
        assert_eq!(end.verdict, whole.clone().into_owned());
        assert!(!end.cut_off);
        assert_eq!(shown, whole.text(), "sizes {sizes:?}");
        if sizes[0] < 100 {
            assert!(releases > 1, "text should flow before the end (sizes {sizes:?})");
        }
    }
}

#[test]
fn a_block_cuts_the_stream_off_once() {
    let g = guard();
    let req = g.check_request("question");
    let mut text = long_answer();
    text.insert_str(900, " This is forbidden advice. ");
    let mut s = g.response_stream_with(&req, small());
    let mut cut = None;
    for (i, chunk) in text.as_bytes().chunks(10).enumerate() {
        let r = s.push(std::str::from_utf8(chunk).unwrap());
        if r.is_cut_off() {
            assert!(r.text().contains("[safe replacement]"));
            cut = Some(i);
        } else if cut.is_some() {
            assert!(r.text().is_empty(), "nothing may follow a cut-off");
        }
    }
    assert!(cut.is_some());
    let end = s.finish();
    assert!(end.cut_off && end.verdict.is_blocked() && end.tail.is_empty());
    assert_eq!(end.verdict, g.check_response(&req, &text).into_owned());
}

#[test]
fn an_escalated_exchange_is_held_until_the_end() {
    let g = guard();
    let req = g.check_request("I think I'm having a stroke");
    assert!(req.is_escalated());
    let text = long_answer();
    let (shown, end, releases) = stream(&g, &req, &text, &[9], small());
    assert_eq!(releases, 0);
    assert_eq!(shown, end.verdict.text());
}

#[test]
fn nothing_is_released_before_hold_min() {
    let g = guard();
    let req = g.check_request("q");
    let mut s = g.response_stream(&req);
    let r = s.push("Short first sentence. Another one. ");
    assert!(r.text().is_empty());
}

#[test]
fn over_limit_streams_end_blocked() {
    let g = Guardrail::builder()
        .check(Banner)
        .limits(medguard::Limits { max_input_bytes: 100, ..Default::default() })
        .dangerous()
        .allow_missing_safety_checks()
        .build()
        .unwrap();
    let req = g.check_request("q");
    let text = "word ".repeat(100);
    let (_, end, _) = stream(&g, &req, &text, &[30], small());
    assert!(end.verdict.is_blocked());
    assert!(end.verdict.findings().iter().any(|f| f.rule() == "sanitizer.too_long"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_chunking_matches_the_whole_text(
        words in proptest::collection::vec(prop_oneof!["[a-z]{1,8}", Just("darn".to_string()), Just(".".to_string()), Just("\n".to_string()), Just("é".to_string()), Just("e\u{301}".to_string())], 0..200),
        sizes in proptest::collection::vec(1usize..40, 1..8),
    ) {
        let g = guard();
        let req = g.check_request("q");
        let text = words.join(" ");
        let whole = g.check_response(&req, &text);
        let (shown, end, _) = stream(&g, &req, &text, &sizes, small());
        prop_assert_eq!(&end.verdict, &whole.clone().into_owned());
        prop_assert_eq!(shown.as_str(), whole.text());
    }
}
