//! Runs the `injection` check N times on the bench's 1 KiB clean patient
//! message, for instruction counts under callgrind (the difference between
//! two runs is the per-check cost, without the build):
//!
//! ```text
//! cargo build --release --example profile_injection
//! for n in 500 1500; do
//!   valgrind --tool=callgrind --callgrind-out-file=cg.$n ./target/release/examples/profile_injection $n
//! done
//! # per check = (Ir(1500) - Ir(500)) / 1000
//! ```
//!
//! The message generator and vocabulary are copied from `benches/injection.rs`.
use medguard::{Guardrail, Policy};
/// The bench's patient-message vocabulary.
const CLEAN: &[&str] = &[
    "I",
    "have",
    "had",
    "a",
    "dull",
    "headache",
    "for",
    "three",
    "days",
    "and",
    "my",
    "doctor",
    "said",
    "to",
    "take",
    "ibuprofen",
    "with",
    "food",
    "but",
    "it",
    "still",
    "hurts",
    "when",
    "I",
    "stand",
    "up",
    "is",
    "this",
    "normal",
    "should",
    "worry",
    "about",
    "blood",
    "pressure",
    "mother",
    "also",
    "has",
    "diabetes",
    "since",
    "last",
    "year",
    "the",
    "pain",
    "gets",
    "worse",
    "at",
    "night",
    "no",
    "fever",
    "what",
    "can",
    "do",
    "at",
    "home",
    "thanks",
    "my",
    "son",
    "is",
    "7",
    "and",
    "coughing",
    "a",
    "lot",
    "we",
    "tried",
    "honey",
    "tea",
    "the",
    "pharmacist",
    "suggested",
    "rest",
    "is",
    "it",
    "safe",
    "to",
    "give",
    "him",
    "children's",
    "tylenol",
    "or",
    "should",
    "we",
    "see",
    "the",
    "pediatrician",
    "today",
    "I",
    "also",
    "noticed",
    "a",
    "rash",
    "on",
    "his",
    "arm",
    "that",
    "itches",
    "could",
    "it",
    "be",
    "an",
    "allergy",
    "to",
    "the",
    "new",
    "soap",
    "we",
    "started",
    "using",
    "last",
    "week",
    "previous",
    "system",
];
/// The bench's message generator.
fn message(words: &[&str], len: usize) -> String {
    let mut s = String::with_capacity(len + 16);
    let mut x: u32 = 0x9E37_79B9;
    while s.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let w = words[(x as usize) % words.len()];
        s.push_str(w);
        s.push(if x.is_multiple_of(11) { '.' } else { ' ' });
    }
    s.truncate(len);
    s
}
fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let mut policy = Policy::builtin().expect("built-in policy");
    policy.pipeline.checks = vec!["injection".into()];
    policy.pipeline.dangerous_allow_missing_safety_checks = true;
    let g = Guardrail::from_policy(&policy).expect("guardrail builds");
    let m = message(CLEAN, 1024);
    let mut s = medguard::Scratch::default();
    let mut k = 0;
    for _ in 0..n {
        k += g.check_request_with(&mut s, &m).findings().len();
    }
    println!("{k}");
}
