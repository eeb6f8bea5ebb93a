//! Policy documents: one serde document (TOML or JSON) that describes a whole
//! pipeline.
//!
//! The built-in healthcare policy ([`Policy::builtin`]) is itself such a
//! document, embedded in the crate; `medguard policy default` prints it.
//! Unknown fields are errors that name the line and column.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::checks::sanitizer::SanitizerConfig;
use crate::error::{BuildError, PolicyError, Problem};
use crate::guardrail::Limits;
use crate::locale::{Locale, LocaleConfig};

/// The text of the built-in healthcare policy.
pub const BUILTIN_POLICY_TOML: &str = include_str!("healthcare.toml");

/// Largest policy document accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 8 << 20;

/// The pipeline section: which checks run, in which order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Built-in check ids in pipeline order. `disclaimer`, when present,
    /// always runs last.
    pub checks: Vec<String>,
    /// Run every check even after a block (default `false`).
    pub collect_all_findings: bool,
    /// Build even without the mandatory `diagnosis` and `disclaimer`
    /// checks (default `false`). Dangerous: responses may then diagnose or
    /// reach users without the disclaimer.
    pub dangerous_allow_missing_safety_checks: bool,
}

/// A whole pipeline described as data.
///
/// | field | default |
/// |---|---|
/// | `name`, `version` | required |
/// | `locale` | `"en-US"`; must name an entry of `locales` |
/// | `limits` | [`Limits::default`] |
/// | `pipeline` | no checks |
/// | `sanitizer` | [`SanitizerConfig::default`] |
/// | `locales` | required: at least the active locale |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Policy name (part of every verdict's `policy` field).
    pub name: String,
    /// Policy version (part of every verdict's `policy` field).
    pub version: String,
    /// The active deployment locale.
    #[serde(default = "default_locale")]
    pub locale: String,
    /// Size limits.
    #[serde(default)]
    pub limits: Limits,
    /// Which checks run.
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// The `sanitizer` check.
    #[serde(default)]
    pub sanitizer: SanitizerConfig,
    /// Emergency numbers and messages per locale.
    #[serde(default)]
    pub locales: BTreeMap<String, LocaleConfig>,
}

fn default_locale() -> String {
    "en-US".to_string()
}

impl Policy {
    /// The built-in healthcare policy.
    ///
    /// # Errors
    ///
    /// Never in a released build (a test parses it).
    pub fn builtin() -> Result<Policy, PolicyError> {
        Policy::from_toml_str_named(BUILTIN_POLICY_TOML, "<builtin>")
    }

    /// The built-in policy's locales and limits with no checks: the base of
    /// a builder that only has custom checks.
    pub(crate) fn builtin_skeleton() -> Result<Policy, PolicyError> {
        let mut p = Policy::builtin()?;
        p.name = "custom".into();
        p.pipeline.checks.clear();
        Ok(p)
    }

    /// Parses a TOML policy.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] with the line and column of each problem.
    pub fn from_toml_str(text: &str) -> Result<Policy, PolicyError> {
        Policy::from_toml_str_named(text, "<string>")
    }

    /// Parses a JSON policy.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] with the line and column of the problem.
    pub fn from_json_str(text: &str) -> Result<Policy, PolicyError> {
        Policy::from_json_str_named(text, "<string>")
    }

