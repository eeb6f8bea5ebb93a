//! Bounded compilation of the regular expressions a policy supplies.
//!
//! Every check that compiles a pattern from its configuration goes through
//! [`compile_regex`] (or [`compile_regex_set`]), so that a policy cannot make
//! the guardrail use unbounded memory or build time, and a bad pattern is
//! reported with the dotted path of the field that holds it.
//!
//! The `regex` crate never backtracks, so matching is always linear in the
//! input; what a hostile or careless pattern can do is make the *compiled*
//! program or the lazy DFA's cache large (`\w{1000}{1000}`), or nest so deep
//! that parsing takes long. [`RegexLimits`] bounds each of these.

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use crate::error::BuildError;

/// Bounds on the regular expressions of a policy.
///
/// | field | default | regex crate's own default | what it bounds |
/// |---|---|---|---|
/// | `max_pattern_len` | 4,096 bytes | none | length of one pattern's source |
/// | `size_limit` | 1 MiB | 10 MiB | compiled size of one regex ([`RegexBuilder::size_limit`]) |
/// | `dfa_size_limit` | 1 MiB | 2 MiB | lazy-DFA cache of one regex ([`RegexBuilder::dfa_size_limit`]) |
/// | `nest_limit` | 64 | 250 | nesting depth of groups and repetitions ([`RegexBuilder::nest_limit`]) |
/// | `max_patterns` | 4,096 | none | patterns in one list ([`check_pattern_count`]) |
/// | `set_size_limit` | 32 MiB | 10 MiB | compiled size of one [`RegexSet`] |
///
/// With the defaults a check holding the maximum number of patterns stays
/// within a few hundred MiB in the very worst case; real lexicons compile to
/// a few KiB per pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegexLimits {
    /// Longest pattern source, in bytes.
    pub max_pattern_len: usize,
    /// Largest compiled program of one regex, in bytes.
    pub size_limit: usize,
    /// Largest lazy-DFA cache of one regex, in bytes.
    pub dfa_size_limit: usize,
    /// Deepest nesting of groups and repetitions.
    pub nest_limit: u32,
    /// Most patterns in one list.
    pub max_patterns: usize,
    /// Largest compiled program of one regex set, in bytes.
    pub set_size_limit: usize,
}

impl RegexLimits {
    /// The documented defaults, usable in `const` context.
    pub const DEFAULT: RegexLimits = RegexLimits {
        max_pattern_len: 4096,
        size_limit: 1 << 20,
        dfa_size_limit: 1 << 20,
        nest_limit: 64,
        max_patterns: 4096,
        set_size_limit: 32 << 20,
    };
}

impl Default for RegexLimits {
    fn default() -> RegexLimits {
        RegexLimits::DEFAULT
    }
}

/// Compiles `pattern` (held by the policy field `field`, such as
/// `injection.rules[3].pattern`) within `limits`.
///
/// Besides the regex crate's own errors, a pattern is rejected when it is
/// longer than `limits.max_pattern_len` or when it matches the empty string
/// (it would then match every message).
///
/// ```
/// use medguard::policy::{RegexLimits, compile_regex};
///
/// let re = compile_regex("injection.rules[0].pattern", r"(?-u:\b)ignore (all|previous)", &RegexLimits::DEFAULT)?;
/// assert!(re.is_match("please ignore all of it"));
/// let err = compile_regex("injection.rules[1].pattern", r"\w{1000}{1000}", &RegexLimits::DEFAULT).unwrap_err();
/// assert_eq!(err.field(), "injection.rules[1].pattern");
/// # Ok::<(), medguard::BuildError>(())
/// ```
///
/// # Errors
///
/// A [`BuildError`] naming `field` when the pattern is too long, does not
/// parse, compiles larger than the limits, or matches the empty string.
pub fn compile_regex(field: &str, pattern: &str, limits: &RegexLimits) -> Result<Regex, BuildError> {
    compile_regex_with(field, pattern, limits, |_| {})
}

/// [`compile_regex`] with extra builder settings (case-insensitivity,
/// multi-line, ...); the size and nesting limits are applied after
/// `configure` runs, so it cannot loosen them.
///
/// # Errors
///
/// As [`compile_regex`].
pub fn compile_regex_with(
    field: &str,
    pattern: &str,
    limits: &RegexLimits,
    configure: impl FnOnce(&mut RegexBuilder),
) -> Result<Regex, BuildError> {
    check_pattern(field, pattern, limits)?;
    let mut builder = RegexBuilder::new(pattern);
    configure(&mut builder);
    builder.size_limit(limits.size_limit).dfa_size_limit(limits.dfa_size_limit).nest_limit(limits.nest_limit);
    let re = builder.build().map_err(|e| regex_error(field, &e, limits.size_limit))?;
    if re.is_match("") {
        return Err(BuildError::new(field, "the pattern matches the empty string, so it would match every message"));
    }
    Ok(re)
}

