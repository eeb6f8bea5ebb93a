//! A tower [`Layer`] that guards a chat service (feature
//! `tower`).
//!
//! [`GuardLayer`] wraps any `Service<Req, Response = Resp>` whose request and
//! response carry chat text ([`GuardedRequest`], [`GuardedResponse`]):
//!
//! 1. the user's text is checked; a blocked request never reaches the inner
//!    service (the model) and is answered with [`GuardedResponse::blocked`];
//!    a modified request is forwarded with the sanitized text;
//! 2. the inner service's answer is checked in the context of the request
//!    and rewritten or replaced as the verdict says;
//! 3. both verdicts are handed to the response
//!    ([`GuardedResponse::attach`]), so the backend sees the escalation and
//!    can page a clinician, and optionally written to an
//!    [`AuditSink`].
//!
//! Checking is synchronous and takes microseconds, so it runs inside `call`;
//! nothing is spawned.
//!
//! ```
//! use std::convert::Infallible;
//! use std::future::{Ready, ready};
//! use std::task::{Context, Poll};
//!
//! use medguard::tower::{Exchange, GuardLayer, GuardedRequest, GuardedResponse};
//! use medguard::Guardrail;
//! use tower_layer::Layer;
//! use tower_service::Service;
//!
//! struct Ask(String);
//! struct Answer { text: String, escalated: bool }
//!
//! impl GuardedRequest for Ask {
//!     fn text(&self) -> &str { &self.0 }
//!     fn set_text(&mut self, text: String) { self.0 = text }
//! }
//! impl GuardedResponse for Answer {
//!     fn text(&self) -> &str { &self.text }
//!     fn set_text(&mut self, text: String) { self.text = text }
//!     fn blocked(exchange: &Exchange) -> Self {
//!         Answer { text: exchange.request.text().to_string(), escalated: false }
//!     }
//!     fn attach(&mut self, exchange: Exchange) { self.escalated = exchange.request.is_escalated() }
//! }
//!
//! /// The model: always reassuring, which is exactly what must not pass.
//! struct Model;
//! impl Service<Ask> for Model {
//!     type Response = Answer;
//!     type Error = Infallible;
//!     type Future = Ready<Result<Answer, Infallible>>;
//!     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> { Poll::Ready(Ok(())) }
//!     fn call(&mut self, _: Ask) -> Self::Future {
//!         ready(Ok(Answer { text: "Sounds like stress, just rest.".into(), escalated: false }))
//!     }
//! }
//!
//! let mut service = GuardLayer::new(Guardrail::healthcare()?).layer(Model);
//! let future = service.call(Ask("my face is drooping and my arm is weak".into()));
//! let answer = medguard::tower::block_on_ready(future).expect("the mock model is ready at once").unwrap();
//! assert!(answer.escalated);
//! assert!(answer.text.contains("911"));
//! # Ok::<(), medguard::Error>(())
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tower_layer::Layer;
use tower_service::Service;

use crate::audit::{AuditEvent, AuditSink};
use crate::check::Stage;
use crate::guardrail::Guardrail;
use crate::verdict::{Decision, Verdict};

/// A request that carries the user's chat text.
pub trait GuardedRequest {
    /// The user's text.
    fn text(&self) -> &str;
    /// Replaces the text (with the sanitized text of a `modify` verdict).
    fn set_text(&mut self, text: String);
    /// An id for audit records (exchange or request id). Default: none.
    fn audit_id(&self) -> Option<String> {
        None
    }
}

/// A response that carries the model's chat text.
pub trait GuardedResponse: Sized {
    /// The model's text.
    fn text(&self) -> &str;
    /// Replaces the text with the verdict's text.
    fn set_text(&mut self, text: String);
    /// The response for a blocked request, built without calling the
    /// model. `exchange.request.text()` is the replacement message (with the
    /// emergency guidance first when the request escalated).
    fn blocked(exchange: &Exchange) -> Self;
    /// Receives both verdicts once the exchange is decided (always called,
    /// blocked or not). Default: ignores them.
    fn attach(&mut self, exchange: Exchange) {
        let _ = exchange;
    }
}

