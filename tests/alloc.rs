//! Allocation counts of the clean path, pinned with a counting global
//! allocator (its own test binary: the allocator counts for the whole
//! process, so this binary has ONE test, and nothing else runs while it
//! measures).
//!
//! Pinned (built-in healthcare policy, warm caller-owned [`Scratch`]):
//!
//! * `check_request_with` on a clean 1 KiB ASCII message: 0 allocations;
//! * `check_response_with` on a clean 1 KiB answer: 4 allocations, all of
//!   them from the `disclaimer` check adding the banner and footer: the
//!   banner and footer copied into owned strings for `Context::prepend` /
//!   `Context::append` (2; they take `Cow<'static, str>`, and the texts
//!   belong to the guardrail), the findings vector that moves into the
//!   verdict (1) and the new forwarded `String` (1, unavoidable). The same
//!   pipeline without the disclaimer makes 0 (also asserted);
//! * the same request through `check_request` (the thread-local scratch): 0.
//!
//! Run: `cargo test --test alloc -- --nocapture` (prints the counts,
//! `Guardrail::memory_usage()` and the live heap the built guardrail holds
//! as the counting allocator sees it).

use medguard::{Decision, Guardrail, Policy, Scratch};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const REQUEST: &[&str] = &[
    "Hi, I've had a sore throat and a runny nose for two days. ",
    "What foods are high in fibre? ",
    "Is it normal to feel tired after a flu shot? ",
    "How much water should I drink when it is hot outside? ",
    "My knee has been a bit stiff after running, what stretches help? ",
    "Can I take my vitamin D with breakfast? ",
];

const RESPONSE: &[&str] = &[
    "Warm drinks, honey and rest can soothe a sore throat. ",
    "Beans, lentils, oats and whole grains are rich in fibre. ",
    "Feeling a little tired for a day or two after a vaccine is common. ",
    "Drink regularly through the day and more when you sweat. ",
    "Gentle stretching of the thigh and calf muscles often helps stiffness. ",
];

/// 1 KiB (1,024 bytes) of `parts`, cut at a space.
fn kib(parts: &[&str]) -> String {
    let mut s = String::new();
    for p in parts.iter().cycle() {
        if s.len() >= 1024 {
            break;
        }
        s.push_str(p);
    }
    s.truncate(1023);
    s.push('.');
    s
}

/// Allocations (including reallocations) made by `f`.
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let region = Region::new(GLOBAL);
    let r = f();
    let stats = region.change();
    (stats.allocations + stats.reallocations, r)
}

/// Pinned numbers: a regression that allocates on the clean path fails
/// here. Lower them when the clean path gets cheaper.
const REQUEST_ALLOCS: usize = 0;
const RESPONSE_ALLOCS: usize = 4;

#[test]
fn clean_path_allocations_are_pinned() {
    // Live heap held by the built guardrail: allocated minus freed while
    // building it (what stays is the guardrail).
    let region = Region::new(GLOBAL);
    let guard = Guardrail::healthcare().unwrap();
    let built = region.change();
    let live = (built.bytes_allocated as isize - built.bytes_deallocated as isize) as usize;
    let request = kib(REQUEST);
    let response = kib(RESPONSE);
    assert_eq!(request.len(), 1024);
    assert!(request.is_ascii() && response.is_ascii());

    let mut scratch = Scratch::new();
    // Warm the scratch (and every lazily grown buffer) on the same texts.
    for _ in 0..3 {
        let req = guard.check_request_with(&mut scratch, &request);
        let _ = guard.check_response_with(&mut scratch, &req, &response);
    }

    let (n_req, req) = allocations(|| guard.check_request_with(&mut scratch, &request));
    assert_eq!(req.decision(), Decision::Allow, "{:?}", req.findings());
    assert!(!req.is_escalated());
    let (n_resp, resp) = allocations(|| {
        let v = guard.check_response_with(&mut scratch, &req, &response);
        (v.decision(), v.text().len())
    });
    assert_eq!(resp.0, Decision::Modify, "the clean answer gets the disclaimer");
    assert!(resp.1 > response.len());

    for _ in 0..3 {
        let _ = guard.check_request(&request);
    }
    let (n_tls, _) = allocations(|| guard.check_request(&request).decision());

    // Ten calls in a row: the count does not grow per call.
    let (n_ten, ()) = allocations(|| {
        for _ in 0..10 {
            let req = guard.check_request_with(&mut scratch, &request);
            assert!(req.is_allowed());
        }
    });

    // The disclaimer's share: the same pipeline without it.
    let mut policy = Policy::builtin().unwrap();
    policy.pipeline.checks.retain(|c| c != "disclaimer");
    let bare = Guardrail::builder().policy(&policy).dangerous().allow_missing_safety_checks().build().unwrap();
    let mut bare_scratch = Scratch::new();
    for _ in 0..3 {
        let req = bare.check_request_with(&mut bare_scratch, &request);
        let _ = bare.check_response_with(&mut bare_scratch, &req, &response);
    }
    let req = bare.check_request_with(&mut bare_scratch, &request);
    let (n_bare, bare_decision) =
        allocations(|| bare.check_response_with(&mut bare_scratch, &req, &response).decision());
    assert_eq!(bare_decision, Decision::Allow);
    println!("check_response_with without the disclaimer check: {n_bare} allocations");

    let memory = guard.memory_usage();
    println!("check_request_with, clean 1 KiB ASCII, warm scratch: {n_req} allocations");
    println!("check_response_with, clean 1 KiB answer, warm scratch: {n_resp} allocations");
    println!("check_request (thread-local scratch), clean 1 KiB ASCII: {n_tls} allocations");
    println!("10 x check_request_with: {n_ten} allocations");
    println!("Guardrail::healthcare().memory_usage(): {memory} bytes");
    println!("live heap held after Guardrail::healthcare() (counting allocator): {live} bytes");

    assert_eq!(n_req, REQUEST_ALLOCS, "check_request_with allocations on the clean path");
    assert_eq!(n_resp, RESPONSE_ALLOCS, "check_response_with allocations on the clean path");
    assert_eq!(n_tls, REQUEST_ALLOCS, "check_request allocations on the clean path");
    assert_eq!(n_ten, 10 * REQUEST_ALLOCS);
    assert_eq!(n_bare, 0, "without the disclaimer, the clean answer passes borrowed and allocation-free");
    // The compiled built-in policy: a few MiB of automata and tables, not
    // nothing (memory_usage counts the checks) and not unbounded.
    assert!((100_000..256 << 20).contains(&memory), "memory_usage() = {memory}");
    // memory_usage() is a floor of the same heap that covers most of it:
    // the compiled regexes of sanitizer and diagnosis are counted as the
    // regex engine reports them; not counted are the injection check's few
    // regexes, allocator slack and small per-check tables. Measured: 27.0 MB
    // of 33.4 MB (18.9 MB before the regex engines were counted).
    assert!(
        memory <= live && live * 4 <= memory * 5,
        "memory_usage() = {memory}, live heap = {live}: more than a fifth uncounted"
    );
}
