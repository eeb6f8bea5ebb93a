//! The tower layer: blocked requests never reach the model, answers are
//! judged in the context of their request, verdicts reach the response and
//! the audit sink.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use medguard::audit::{AuditError, AuditEvent, AuditSink};
use medguard::tower::{Exchange, GuardLayer, GuardedRequest, GuardedResponse, block_on_ready};
use medguard::{Check, CheckError, Guardrail, Policy, Severity, Span, Stages};
use tower_layer::Layer;
use tower_service::Service;

struct Ask(String);
#[derive(Debug)]
struct Answer {
    text: String,
    exchange: Option<Exchange>,
}

impl GuardedRequest for Ask {
    fn text(&self) -> &str {
        &self.0
    }
    fn set_text(&mut self, text: String) {
        self.0 = text;
    }
    fn audit_id(&self) -> Option<String> {
        Some("ex-1".into())
    }
}

impl GuardedResponse for Answer {
    fn text(&self) -> &str {
        &self.text
    }
    fn set_text(&mut self, text: String) {
        self.text = text;
    }
    fn blocked(exchange: &Exchange) -> Self {
        Answer { text: exchange.request.text().to_string(), exchange: None }
    }
    fn attach(&mut self, exchange: Exchange) {
        self.exchange = Some(exchange);
    }
}

/// A model that records what it was asked and answers a fixed text.
#[derive(Clone)]
struct Model {
    seen: Arc<Mutex<Vec<String>>>,
    answer: &'static str,
}

impl Service<Ask> for Model {
    type Response = Answer;
    type Error = Infallible;
    type Future = Ready<Result<Answer, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: Ask) -> Self::Future {
        self.seen.lock().unwrap().push(req.0);
        ready(Ok(Answer { text: self.answer.to_string(), exchange: None }))
    }
}

#[derive(Default)]
struct MemorySink(Mutex<Vec<(Option<String>, String, String)>>);

impl AuditSink for MemorySink {
    fn record(&self, event: &AuditEvent<'_>) -> Result<(), AuditError> {
        self.0.lock().unwrap().push((
            event.id().map(str::to_string),
            event.stage().as_str().to_string(),
            event.verdict().decision().to_string(),
        ));
        Ok(())
    }
}

/// Blocks requests containing "forbidden" (the built-in policy's own
/// request blockers are tested elsewhere).
struct Forbid;
impl Check for Forbid {
    fn id(&self) -> &str {
        "forbid"
    }
    fn stages(&self) -> Stages {
        Stages::REQUEST
    }
    fn check(&self, cx: &mut medguard::Context<'_>) -> Result<(), CheckError> {
        if cx.view().as_str().contains("forbidden") {
            cx.report("forbid.word", "test", Severity::High, Span::new(0, 0));
            cx.block("no");
        }
        Ok(())
    }
}

fn call(guard: Guardrail, model: Model, sink: Option<Arc<MemorySink>>, text: &str) -> Answer {
    let mut layer = GuardLayer::new(guard);
    if let Some(s) = sink {
        layer = layer.audit(s);
    }
    let mut svc = layer.layer(model);
    block_on_ready(svc.call(Ask(text.to_string()))).unwrap().unwrap()
}

#[test]
fn a_blocked_request_never_reaches_the_model() {
    let guard = Guardrail::builder().policy(&Policy::builtin().unwrap()).check(Forbid).build().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::new(MemorySink::default());
    let model = Model { seen: seen.clone(), answer: "anything" };
    let answer = call(guard, model, Some(sink.clone()), "this is forbidden and my face is drooping");
    assert!(seen.lock().unwrap().is_empty());
    let ex = answer.exchange.expect("verdicts attached to a blocked exchange");
    assert!(ex.request.is_blocked() && ex.response.is_none());
    // The escalation is not lost behind the block.
    assert!(ex.request.is_escalated());
    assert!(answer.text.contains("911"), "{}", answer.text);
    assert_eq!(*sink.0.lock().unwrap(), [(Some("ex-1".into()), "request".into(), "block".into())]);
}

#[test]
fn answers_are_judged_in_the_context_of_their_request() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::new(MemorySink::default());
    let model = Model { seen: seen.clone(), answer: "It's probably just stress. Try to rest." };
    let answer =
        call(Guardrail::healthcare().unwrap(), model, Some(sink.clone()), "my dad's face is drooping on one side");
    assert_eq!(seen.lock().unwrap().len(), 1);
    let ex = answer.exchange.unwrap();
    assert!(ex.request.is_escalated());
    assert!(ex.response.as_ref().unwrap().is_blocked());
    assert!(!answer.text.contains("stress"), "{}", answer.text);
    assert!(answer.text.contains("911"));
    let log = sink.0.lock().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].1, "response");
}

#[test]
fn safe_answers_pass_with_the_disclaimer() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let model = Model { seen, answer: "Warm drinks and rest can soothe a sore throat." };
    let answer = call(Guardrail::healthcare().unwrap(), model, None, "What helps with a sore throat?");
    assert!(answer.text.contains("Warm drinks"));
    assert!(answer.text.contains("not a clinician"), "{}", answer.text);
    assert!(!answer.exchange.unwrap().request.is_escalated());
}
