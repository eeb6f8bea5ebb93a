//! Runs the built-in pipeline on one 1 KiB exchange (request, then response)
//! many times, for instruction-level profiling; the machine's wall clock is
//! too noisy for small changes, instruction counts are not:
//!
//! ```sh
//! cargo build --release --example profile_exchange
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     target/release/examples/profile_exchange 2000
//! callgrind_annotate --inclusive=yes /tmp/cg.out | head -60
//! ```
//!
//! The argument is the number of exchanges (default 2000); building the
//! guardrail is counted once, so divide the `check_*` functions' inclusive
//! counts by it for a per-exchange figure.

use std::hint::black_box;

use medguard::{Guardrail, Scratch};

const REQUEST: &str = "Hi, I'm 42 and for the last three days I've had a dull headache behind my eyes \
that gets worse in the afternoon. I've been sleeping badly because of work and drinking more coffee \
than usual, maybe four or five cups a day. I took ibuprofen twice yesterday and it helped a little. \
No fever, no vomiting, my vision is fine and I don't have any weakness or numbness anywhere. My \
mother had migraines when she was younger. Is there anything I can do at home to feel better, and \
when should I think about seeing someone about it? I also wanted to ask whether cutting down on \
coffee suddenly could make the headache worse for a few days, and if drinking more water helps. \
Thanks for any advice you can give me, I just want to get through the week.";

const RESPONSE: &str = "Headaches like the one you describe are common, and most are not caused by \
a serious illness. Poor sleep, stress and changes in caffeine intake are frequent triggers. Cutting \
down on coffee suddenly can cause withdrawal headaches for a few days, so reducing it gradually is \
usually easier. Drinking enough water, regular meals, and a consistent sleep schedule often help. \
Over-the-counter pain relievers can be used as directed on the label, but using them on more than \
a few days a week can itself lead to more headaches. A doctor or pharmacist can tell you which \
option suits you and whether a check-up makes sense. Please seek care promptly if the headache \
becomes sudden and severe, comes with fever, a stiff neck, confusion, weakness, numbness, trouble \
speaking or changes in vision, or if it follows a head injury.";

fn main() -> Result<(), medguard::Error> {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let guard = Guardrail::healthcare()?;
    let mut scratch = Scratch::new();
    let mut findings = 0;
    for _ in 0..n {
        let request = guard.check_request_with(&mut scratch, black_box(REQUEST));
        let response = guard.check_response_with(&mut scratch, &request, black_box(RESPONSE));
        findings += request.findings().len() + response.findings().len();
    }
    println!("{n} exchanges of {} + {} bytes, {findings} findings", REQUEST.len(), RESPONSE.len());
    Ok(())
}