/// The verdicts of one guarded exchange.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request's verdict (the escalation lives here).
    pub request: Verdict<'static>,
    /// The response's verdict; `None` when the request was blocked and the
    /// model was not called.
    pub response: Option<Verdict<'static>>,
}

/// Wraps services with a [`Guardrail`].
#[derive(Clone)]
pub struct GuardLayer {
    guard: Guardrail,
    audit: Option<Arc<dyn AuditSink>>,
}

impl fmt::Debug for GuardLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardLayer").field("guard", &self.guard).field("audit", &self.audit.is_some()).finish()
    }
}

impl GuardLayer {
    /// A layer checking every exchange with `guard`.
    #[must_use]
    pub fn new(guard: Guardrail) -> GuardLayer {
        GuardLayer { guard, audit: None }
    }

    /// Also writes one audit record per verdict to `sink`. An audit write
    /// that fails does not fail the exchange (the verdicts still apply); use
    /// a sink that reports its own failures.
    #[must_use]
    pub fn audit(mut self, sink: Arc<dyn AuditSink>) -> GuardLayer {
        self.audit = Some(sink);
        self
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> GuardService<S> {
        GuardService { inner, guard: self.guard.clone(), audit: self.audit.clone() }
    }
}

/// The service made by [`GuardLayer`].
#[derive(Clone)]
pub struct GuardService<S> {
    inner: S,
    guard: Guardrail,
    audit: Option<Arc<dyn AuditSink>>,
}

impl<S: fmt::Debug> fmt::Debug for GuardService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardService").field("inner", &self.inner).field("guard", &self.guard).finish()
    }
}

impl<S> GuardService<S> {
    fn record(&self, id: Option<&str>, stage: Stage, text: &str, verdict: &Verdict<'_>) {
        if let Some(sink) = &self.audit {
            let event = AuditEvent::new(stage, text, verdict);
            let event = match id {
                Some(id) => event.with_id(id),
                None => event,
            };
            // Documented: a failed audit write does not fail the exchange.
            let _ = sink.record(&event);
        }
    }
}

/// The future of [`GuardService`].
pub type GuardFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, Req, Resp> Service<Req> for GuardService<S>
where
    S: Service<Req, Response = Resp>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    Req: GuardedRequest,
    Resp: GuardedResponse + Send + 'static,
{
    type Response = Resp;
    type Error = S::Error;
    type Future = GuardFuture<Resp, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Req) -> Self::Future {
        let id = req.audit_id();
        let request = self.guard.check_request(req.text()).into_owned();
        self.record(id.as_deref(), Stage::Request, req.text(), &request);
        if request.decision() == Decision::Block {
            let exchange = Exchange { request, response: None };
            let mut resp = Resp::blocked(&exchange);
            resp.attach(exchange);
            return Box::pin(std::future::ready(Ok(resp)));
        }
        if request.decision() == Decision::Modify {
            req.set_text(request.text().to_string());
        }
        let future = self.inner.call(req);
        let guard = self.guard.clone();
        let audit = self.audit.clone();
        Box::pin(async move {
            let mut resp = future.await?;
            let response = guard.check_response(&request, resp.text()).into_owned();
            if let Some(sink) = &audit {
                let event = AuditEvent::new(Stage::Response, resp.text(), &response);
                let event = match id.as_deref() {
                    Some(id) => event.with_id(id),
                    None => event,
                };
                let _ = sink.record(&event);
            }
            if response.decision() != Decision::Allow {
                resp.set_text(response.text().to_string());
            }
            resp.attach(Exchange { request, response: Some(response) });
            Ok(resp)
        })
    }
}

/// Polls `future` once with a no-op waker: its output if it is ready at
/// once, `None` otherwise. For tests and examples whose inner service
/// answers immediately; a real server awaits the future on its runtime.
pub fn block_on_ready<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}
