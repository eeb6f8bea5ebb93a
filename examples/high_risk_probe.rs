//! Prints the high_risk verdict of each stdin line (development aid).
use std::io::BufRead;

use medguard::checks::high_risk::{HighRisk, HighRiskConfig};
use medguard::{Guardrail, Policy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut best = std::time::Duration::MAX;
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let _ = HighRisk::new(&HighRiskConfig::default())?;
        best = best.min(t.elapsed());
    }
    let hr = HighRisk::new(&HighRiskConfig::default())?;
    eprintln!(
        "rules {} compounds {} phrases {} build (min of 5) {:?} memory {} KiB",
        hr.rules_len(),
        hr.compounds_len(),
        hr.phrases().len(),
        best,
        medguard::Check::memory_usage(&hr) / 1024
    );
    if std::env::var_os("PROBE_COUNTS").is_some() {
        let mut c = hr.phrase_counts();
        c.sort_by_key(|x| x.1);
        for (id, n) in c {
            eprintln!("{n:6} {id}");
        }
    }
    let policy = Policy::builtin()?;
    let g = Guardrail::builder().policy(&policy).dangerous().allow_missing_safety_checks().build()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let v = g.check_request(&line);
        let esc = v.escalation().map(|e| format!("{}:{}", e.category(), e.severity())).unwrap_or("-".into());
        let f: Vec<String> = v
            .findings()
            .iter()
            .map(|f| {
                let q: Vec<&str> = f.qualifiers().iter().map(|q| q.as_str()).collect();
                format!("{}={}[{}]{{{}}}", f.rule(), f.severity(), &line[f.span().range()], q.join(","))
            })
            .collect();
        println!("{esc:28} | {line}\n      {}", f.join("  "));
    }
    Ok(())
}
