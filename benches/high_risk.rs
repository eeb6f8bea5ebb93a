//! Criterion group `high_risk`: the red-flag check on clean chat-like text,
//! beside the bare automaton over the same view.
//!
//! * `check/<size>`: `Guardrail::check_request_with` with only the
//!   `high_risk` check and the built-in lexicon (view build + check).
//! * `raw_aho_corasick/<size>`: the view build plus the bare automaton's
//!   `find_iter` over the view, with the same phrases and settings
//!   (contiguous NFA, leftmost-longest).
//! * `raw_view/<size>`: the view build alone.
//! * `check_10k/1KiB`, `raw_aho_corasick_10k/1KiB`: the same with a synthetic
//!   10,000-phrase lexicon.
//! * `build/builtin`: building the check with the built-in lexicon
//!   (`HighRisk::new`: parsing, expansion, variants, tables and both
//!   automata), beside `raw_aho_corasick_build/builtin`, building the bare
//!   automaton alone from the same final phrases.
//!
//! Run: `cargo bench --bench high_risk -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
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

/// Deterministic chat-like text of `len` bytes with no red-flag phrase.
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

fn raw_automaton(hr: &HighRisk) -> AhoCorasick {
    AhoCorasick::builder()
        .kind(Some(AhoCorasickKind::ContiguousNFA))
        .match_kind(MatchKind::LeftmostLongest)
        .build(hr.phrases())
        .unwrap()
}

fn guard(config: HighRiskConfig) -> Guardrail {
    let mut policy = Policy::builtin().unwrap();
    policy.pipeline.checks = vec!["high_risk".into()];
    policy.high_risk = config;
    Guardrail::builder().policy(&policy).dangerous().allow_missing_safety_checks().build().unwrap()
}

/// 10,000 synthetic three-word phrases that never occur in `clean_text`.
fn synthetic_config() -> HighRiskConfig {
    const SYL: &[&str] = &["ka", "lo", "mi", "ven", "dra", "sul", "tor", "pex", "qui", "zan", "rho", "bel"];
    let w = |n: u32| {
        format!("{}{}{}", SYL[(n % 12) as usize], SYL[((n / 12) % 12) as usize], SYL[((n / 144) % 12) as usize])
    };
    let phrases: Vec<String> = (0..10_000u32)
        .map(|i| format!("{} {} {}", w(i), w(i.wrapping_mul(7) + 3), w(i.wrapping_mul(13) + 5)))
        .collect();
    let rule = RuleConfig {
        id: "synthetic.phrases".into(),
        category: None,
        severity: RuleSeverity::Emergency,
        phrases,
        patterns: Vec::new(),
        boundary: Default::default(),
        typos: false,
        number: Vec::new(),
        sources: Vec::new(),
        note: String::new(),
    };
    HighRiskConfig { builtin_rules: false, rules: vec![rule], ..HighRiskConfig::default() }
}

fn bench(c: &mut Criterion) {
    let builtin = HighRisk::new(&HighRiskConfig::default()).unwrap();
    let synthetic = HighRisk::new(&synthetic_config()).unwrap();
    let raw = raw_automaton(&builtin);
    let raw10k = raw_automaton(&synthetic);
    let g = guard(HighRiskConfig::default());
    let g10k = guard(synthetic_config());

    let mut group = c.benchmark_group("high_risk");
    for (name, len) in [("200B", 200), ("1KiB", 1024), ("8KiB", 8 * 1024)] {
        let text = clean_text(len);
        let mut view = View::new();
        // Clean: no finding (the bare automaton may still match inside words,
        // like "uti" in "routine", which the check rejects on word boundaries).
        assert!(g.check_request(&text).findings().is_empty(), "the clean text must not match");
        assert!(g10k.check_request(&text).findings().is_empty(), "the clean text must not match");
        group.throughput(Throughput::Bytes(len as u64));
        let mut scratch = Scratch::new();
        group.bench_function(format!("check/{name}"), |b| {
            b.iter(|| black_box(g.check_request_with(&mut scratch, black_box(&text)).findings().len()))
        });
        group.bench_function(format!("raw_aho_corasick/{name}"), |b| {
            b.iter(|| {
                view.build(black_box(&text));
                black_box(raw.find_iter(view.as_str()).count())
            })
        });
        group.bench_function(format!("raw_view/{name}"), |b| {
            b.iter(|| {
                view.build(black_box(&text));
                black_box(view.as_str().len())
            })
        });
        if len == 1024 {
            let mut scratch = Scratch::new();
            group.bench_function(format!("check_10k/{name}"), |b| {
                b.iter(|| black_box(g10k.check_request_with(&mut scratch, black_box(&text)).findings().len()))
            });
            group.bench_function(format!("raw_aho_corasick_10k/{name}"), |b| {
                b.iter(|| {
                    view.build(black_box(&text));
                    black_box(raw10k.find_iter(view.as_str()).count())
                })
            });
        }
    }
    group.finish();

    // Building: slow per iteration, so fewer samples.
    let mut group = c.benchmark_group("high_risk");
    group.sample_size(10);
    let config = HighRiskConfig::default();
    let phrases: Vec<String> = builtin.phrases().map(String::from).collect();
    group.bench_function("build/builtin", |b| b.iter(|| black_box(HighRisk::new(black_box(&config)).unwrap())));
    group.bench_function("raw_aho_corasick_build/builtin", |b| {
        b.iter(|| {
            black_box(
                AhoCorasick::builder()
                    .kind(Some(AhoCorasickKind::ContiguousNFA))
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(black_box(&phrases))
                    .unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
