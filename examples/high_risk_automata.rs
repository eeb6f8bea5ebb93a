//! Measures the Aho-Corasick automaton kinds on the built-in lexicon's
//! phrases: build time, memory and `find_iter` throughput on 64 KiB of
//! chat-like text (the measurement behind the kind chosen in
//! `src/checks/high_risk/phrases.rs`).
//!
//! `cargo run --release --example high_risk_automata`
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use medguard::checks::high_risk::{HighRisk, HighRiskConfig};
use std::time::Instant;

fn main() {
    let hr = HighRisk::new(&HighRiskConfig::default()).unwrap();
    let pats: Vec<&str> = hr.phrases().collect();
    let words = [
        "the",
        "patient",
        "asked",
        "about",
        "their",
        "appointment",
        "schedule",
        "and",
        "insurance",
        "coverage",
        "for",
        "a",
        "routine",
        "checkup",
        "next",
        "week",
        "with",
        "doctor",
        "please",
        "thanks",
        "my",
        "knee",
        "has",
        "been",
        "sore",
        "after",
        "running",
        "is",
        "it",
        "ok",
        "to",
        "take",
        "vitamin",
        "d",
    ];
    let mut text = String::new();
    let mut i = 7usize;
    while text.len() < 1024 * 64 {
        text.push_str(words[i % words.len()]);
        text.push(' ');
        i = i.wrapping_mul(31).wrapping_add(17) % 1000;
    }
    let kinds = [
        (AhoCorasickKind::DFA, 3),
        (AhoCorasickKind::ContiguousNFA, 3),
        (AhoCorasickKind::ContiguousNFA, 2),
        (AhoCorasickKind::ContiguousNFA, 1),
        (AhoCorasickKind::NoncontiguousNFA, 3),
    ];
    for (kind, depth) in kinds {
        let t = Instant::now();
        let ac = AhoCorasick::builder()
            .kind(Some(kind))
            .dense_depth(depth)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&pats)
            .unwrap();
        let bt = t.elapsed();
        let t = Instant::now();
        let mut n = 0;
        for _ in 0..200 {
            n += ac.find_iter(&text).count();
        }
        let el = t.elapsed();
        let mbs = (text.len() * 200) as f64 / el.as_secs_f64() / 1e6;
        println!(
            "{kind:?} dense_depth {depth}: patterns {} build {bt:?} mem {} KiB scan {mbs:.0} MB/s matches {n}",
            pats.len(),
            ac.memory_usage() / 1024
        );
    }
}
