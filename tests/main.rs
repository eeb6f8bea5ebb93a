//! The one integration test binary: every area is a module, so the suite
//! links once.

mod high_risk;
mod injection;
mod pipeline;
mod response;
mod sanitizer;
mod stream;

#[cfg(feature = "cli")]
mod cli;
#[cfg(feature = "cli")]
mod support;

#[cfg(feature = "cli")]
mod policy;

#[cfg(feature = "cli")]
mod audit;

#[cfg(feature = "cli")]
mod check;

#[cfg(feature = "tower")]
mod tower;