/// Compiles a list of patterns into one [`RegexSet`]. Each pattern is first
/// compiled on its own so that an error names its field
/// (`field_of(index)`); the set as a whole is bounded by
/// `limits.set_size_limit`.
///
/// # Errors
///
/// As [`compile_regex`], plus too many patterns ([`check_pattern_count`])
/// and a set that compiles larger than `limits.set_size_limit` (named by
/// `list_field`).
pub fn compile_regex_set<S: AsRef<str>>(
    list_field: &str,
    field_of: impl Fn(usize) -> String,
    patterns: &[S],
    limits: &RegexLimits,
) -> Result<RegexSet, BuildError> {
    check_pattern_count(list_field, patterns.len(), limits)?;
    for (i, p) in patterns.iter().enumerate() {
        compile_regex(&field_of(i), p.as_ref(), limits)?;
    }
    RegexSetBuilder::new(patterns.iter().map(AsRef::as_ref))
        .size_limit(limits.set_size_limit)
        .dfa_size_limit(limits.dfa_size_limit)
        .nest_limit(limits.nest_limit)
        .build()
        .map_err(|e| regex_error(list_field, &e, limits.set_size_limit))
}

/// Fails when a list holds more than `limits.max_patterns` patterns.
///
/// # Errors
///
/// A [`BuildError`] naming `field`.
pub fn check_pattern_count(field: &str, count: usize, limits: &RegexLimits) -> Result<(), BuildError> {
    if count > limits.max_patterns {
        return Err(BuildError::new(field, format!("{count} patterns; the limit is {}", limits.max_patterns)));
    }
    Ok(())
}

fn check_pattern(field: &str, pattern: &str, limits: &RegexLimits) -> Result<(), BuildError> {
    if pattern.is_empty() {
        return Err(BuildError::new(field, "the pattern is empty"));
    }
    if pattern.len() > limits.max_pattern_len {
        return Err(BuildError::new(
            field,
            format!("the pattern is {} bytes long; the limit is {}", pattern.len(), limits.max_pattern_len),
        ));
    }
    Ok(())
}

fn regex_error(field: &str, e: &regex::Error, limit: usize) -> BuildError {
    match e {
        regex::Error::CompiledTooBig(_) => BuildError::new(
            field,
            format!(
                "the pattern compiles to more than {limit} bytes (counted repetitions such as `{{1000}}` \
                 multiply its size; simplify it or split it)"
            ),
        ),
        regex::Error::Syntax(msg) => {
            // The crate's message spans several lines (pattern, caret,
            // error); keep the last, which says what is wrong.
            let what = msg.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(msg).trim();
            let what = what.strip_prefix("error: ").unwrap_or(what);
            BuildError::new(field, format!("invalid regex: {what}"))
        }
        other => BuildError::new(field, format!("invalid regex: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: RegexLimits = RegexLimits::DEFAULT;

    #[test]
    fn good_patterns_compile() {
        let re = compile_regex("f", r"(?-u:\b)take \d+ (mg|pills)", &L).unwrap();
        assert!(re.is_match("take 20 mg"));
        let re = compile_regex_with("f", "ABC", &L, |b| {
            b.case_insensitive(true);
        })
        .unwrap();
        assert!(re.is_match("abc"));
    }

    #[test]
    fn gigantic_patterns_are_rejected_with_the_field() {
        let e = compile_regex("x.rules[2].pattern", r"\w{1000}{1000}", &L).unwrap_err();
        assert_eq!(e.field(), "x.rules[2].pattern");
        assert!(e.message().contains("compiles to more than"), "{e}");
        let long = "a".repeat(L.max_pattern_len + 1);
        assert!(compile_regex("f", &long, &L).unwrap_err().message().contains("bytes long"));
        let deep = format!("{}a{}", "(".repeat(200), ")".repeat(200));
        assert!(compile_regex("f", &deep, &L).is_err());
    }

    #[test]
    fn syntax_errors_are_one_line() {
        let e = compile_regex("f", "(abc", &L).unwrap_err();
        assert!(!e.message().contains('\n'), "{e}");
        assert!(e.message().starts_with("invalid regex: "), "{e}");
    }

    #[test]
    fn patterns_matching_everything_are_rejected() {
        assert!(compile_regex("f", "", &L).is_err());
        assert!(compile_regex("f", "a*", &L).unwrap_err().message().contains("empty string"));
        assert!(compile_regex("f", "(?:x|)", &L).is_err());
    }

    #[test]
    fn sets_name_the_bad_member_and_bound_the_count() {
        let e = compile_regex_set("r", |i| format!("r[{i}].pattern"), &["ok", "(bad"], &L).unwrap_err();
        assert_eq!(e.field(), "r[1].pattern");
        let few = RegexLimits { max_patterns: 1, ..L };
        let e = compile_regex_set("r", |i| format!("r[{i}]"), &["a", "b"], &few).unwrap_err();
        assert_eq!(e.field(), "r");
        let set = compile_regex_set("r", |i| format!("r[{i}]"), &["a", "b"], &L).unwrap();
        assert_eq!(set.matches("xb").into_iter().collect::<Vec<_>>(), vec![1]);
    }
}