    /// Reads a policy file: JSON when the extension is `.json`, TOML
    /// otherwise.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] when the file cannot be read, is too large, or is
    /// invalid.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Policy, PolicyError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| single(&name, "", format!("cannot read the file: {e}")))?;
        if meta.len() > MAX_POLICY_BYTES as u64 {
            return Err(single(&name, "", format!("the file is larger than {MAX_POLICY_BYTES} bytes")));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| single(&name, "", format!("cannot read the file: {e}")))?;
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            Policy::from_json_str_named(&text, &name)
        } else {
            Policy::from_toml_str_named(&text, &name)
        }
    }

    fn from_toml_str_named(text: &str, name: &str) -> Result<Policy, PolicyError> {
        check_size(text, name)?;
        let policy: Policy = toml::from_str(text).map_err(|e| {
            let (line, column) = match e.span() {
                Some(span) => line_col(text, span.start),
                None => (None, None),
            };
            PolicyError::new(
                name,
                vec![Problem { field: String::new(), line, column, message: e.message().to_string() }],
            )
        })?;
        policy.validate(name)?;
        Ok(policy)
    }

    fn from_json_str_named(text: &str, name: &str) -> Result<Policy, PolicyError> {
        check_size(text, name)?;
        let policy: Policy = serde_json::from_str(text).map_err(|e| {
            let message = e.to_string();
            // serde_json appends " at line L column C"; keep only the message.
            let message = message.split(" at line ").next().unwrap_or(&message).to_string();
            PolicyError::new(
                name,
                vec![Problem { field: String::new(), line: Some(e.line()), column: Some(e.column()), message }],
            )
        })?;
        policy.validate(name)?;
        Ok(policy)
    }

    /// Checks what serde cannot: the active locale exists, every locale
    /// compiles, the limits are in range. Every problem is reported.
    fn validate(&self, name: &str) -> Result<(), PolicyError> {
        let mut problems = Vec::new();
        let mut push = |e: BuildError| {
            problems.push(Problem { field: e.field().into(), line: None, column: None, message: e.message().into() })
        };
        if self.name.trim().is_empty() {
            push(BuildError::new("name", "must not be empty"));
        }
        if self.version.trim().is_empty() {
            push(BuildError::new("version", "must not be empty"));
        }
        if !self.locales.contains_key(&self.locale) {
            push(BuildError::new("locale", format!("`{}` is not defined under [locales]", self.locale)));
        }
        for (tag, cfg) in &self.locales {
            if let Err(e) = Locale::new(tag, cfg) {
                push(e);
            }
        }
        if self.limits.max_input_bytes == 0 || self.limits.max_input_bytes > Limits::MAX_INPUT_CEILING {
            push(BuildError::new(
                "limits.max_input_bytes",
                format!("must be between 1 and {}", Limits::MAX_INPUT_CEILING),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, id) in self.pipeline.checks.iter().enumerate() {
            if !seen.insert(id.as_str()) {
                push(BuildError::new(format!("pipeline.checks[{i}]"), format!("check `{id}` is listed twice")));
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(PolicyError::new(name, problems)) }
    }

    /// The policy as TOML.
    ///
    /// # Errors
    ///
    /// When a value cannot be represented in TOML (never for policies read
    /// from TOML).
    pub fn to_toml_string(&self) -> Result<String, BuildError> {
        toml::to_string_pretty(self).map_err(|e| BuildError::new("", e.to_string()))
    }

    /// SHA-256 of the policy's canonical JSON form, in hex.
    #[must_use]
    pub fn content_hash(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&json);
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// `name@version+sha256:<first 16 hex digits of the content hash>`, the
    /// `policy` field of every verdict.
    #[must_use]
    pub fn id(&self) -> String {
        let hash = self.content_hash();
        format!("{}@{}+sha256:{}", self.name, self.version, &hash[..16])
    }

    /// The active locale, compiled.
    pub(crate) fn compile_locale(&self) -> Result<Locale, BuildError> {
        let cfg = self
            .locales
            .get(&self.locale)
            .ok_or_else(|| BuildError::new("locale", format!("`{}` is not defined under [locales]", self.locale)))?;
        Locale::new(&self.locale, cfg)
    }
}

fn single(name: &str, field: &str, message: String) -> PolicyError {
    PolicyError::new(name, vec![Problem { field: field.into(), line: None, column: None, message }])
}

fn check_size(text: &str, name: &str) -> Result<(), PolicyError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(single(name, "", format!("the policy is larger than {MAX_POLICY_BYTES} bytes")));
    }
    if text.trim().is_empty() {
        return Err(single(name, "", "the policy is empty".into()));
    }
    Ok(())
}

/// 1-based line and column (in chars) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (Option<usize>, Option<usize>) {
    let offset = crate::normalize::floor_char_boundary(text, offset);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (Some(line), Some(col))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_and_has_a_stable_id() {
        let p = Policy::builtin().unwrap();
        assert_eq!(p.id(), Policy::builtin().unwrap().id());
        assert!(p.id().starts_with("healthcare@"), "{}", p.id());
    }

    #[test]
    fn unknown_field_names_line_and_column() {
        let text = "name = \"x\"\nversion = \"1\"\nlocale = \"en-US\"\n[limits]\nmax_input_byte = 3\n";
        let e = Policy::from_toml_str(text).unwrap_err();
        let p = &e.problems()[0];
        assert_eq!(p.line(), Some(5), "{e}");
        assert_eq!(p.column(), Some(1), "{e}");
        assert!(p.message().contains("max_input_byte"), "{e}");
    }

    #[test]
    fn json_errors_carry_line_and_column() {
        let e = Policy::from_json_str("{\n  \"name\": 3\n}").unwrap_err();
        assert_eq!(e.problems()[0].line(), Some(2), "{e}");
    }

    #[test]
    fn semantic_problems_are_all_reported() {
        let mut p = Policy::builtin().unwrap();
        p.locale = "xx-XX".into();
        p.limits.max_input_bytes = 0;
        let text = toml::to_string(&p).unwrap();
        let e = Policy::from_toml_str(&text).unwrap_err();
        let fields: Vec<&str> = e.problems().iter().map(Problem::field).collect();
        assert!(fields.contains(&"locale") && fields.contains(&"limits.max_input_bytes"), "{e}");
    }

    #[test]
    fn empty_policy_is_an_error() {
        assert!(Policy::from_toml_str("  \n").is_err());
    }
}
