//! Times building the built-in `high_risk` check (development aid):
//! `cargo run --release --example high_risk_build_time [-- ROUNDS]`.
//!
//! Prints the median and minimum wall time of `HighRisk::new` with the
//! built-in configuration over ROUNDS builds (default 21), and, on Linux, the
//! median CPU time of the building thread (from `/proc/thread-self/schedstat`),
//! which the load of a shared machine disturbs much less than wall time.
use std::time::{Duration, Instant};

use medguard::checks::high_risk::{HighRisk, HighRiskConfig};

/// CPU time of the current thread so far, when the platform tells it.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(21).max(1);
    let config = HighRiskConfig::default();
    let mut wall = Vec::with_capacity(rounds);
    let mut cpu = Vec::with_capacity(rounds);
    let mut hr = None;
    for _ in 0..rounds {
        let c0 = thread_cpu();
        let t = Instant::now();
        hr = Some(HighRisk::new(&config).unwrap());
        wall.push(t.elapsed());
        if let (Some(a), Some(b)) = (c0, thread_cpu()) {
            cpu.push(b.saturating_sub(a));
        }
    }
    let hr = hr.unwrap();
    let t = Instant::now();
    let _: toml::Value = toml::from_str(include_str!("../src/checks/data/high_risk.toml")).unwrap();
    println!("toml parse alone: {:?}", t.elapsed());
    let min = *wall.iter().min().unwrap();
    println!(
        "built-in high_risk: {} rules, {} compounds, {} phrases; memory {} KiB",
        hr.rules_len(),
        hr.compounds_len(),
        hr.phrases().len(),
        medguard::Check::memory_usage(&hr) / 1024
    );
    println!("build over {rounds} rounds: wall median {:?}, min {min:?}", median(&mut wall));
    if cpu.len() == rounds {
        println!("build over {rounds} rounds: thread CPU median {:?}", median(&mut cpu));
    }
}
