//! The built-in checks, one file each, and the registry that builds them
//! from a policy.
//!
//! | check id | stage | what it does |
//! |---|---|---|
//! | `sanitizer` | request and response | strips invisible/control/bidi/tag characters, NFC, flags spam and code payloads |
//! | `injection` | request | layered prompt-injection and jailbreak detection |
//! | `high_risk` | request and response | clinical red-flag lexicon; raises an escalation |
//! | `diagnosis` | response | blocks or rewrites diagnosis, dismissal, dosing, advice against care |
//! | `disclaimer` | response, always last | adds the operator's disclaimer and the emergency notice |

pub mod diagnosis;
pub mod disclaimer;
pub mod high_risk;

use crate::check::Check;
use crate::error::BuildError;
use crate::policy::Policy;

/// Builds the policy's checks in pipeline order.
pub(crate) fn build_pipeline(policy: &Policy) -> Result<Vec<Box<dyn Check>>, BuildError> {
    let mut out: Vec<Box<dyn Check>> = Vec::with_capacity(policy.pipeline.checks.len());
    for (i, id) in policy.pipeline.checks.iter().enumerate() {
        out.push(build_check(policy, id, &format!("pipeline.checks[{i}]"))?);
    }
    Ok(out)
}

/// Builds one built-in check from its policy section.
fn build_check(policy: &Policy, id: &str, field: &str) -> Result<Box<dyn Check>, BuildError> {
    match id {
        "high_risk" => Ok(Box::new(high_risk::HighRisk::new(&policy.high_risk)?)),
        "diagnosis" => Ok(Box::new(diagnosis::Diagnosis::from_policy(policy)?)),
        "disclaimer" => Ok(Box::new(disclaimer::Disclaimer::from_policy(policy)?)),
        other => Err(BuildError::new(field, format!("unknown check `{other}`"))),
    }
}
