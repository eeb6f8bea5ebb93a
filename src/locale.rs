//! The deployment locale: emergency numbers and the messages shown when an
//! exchange escalates or a message is blocked.
//!
//! Numbers come from where the service is deployed, not from the language
//! the user writes in: a Spanish speaker in the US needs 911, so the built-in
//! policy has an `es-US` locale with Spanish text and US numbers.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::BuildError;
use crate::verdict::Severity;

/// The serde form of one locale in a policy (`[locales."en-US"]`).
///
/// Message texts may use the placeholders `{emergency}`, `{crisis}`,
/// `{poison}` and `{human}`, replaced by the numbers below when the
/// guardrail is built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocaleConfig {
    /// Emergency services number (`"911"`, `"999"`, `"112"`).
    pub emergency_number: String,
    /// Suicide and crisis line (`"988"` in the US).
    pub crisis_line: String,
    /// Poison help line.
    pub poison_line: String,
    /// How to reach a human clinician of this service (operator-specific).
    pub human_contact: String,
    /// Replacement text of a blocked request.
    pub request_blocked: String,
    /// Replacement text of a blocked response.
    pub response_blocked: String,
    /// Escalation message used when no category-specific one applies, per
    /// severity (`"emergency"`, `"urgent"`).
    pub escalation_default: BTreeMap<Severity, String>,
    /// Escalation messages per clinical category (`"stroke"`, ...), per
    /// severity.
    #[serde(default)]
    pub escalation: BTreeMap<String, BTreeMap<Severity, String>>,
}

/// A compiled locale: placeholders filled in, messages shared as `Arc<str>`.
#[derive(Debug, Clone)]
pub struct Locale {
    tag: Arc<str>,
    emergency_number: Arc<str>,
    crisis_line: Arc<str>,
    poison_line: Arc<str>,
    human_contact: Arc<str>,
    request_blocked: Arc<str>,
    response_blocked: Arc<str>,
    escalation_default: BTreeMap<Severity, Arc<str>>,
    escalation: BTreeMap<String, BTreeMap<Severity, Arc<str>>>,
}

impl Locale {
    /// Compiles `config` for the locale `tag`.
    ///
    /// # Errors
    ///
    /// When no default escalation message exists for `emergency`, or a
    /// message uses an unknown `{placeholder}`.
    pub fn new(tag: &str, config: &LocaleConfig) -> Result<Locale, BuildError> {
        let field = |f: &str| format!("locales.{tag}.{f}");
        let fill = |path: String, s: &str| fill_placeholders(s, config).map_err(|e| BuildError::new(path, e));
        if !config.escalation_default.contains_key(&Severity::Emergency) {
            return Err(BuildError::new(field("escalation_default"), "a message for \"emergency\" is required"));
        }
        let mut escalation_default = BTreeMap::new();
        for (sev, msg) in &config.escalation_default {
            escalation_default.insert(*sev, Arc::from(fill(field(&format!("escalation_default.{sev}")), msg)?));
        }
        let mut escalation = BTreeMap::new();
        for (cat, per) in &config.escalation {
            let mut m = BTreeMap::new();
            for (sev, msg) in per {
                m.insert(*sev, Arc::from(fill(field(&format!("escalation.{cat}.{sev}")), msg)?));
            }
            escalation.insert(cat.clone(), m);
        }
        Ok(Locale {
            tag: tag.into(),
            emergency_number: config.emergency_number.as_str().into(),
            crisis_line: config.crisis_line.as_str().into(),
            poison_line: config.poison_line.as_str().into(),
            human_contact: config.human_contact.as_str().into(),
            request_blocked: fill(field("request_blocked"), &config.request_blocked)?.into(),
            response_blocked: fill(field("response_blocked"), &config.response_blocked)?.into(),
            escalation_default,
            escalation,
        })
    }

    /// The locale tag (`"en-US"`).
    #[must_use]
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Emergency services number.
    #[must_use]
    pub fn emergency_number(&self) -> &str {
        &self.emergency_number
    }

