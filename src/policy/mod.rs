//! Policy documents: one serde document (TOML or JSON) that describes a whole
//! pipeline.
//!
//! The built-in healthcare policy ([`Policy::builtin`]) is itself such a
//! document, embedded in the crate; `medguard policy default` prints it.
//!
//! # Loading
//!
//! [`Policy::from_path`] (and [`Document`], which also keeps the map from
//! every field back to its file, line and column) reads a document in five
//! steps, each bounded:
//!
//! 1. **Read**: at most [`MAX_POLICY_BYTES`] (8 MiB) per file and
//!    [`MAX_TOTAL_BYTES`] (64 MiB) for the policy and every file it uses;
//!    not UTF-8, empty, or not a table is an error.
//! 2. **Parse**: TOML, or JSON when the file name ends in `.json`. Every
//!    TOML syntax error is reported, not only the first. Nesting is bounded
//!    by the parsers (80 levels for TOML, 128 for JSON, so a 100,000-deep
//!    `[[[[…` cannot exhaust the stack) and then by [`MAX_DEPTH`] (32).
//! 3. **Layer** (`extends`): see below.
//! 4. **Splice rule files** (`rules_files`): see below.
//! 5. **Deserialise and validate**: unknown fields, wrong types and missing
//!    fields are reported with their dotted path (`limits.max_input_bytes`,
//!    `high_risk.rules[3].phrases[2]`), file, line and column — all of
//!    them, not only the first (after a problem the offending key is set
//!    aside and deserialisation runs again). Then what serde cannot check:
//!    the active locale exists, every locale compiles, limits are in range,
//!    no check is listed twice. [`Document::validate`] (what
//!    `medguard policy validate` runs) also builds every check on its own
//!    and the whole guardrail, and maps each [`BuildError`]'s field back to
//!    the line and column where it was written.
//!
//! # Layering: `extends`
//!
//! A site policy does not copy the built-in one; it names what it changes:
//!
//! ```toml
//! extends = "builtin"          # or a path to another policy file
//! name = "st-elsewhere"
//! version = "2025.1"
//! locale = "en-GB"
//!
//! [limits]
//! max_input_bytes = 32768      # the rest of [limits] is inherited
//!
//! [[high_risk.rules_append]]   # appended to the inherited high_risk.rules
//! id = "site.sickle_cell_crisis"
//! # ...
//! ```
//!
//! `extends` is `"builtin"` or a path, relative to the file that says it. A
//! base may itself extend another, up to [`MAX_EXTENDS`] (8) levels; a cycle
//! is an error that lists it. Layers merge on the document *before* it is
//! deserialised, so the same rules hold for every section, including check
//! sections the loader knows nothing about:
//!
//! * **tables merge** key by key, recursively;
//! * **scalars and arrays replace** the base's value (`pipeline.checks =
//!   [...]` is the whole new list);
//! * **`<key>_append = [...]` appends** to the base's array `<key>` (and
//!   creates it when the base has none). `[[x.rules_append]]` adds rules to
//!   an inherited list without repeating it. In a layer with `<key>` and
//!   `<key>_append` both, the replacement happens first. The `_append`
//!   suffix is reserved: no policy field ends in it.
//! * a key cannot be deleted; set it to its default instead.
//!
//! The merged document has no `extends` key left. `medguard policy resolve
//! FILE` prints it.
//!
//! # Rule files: `rules_files`
//!
//! Wherever a table has a `rules_files = ["a.toml", ...]` key (in any
//! section), each file is read — relative to the directory of the policy
//! file that names it, so a base policy's rule files are found next to the
//! base — and its rules are appended, in order, to the sibling `rules`
//! array (created when absent). A rule file is TOML holding only
//! `[[rules]]` tables (or JSON `{"rules": [...]}` when its name ends in
//! `.json`); any other key is an error. `rules_files` is removed from the
//! resolved document, so checks never read files, and the policy's content
//! hash ([`Policy::id`]) covers the rules' contents, not their paths. A
//! missing or unreadable file is an error naming the field
//! (`high_risk.rules_files[1]`), the file, and the line where it was named.
//! At most [`MAX_RULES_FILES`] (256) files per policy.
//!
//! Policies parsed from a string ([`Policy::from_toml_str`]) resolve
//! relative paths against the current directory; the built-in policy uses
//! none.
//!
//! # Regular expressions
//!
//! Checks compile the patterns a policy supplies with [`compile_regex`] /
//! [`compile_regex_set`], which bound pattern length, compiled size, lazy-DFA
//! size, nesting and pattern count ([`RegexLimits`], defaults documented
//! there) and name the offending field. [`check_unique_ids`] reports a
//! duplicate rule id with the fields of both rules.
//!
//! # The policy id
//!
//! Every verdict's `policy` field is [`Policy::id`]:
//! `name@version+sha256:<16 hex digits>`, the SHA-256 of the resolved
//! policy's canonical JSON (keys sorted, no whitespace). Two files that
//! resolve to the same settings share an id; changing anything, a rule
//! file's contents included, changes it.

