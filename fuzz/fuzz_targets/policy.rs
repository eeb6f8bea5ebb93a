//! Fuzz target `policy`: arbitrary bytes as a TOML or JSON policy.
//!
//! Invariants:
//!
//! * loading ([`Policy::from_toml_str`] / [`Policy::from_json_str`]) and
//!   building ([`Guardrail::from_policy`]) return `Ok` or a typed error,
//!   never panic or hang;
//! * every reported problem with a line has a line inside the document;
//! * a document over [`MAX_POLICY_BYTES`] is rejected (the input padded
//!   past the limit with trailing whitespace, for one input in 64);
//! * a guardrail that builds checks a message without panicking.
//!
//! The built-in red-flag lexicon is kept for one input in eight only: it
//! takes seconds to build under instrumentation (it is built, and fuzzed
//! through, by the `pipeline` target).
//!
//! The first byte picks the format and the padding; the rest is the text.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz policy fuzz/corpus/policy fuzz/seeds/policy`
#![no_main]

use libfuzzer_sys::fuzz_target;
use medguard::policy::MAX_POLICY_BYTES;
use medguard::{Guardrail, Policy, PolicyError};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let json = selector & 1 == 1;
    let load = |t: &str| if json { Policy::from_json_str(t) } else { Policy::from_toml_str(t) };

    if selector >> 2 == 0x3F {
        let mut big = String::with_capacity(MAX_POLICY_BYTES + 2);
        big.push_str(text);
        while big.len() <= MAX_POLICY_BYTES {
            big.push('\n');
        }
        assert!(load(&big).is_err(), "a document over MAX_POLICY_BYTES was accepted");
        return;
    }

    match load(text) {
        Ok(mut policy) => {
            // The built-in red-flag lexicon (about 23,000 phrases) takes
            // seconds to build under the fuzzer's instrumentation; keep it
            // for one policy in eight (selector bits 1-3 all set) and fuzz
            // the rest of the build at full speed.
            if (selector >> 1) & 7 != 7 {
                policy.high_risk.builtin_rules = false;
            }
            if let Ok(guard) = Guardrail::from_policy(&policy) {
                let req = guard.check_request("I have chest pain and my left arm is numb");
                let _ = guard.check_response(&req, "Please call emergency services now.");
                let _ = guard.memory_usage();
            }
        }
        Err(e) => check_error(&e, text),
    }
});

fn check_error(e: &PolicyError, text: &str) {
    assert!(!e.problems().is_empty(), "a policy error with no problem: {e}");
    let lines = text.lines().count().max(1);
    for p in e.problems() {
        if let Some(line) = p.line() {
            // The line of a problem in the document itself (not a file it
            // names) lies inside the document; a newline at the very end
            // may be reported as the next line.
            if p.source().is_none_or(|s| s == e.source_name()) {
                assert!(line >= 1 && line <= lines + 1, "problem at line {line} of a {lines}-line document: {p}");
            }
        }
    }
}
