//! The `high_risk` check against the bare automaton on clean text, measured
//! interleaved (A, B, A, B, ...) so that load changes on a shared machine hit
//! both sides alike. Prints the median time per message of each side and
//! their ratio. Complements the criterion group `high_risk`.
//!
//! `cargo run --release --example high_risk_overhead`

use std::hint::black_box;
use std::time::Instant;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use medguard::checks::high_risk::{HighRisk, HighRiskConfig, RuleConfig, RuleSeverity};
use medguard::normalize::View;
use medguard::{Guardrail, Policy, Scratch};

const WORDS: &[&str] = &[
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
    "okay",
    "to",
    "take",
    "vitamin",
    "with",
    "food",
    "what",
    "time",
    "does",
    "clinic",
    "open",
    "on",
    "saturday",
    "can",
    "I",
    "bring",
    "records",
    "from",
    "old",
    "practice",
    "portal",
    "login",
    "password",
    "reset",
    "refill",
    "prescription",
    "pharmacy",
    "pickup",
    "Hello,",
    "Thank",
    "you.",
    "Also,",
];

fn clean_text(len: usize) -> String {
    let mut s = String::with_capacity(len + 16);
    let mut x: u32 = 0x9E37_79B9;
    while s.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s.push_str(WORDS[x as usize % WORDS.len()]);
        s.push(' ');
    }
    s.truncate(len);
    s
}

fn guard(config: HighRiskConfig) -> Guardrail {
    let mut policy = Policy::builtin().unwrap();
    policy.pipeline.checks = vec!["high_risk".into()];
    policy.high_risk = config;
    Guardrail::builder().policy(&policy).dangerous().allow_missing_safety_checks().build().unwrap()
}

fn synthetic() -> HighRiskConfig {
    const SYL: &[&str] = &["ka", "lo", "mi", "ven", "dra", "sul", "tor", "pex", "qui", "zan", "rho", "bel"];
    let w = |n: u32| {
        format!("{}{}{}", SYL[(n % 12) as usize], SYL[((n / 12) % 12) as usize], SYL[((n / 144) % 12) as usize])
    };
    let phrases =
        (0..10_000u32).map(|i| format!("{} {} {}", w(i), w(i.wrapping_mul(7) + 3), w(i.wrapping_mul(13) + 5)));
    let rule = RuleConfig {
        id: "synthetic.phrases".into(),
        category: None,
        severity: RuleSeverity::Emergency,
        phrases: phrases.collect(),
        patterns: Vec::new(),
        boundary: Default::default(),
        typos: false,
        number: Vec::new(),
        sources: Vec::new(),
        note: String::new(),
    };
    HighRiskConfig { builtin_rules: false, rules: vec![rule], ..HighRiskConfig::default() }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    for (label, config) in [("built-in", HighRiskConfig::default()), ("10k synthetic", synthetic())] {
        let hr = HighRisk::new(&config).unwrap();
        let raw = AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .match_kind(MatchKind::LeftmostLongest)
            .build(hr.phrases())
            .unwrap();
        let g = guard(config);
        for len in [200usize, 1024, 8192] {
            let text = clean_text(len);
            let mut scratch = Scratch::new();
            let mut view = View::new();
            let reps = (200_000 / len).max(20);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for _ in 0..400 {
                let t = Instant::now();
                for _ in 0..reps {
                    black_box(g.check_request_with(&mut scratch, black_box(&text)).findings().len());
                }
                a.push(t.elapsed().as_secs_f64() / reps as f64);
                let t = Instant::now();
                for _ in 0..reps {
                    view.build(black_box(&text));
                    black_box(raw.find_iter(view.as_str()).count());
                }
                b.push(t.elapsed().as_secs_f64() / reps as f64);
            }
            let (ma, mb) = (median(a), median(b));
            println!(
                "{label:14} {len:5} B: check {:7.2} us  raw_aho_corasick (view + find_iter) {:7.2} us  ratio {:.2}",
                ma * 1e6,
                mb * 1e6,
                ma / mb
            );
        }
    }
}
