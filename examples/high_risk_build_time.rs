//! Times the stages of building the built-in `high_risk` check (development aid):
//! `cargo run --release --example high_risk_build_time`.
use std::time::{Duration, Instant};

use medguard::checks::high_risk::{HighRisk, HighRiskConfig};

fn main() {
    let mut best = Duration::MAX;
    let mut hr = None;
    for _ in 0..10 {
        let t = Instant::now();
        hr = Some(HighRisk::new(&HighRiskConfig::default()).unwrap());
        best = best.min(t.elapsed());
    }
    let hr = hr.unwrap();
    let t = Instant::now();
    let _: toml::Value = toml::from_str(include_str!("../src/checks/data/high_risk.toml")).unwrap();
    println!("toml parse alone: {:?}", t.elapsed());
    println!(
        "built-in high_risk: {} rules, {} compounds, {} phrases; build min of 10: {:?}; memory {} KiB",
        hr.rules_len(),
        hr.compounds_len(),
        hr.phrases().len(),
        best,
        medguard::Check::memory_usage(&hr) / 1024
    );
}
