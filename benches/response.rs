//! Bench group `response`: the `diagnosis` + `disclaimer` checks on
//! model answers of 1 KiB and 8 KiB, beside raw baselines over the same
//! detection view:
//!
//! * `response/check/<size>`: `Guardrail::check_response_with` with the
//!   built-in policy (view built once per message, both checks, verdict
//!   assembled, disclaimer added);
//! * `response/raw_regex/<size>`: every enabled rule's compiled regular
//!   expression run bare (`find_iter`) over the prebuilt view, what a naive
//!   implementation without prefilter or sentence scoping would do;
//! * `response/raw_aho_corasick/<size>`: the trigger automaton alone over the
//!   prebuilt view (the lower bound of the check's scan);
//! * `response/view_only/<size>`: building the shared detection view, which
//!   `check` includes and the raw baselines do not (the guardrail builds it
//!   once per message for every check).
//!
//! Inputs are deterministic: safe consumer-health prose with a realistic
//! density of trigger words ("you", "it's", doses, "stop"), cut to size.
//!
//! `cargo bench --bench response -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use aho_corasick::{AhoCorasick, MatchKind};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use medguard::checks::diagnosis::Diagnosis;
use medguard::normalize::View;
use medguard::{Guardrail, Policy, Scratch, Verdict};
use regex::Regex;

const SENTENCES: &[&str] = &[
    "Headaches are common, and most are not caused by a serious illness.",
    "If you have diabetes, it's important to check your feet every day.",
    "A doctor can tell whether this is a migraine or another kind of headache.",
    "Ibuprofen's label lists a maximum daily dose; ask your pharmacist how much is safe for you.",
    "Don't stop taking your medication without talking to your prescriber first.",
    "Adults should not take more than 4,000 mg of acetaminophen in 24 hours.",
    "Stroke symptoms include face drooping, arm weakness and speech difficulty.",
    "If you notice any of these, call 911 right away, even if they go away.",
    "Rest, fluids and time usually help a cold get better within a week.",
    "You may want to ask your doctor whether a cholesterol test is right for you.",
    "Keep taking your inhaler as prescribed, and tell your doctor if you need it more often.",
    "Many people find that regular exercise and sleep make headaches less frequent.",
];

fn answer(size: usize) -> String {
    let mut s = String::with_capacity(size + 128);
    let mut i = 0;
    while s.len() < size {
        s.push_str(SENTENCES[i % SENTENCES.len()]);
        s.push(if i % 5 == 4 { '\n' } else { ' ' });
        i += 1;
    }
    s.truncate(size);
    while !s.is_char_boundary(s.len()) {
        s.pop();
    }
    s
}

fn bench(c: &mut Criterion) {
    let policy = Policy::builtin().unwrap();
    let guard = Guardrail::from_policy(&policy).unwrap();
    let diagnosis = Diagnosis::from_policy(&policy).unwrap();
    let regexes: Vec<Regex> = diagnosis.rule_patterns().map(|(_, p)| Regex::new(p).unwrap()).collect();
    let triggers: Vec<&str> = diagnosis.trigger_literals().collect();
    let automaton = AhoCorasick::builder().match_kind(MatchKind::Standard).build(&triggers).unwrap();
    let request = Verdict::allow("", guard.policy_id());

    let mut group = c.benchmark_group("response");
    for (name, size) in [("1KiB", 1024), ("8KiB", 8 * 1024)] {
        let text = answer(size);
        let mut view = View::new();
        view.build(&text);
        group.throughput(Throughput::Bytes(text.len() as u64));

        let mut scratch = Scratch::new();
        // The clean answer passes the diagnosis check untouched.
        let v = guard.check_response_with(&mut scratch, &request, &text);
        assert!(v.findings().iter().all(|f| f.check() != "diagnosis"), "bench input must be clean");
        group.bench_function(format!("check/{name}"), |b| {
            b.iter(|| black_box(guard.check_response_with(&mut scratch, &request, black_box(&text))))
        });
        group.bench_function(format!("raw_regex/{name}"), |b| {
            b.iter(|| {
                let hay = black_box(view.as_str());
                regexes.iter().map(|r| r.find_iter(hay).count()).sum::<usize>()
            })
        });
        let mut v2 = View::new();
        group.bench_function(format!("view_only/{name}"), |b| {
            b.iter(|| {
                v2.build(black_box(&text));
                v2.as_str().len()
            })
        });
        group.bench_function(format!("raw_aho_corasick/{name}"), |b| {
            b.iter(|| automaton.find_overlapping_iter(black_box(view.as_str())).count())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