    /// Suicide and crisis line.
    #[must_use]
    pub fn crisis_line(&self) -> &str {
        &self.crisis_line
    }

    /// Poison help line.
    #[must_use]
    pub fn poison_line(&self) -> &str {
        &self.poison_line
    }

    /// How to reach a human clinician.
    #[must_use]
    pub fn human_contact(&self) -> &str {
        &self.human_contact
    }

    /// Replacement text of a blocked request.
    #[must_use]
    pub fn request_blocked(&self) -> &Arc<str> {
        &self.request_blocked
    }

    /// Replacement text of a blocked response.
    #[must_use]
    pub fn response_blocked(&self) -> &Arc<str> {
        &self.response_blocked
    }

    /// The escalation message for `category` at `severity`: the category's
    /// own message for that severity, else the default for the severity,
    /// else the category's emergency message, else the default emergency
    /// message (which every locale has).
    #[must_use]
    pub fn escalation_message(&self, category: &str, severity: Severity) -> &Arc<str> {
        if let Some(m) = self.escalation.get(category).and_then(|per| per.get(&severity)) {
            return m;
        }
        if let Some(m) = self.escalation_default.get(&severity) {
            return m;
        }
        if let Some(m) = self.escalation.get(category).and_then(|p| p.get(&Severity::Emergency)) {
            return m;
        }
        // `new` guarantees the default emergency message exists.
        self.escalation_default.get(&Severity::Emergency).unwrap_or(&self.request_blocked)
    }

    /// Approximate heap bytes.
    pub(crate) fn heap_bytes(&self) -> usize {
        let msgs: usize = self.escalation.values().flat_map(|m| m.values()).map(|s| s.len() + 48).sum();
        msgs + self.escalation_default.values().map(|s| s.len() + 48).sum::<usize>()
    }
}

/// Replaces `{emergency}`, `{crisis}`, `{poison}` and `{human}` from the
/// locale (escalation messages, disclaimer texts).
pub(crate) fn fill_placeholders(s: &str, c: &LocaleConfig) -> Result<String, String> {
    let mut out = String::with_capacity(s.len() + 16);
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err("unclosed '{' in text".into());
        };
        let name = &after[..close];
        out.push_str(match name {
            "emergency" => &c.emergency_number,
            "crisis" => &c.crisis_line,
            "poison" => &c.poison_line,
            "human" => &c.human_contact,
            other => return Err(format!("unknown placeholder {{{other}}} (known: emergency, crisis, poison, human)")),
        });
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LocaleConfig {
        LocaleConfig {
            emergency_number: "911".into(),
            crisis_line: "988".into(),
            poison_line: "1-800-222-1222".into(),
            human_contact: "our nurse line".into(),
            request_blocked: "blocked".into(),
            response_blocked: "blocked".into(),
            escalation_default: [(Severity::Emergency, "Call {emergency} now.".into())].into(),
            escalation: [("suicide_self_harm".into(), [(Severity::Urgent, "Call or text {crisis}.".into())].into())]
                .into(),
        }
    }

    #[test]
    fn placeholders_fill_and_lookup_falls_back() {
        let l = Locale::new("en-US", &cfg()).unwrap();
        assert_eq!(&**l.escalation_message("stroke", Severity::Emergency), "Call 911 now.");
        assert_eq!(&**l.escalation_message("suicide_self_harm", Severity::Urgent), "Call or text 988.");
        // No urgent default: falls back to the emergency default.
        assert_eq!(&**l.escalation_message("stroke", Severity::Urgent), "Call 911 now.");
    }

    #[test]
    fn unknown_placeholder_names_the_field() {
        let mut c = cfg();
        c.request_blocked = "call {emergancy}".into();
        let e = Locale::new("en-US", &c).unwrap_err();
        assert!(e.to_string().contains("locales.en-US.request_blocked"), "{e}");
        assert!(e.to_string().contains("emergancy"), "{e}");
    }
}
