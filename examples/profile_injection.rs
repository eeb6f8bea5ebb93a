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
//! The message generator and vocabulary are the bench's (`benches/injection_text.rs`).
use medguard::{Guardrail, Policy};
#[path = "../benches/injection_text.rs"]
mod injection_text;
use injection_text::{CLEAN, message};

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