mod load;
mod pattern;
mod rules;
mod tree;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::audit::AuditConfig;
use crate::checks::diagnosis::DiagnosisConfig;
use crate::checks::disclaimer::DisclaimerConfig;
use crate::checks::high_risk::HighRiskConfig;
use crate::checks::injection::InjectionConfig;
use crate::checks::sanitizer::SanitizerConfig;
use crate::error::{BuildError, PolicyError};
use crate::guardrail::Limits;
use crate::locale::{Locale, LocaleConfig};

pub use load::{Document, Location, MAX_DEPTH, MAX_EXTENDS, MAX_PROBLEMS, MAX_RULES_FILES, MAX_TOTAL_BYTES};
pub use pattern::{RegexLimits, check_pattern_count, compile_regex, compile_regex_set, compile_regex_with};
pub use rules::check_unique_ids;

/// The text of the built-in healthcare policy.
pub const BUILTIN_POLICY_TOML: &str = include_str!("healthcare.toml");

/// Largest policy document (or rule file) accepted, in bytes.
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
/// | `audit` | [`AuditConfig::default`]: keep no text, no fsync |
/// | `sanitizer` | [`SanitizerConfig::default`] |
/// | `locales` | required: at least the active locale |
/// | `diagnosis` | [`DiagnosisConfig::default`] |
/// | `disclaimer` | [`DisclaimerConfig::default`] |
/// | `injection` | [`InjectionConfig::default`] |
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
    /// What audit records keep (`[audit]`).
    #[serde(default)]
    pub audit: AuditConfig,
    /// The `sanitizer` check.
    #[serde(default)]
    pub sanitizer: SanitizerConfig,
    /// Emergency numbers and messages per locale.
    #[serde(default)]
    pub locales: BTreeMap<String, LocaleConfig>,
    /// The `diagnosis` check.
    #[serde(default)]
    pub diagnosis: DiagnosisConfig,
    /// The `disclaimer` check.
    #[serde(default)]
    pub disclaimer: DisclaimerConfig,
    /// The clinical red-flag matcher (`high_risk` check).
    #[serde(default)]
    pub high_risk: HighRiskConfig,
    /// The `injection` check.
    #[serde(default)]
    pub injection: InjectionConfig,
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
        Document::builtin()?.to_policy()
    }

    /// The built-in policy's locales and limits with no checks: the base of
    /// a builder that only has custom checks.
    pub(crate) fn builtin_skeleton() -> Result<Policy, PolicyError> {
        let mut p = Policy::builtin()?;
        p.name = "custom".into();
        p.pipeline.checks.clear();
        Ok(p)
    }

    /// Parses a TOML policy ([`Document::from_toml_str`], then
    /// [`Document::to_policy`]).
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] with the line and column of each problem.
    pub fn from_toml_str(text: &str) -> Result<Policy, PolicyError> {
        Document::from_toml_str(text)?.to_policy()
    }

    /// Parses a JSON policy ([`Document::from_json_str`], then
    /// [`Document::to_policy`]).
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] with the line and column of each problem.
    pub fn from_json_str(text: &str) -> Result<Policy, PolicyError> {
        Document::from_json_str(text)?.to_policy()
    }

    /// Reads a policy file: JSON when the extension is `.json`, TOML
    /// otherwise, with its `extends` layers and rule files
    /// ([`Document::from_path`], then [`Document::to_policy`]).
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] when the file cannot be read, is too large, or is
    /// invalid, listing every problem with its file, line and column.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Policy, PolicyError> {
        Document::from_path(path)?.to_policy()
    }

    /// Checks what serde cannot: the active locale exists, every locale
    /// compiles, the limits are in range, no check is listed twice. Every
    /// problem is returned.
    fn problems(&self) -> Vec<BuildError> {
        let mut problems = Vec::new();
        let mut push = |e: BuildError| problems.push(e);
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
        problems
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

    /// The policy as pretty-printed JSON.
    ///
    /// # Errors
    ///
    /// When a value cannot be represented in JSON (never for policies read
    /// from a document).
    pub fn to_json_string(&self) -> Result<String, BuildError> {
        serde_json::to_string_pretty(self).map_err(|e| BuildError::new("", e.to_string()))
    }

    /// SHA-256 of the policy's canonical JSON form (object keys sorted, no
    /// whitespace), in hex. Canonical so that the hash does not depend on
    /// map iteration order or on serde_json's features.
    #[must_use]
    pub fn content_hash(&self) -> String {
        let mut json = String::new();
        match serde_json::to_value(self) {
            Ok(v) => canonical_json(&v, &mut json),
            // Not reachable for derived `Serialize` impls; hash a marker
            // rather than panic, and never the empty string of a valid
            // policy.
            Err(e) => json = format!("<unserialisable policy: {e}>"),
        }
        hex(&Sha256::digest(json.as_bytes()))
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

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Writes `v` as JSON with object keys sorted and no whitespace.
fn canonical_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(v, out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
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
    use crate::Problem;

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
