//! The crate's error type.
//!
//! Errors caused by configuration (a policy or builder the operator wrote)
//! are kept apart from faults while checking a message. Checking text never
//! returns an error through the plain entry points: the guardrail fails closed
//! with a `block` verdict instead. The `try_` entry points return
//! [`Error::Check`] for callers that want to handle faults themselves.
//!
//! Messages are lowercase without a final period, and never contain the
//! checked text.

use std::fmt;

/// Anything that can go wrong in medguard.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A policy document could not be read or is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A guardrail or check could not be built from its configuration.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A check faulted while checking a message (only from `try_` calls).
    #[error(transparent)]
    Check(#[from] CheckFault),
    /// An audit record could not be written or an audit log opened.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
}

/// A configuration value that cannot be built, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    field: String,
    message: String,
}

impl BuildError {
    /// An error for `field` (a dotted path such as `high_risk.rules[3].phrases`).
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> BuildError {
        BuildError { field: field.into(), message: message.into() }
    }

    /// The dotted path of the offending field.
    #[must_use]
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "invalid configuration: {}", self.message)
        } else {
            write!(f, "invalid configuration at `{}`: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for BuildError {}

/// One problem in a policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub(crate) source: Option<String>,
    pub(crate) field: String,
    pub(crate) line: Option<usize>,
    pub(crate) column: Option<usize>,
    pub(crate) message: String,
}

impl Problem {
    /// The file the problem is in (with `extends` and `rules_files` it may
    /// differ from the policy's own file), when known.
    #[must_use]
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The dotted path of the field, when known.
    #[must_use]
    pub fn field(&self) -> &str {
        &self.field
    }

    /// 1-based line in the policy file, when known.
    #[must_use]
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// 1-based column in the policy file, when known.
    #[must_use]
    pub fn column(&self) -> Option<usize> {
        self.column
    }

    /// What is wrong.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `file:line:column:` as compilers print it, so editors can jump there.
        if let Some(s) = &self.source {
            write!(f, "{s}:")?;
        }
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{l}:{c}: ")?,
            (Some(l), None) => write!(f, "{l}: ")?,
            _ if self.source.is_some() => f.write_str(" ")?,
            _ => {}
        }
        if !self.field.is_empty() {
            write!(f, "`{}`: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// A policy document that cannot be used: every problem found, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    source_name: String,
    problems: Vec<Problem>,
}

impl PolicyError {
    pub(crate) fn new(source_name: impl Into<String>, problems: Vec<Problem>) -> PolicyError {
        PolicyError { source_name: source_name.into(), problems }
    }

    /// The file (or `"<builtin>"`, `"<string>"`) the policy came from.
    #[must_use]
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// Every problem found (at least one).
    #[must_use]
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid policy {}", self.source_name)?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

/// A check faulted while checking a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFault {
    check: String,
    message: String,
}

impl CheckFault {
    pub(crate) fn new(check: impl Into<String>, message: impl Into<String>) -> CheckFault {
        CheckFault { check: check.into(), message: message.into() }
    }

    /// The id of the check that faulted.
    #[must_use]
    pub fn check(&self) -> &str {
        &self.check
    }

    /// What went wrong (never the checked text).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CheckFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "check `{}` faulted: {}", self.check, self.message)
    }
}

impl std::error::Error for CheckFault {}
