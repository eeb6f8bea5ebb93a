//! Loading a policy document: reading, parsing, layering (`extends`),
//! splicing rule files (`rules_files`), deserialising with every problem
//! located, and building the guardrail with located build errors.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::tree::{self, Entry, Kind, Node, Origin, RawProblem, Seg};
use super::{BUILTIN_POLICY_TOML, MAX_POLICY_BYTES, Policy};
use crate::error::{Error, PolicyError, Problem};
use crate::guardrail::Guardrail;

/// Deepest nesting accepted in a policy document or rule file (tables and
/// arrays). The TOML and JSON parsers stop at 80 and 128 levels before this
/// check runs, so no input can exhaust the stack.
pub const MAX_DEPTH: usize = 32;

/// Longest `extends` chain (a policy extending a policy extending ...).
pub const MAX_EXTENDS: usize = 8;

/// Most `rules_files` entries in one resolved policy.
pub const MAX_RULES_FILES: usize = 256;

/// Most bytes read for one policy: its file, every file it extends and every
/// rule file, together.
pub const MAX_TOTAL_BYTES: usize = 64 << 20;

/// Most problems reported for one policy; later ones are dropped.
pub const MAX_PROBLEMS: usize = 100;

/// The built-in policy's name in problems and `extends`.
const BUILTIN_NAME: &str = "<builtin>";

/// One text the document was assembled from.
struct Source {
    /// File path as resolved (relative paths stay relative to the current
    /// directory), `<builtin>` or `<string>`.
    name: String,
    text: String,
    /// Directory that relative paths in this source are resolved against;
    /// `None` for the built-in policy.
    dir: Option<PathBuf>,
    json: bool,
}

/// Where a field of a policy document is: file, line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    source: String,
    line: usize,
    column: usize,
}

impl Location {
    /// The file (or `<builtin>`, `<string>`).
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// 1-based line.
    #[must_use]
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based column, in characters.
    #[must_use]
    pub fn column(&self) -> usize {
        self.column
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.source, self.line, self.column)
    }
}

/// A resolved policy document: every `extends` layer merged and every
/// `rules_files` entry spliced in, with a map from each field back to the
/// file, line and column it came from.
///
/// ```no_run
/// use medguard::policy::Document;
///
/// let doc = Document::from_path("site-policy.toml")?;
/// let policy = doc.to_policy()?;          // serde + semantic checks, every problem located
/// let guard = doc.guardrail(&policy)?;    // build errors located too
/// # Ok::<(), medguard::PolicyError>(())
/// ```
///
/// See the [module documentation](super) for the layering rules.
pub struct Document {
    root: Node,
    sources: Vec<Source>,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
        f.debug_struct("Document").field("sources", &names).finish_non_exhaustive()
    }
}

impl Document {
    /// The built-in healthcare policy as a document.
    ///
    /// # Errors
    ///
    /// Never in a released build (a test parses it).
    pub fn builtin() -> Result<Document, PolicyError> {
        Loader::default()
            .run(Start::Text { name: BUILTIN_NAME, text: BUILTIN_POLICY_TOML, json: false, dir: None })
            .into_document()
    }

    /// Reads a policy file (JSON when the extension is `.json`, TOML
    /// otherwise), the files it extends and its rule files. Relative paths
    /// inside a file are resolved against that file's directory.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] listing every problem found, each with its file,
    /// line and column where known.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Document, PolicyError> {
        Loader::default().run(Start::File(path.as_ref())).into_document()
    }

    /// Parses a TOML policy. Relative `extends` and `rules_files` paths are
    /// resolved against the current directory.
    ///
    /// # Errors
    ///
    /// As [`Document::from_path`].
    pub fn from_toml_str(text: &str) -> Result<Document, PolicyError> {
        Loader::default()
            .run(Start::Text { name: "<string>", text, json: false, dir: Some(PathBuf::new()) })
            .into_document()
    }

    /// Parses a JSON policy. Relative `extends` and `rules_files` paths are
    /// resolved against the current directory.
    ///
    /// # Errors
    ///
    /// As [`Document::from_path`].
    pub fn from_json_str(text: &str) -> Result<Document, PolicyError> {
        Loader::default()
            .run(Start::Text { name: "<string>", text, json: true, dir: Some(PathBuf::new()) })
            .into_document()
    }

    /// The name of the top-level source (the file given, `<builtin>` or
    /// `<string>`).
    #[must_use]
    pub fn source_name(&self) -> &str {
        self.sources.first().map_or("", |s| s.name.as_str())
    }

    /// The resolved document as JSON: layers merged, `_append` keys applied,
    /// rule files spliced, `extends` and `rules_files` removed. Sections
    /// the [`Policy`] type does not know are kept (and rejected by
    /// [`to_policy`](Document::to_policy)).
    #[must_use]
    pub fn value(&self) -> Value {
        self.root.to_json()
    }

    /// Where `field` (a dotted path such as `high_risk.rules[3].phrases[2]`,
    /// as in [`BuildError::field`](crate::BuildError::field)) was written. A
    /// path that does not exist in the document points at its deepest
    /// existing parent.
    #[must_use]
    pub fn locate(&self, field: &str) -> Option<Location> {
        let at = self.root.locate(&tree::parse_path(field), false);
        self.location(at)
    }

    /// Deserialises the document into a [`Policy`] and checks what serde
    /// cannot (locales, limits, duplicate check ids).
    ///
    /// # Errors
    ///
    /// Every problem found: unknown fields, wrong types and missing fields
    /// (each with its dotted path, file, line and column), then the semantic
    /// problems.
    pub fn to_policy(&self) -> Result<Policy, PolicyError> {
        let policy = self.deserialize().map_err(|raw| self.error(raw))?;
        let raw = self.semantic_problems(&policy);
        if raw.is_empty() { Ok(policy) } else { Err(self.error(raw)) }
    }

    fn semantic_problems(&self, policy: &Policy) -> Vec<RawProblem> {
        policy
            .problems()
            .into_iter()
            .map(|e| {
                let at = self.root.locate(&tree::parse_path(e.field()), false);
                RawProblem::new(e.field(), Some(at), e.message())
            })
            .collect()
    }

    /// Everything [`validate`](Document::validate) checks, for a file, and
    /// as much of it as possible at once: a missing rule file does not stop
    /// the report of an unknown field elsewhere. (Checks are built only
    /// when nothing else is wrong, since a missing rule file or a wrong
    /// type would make their problems misleading.) This is what
    /// `medguard policy validate FILE` runs.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] with every problem found.
    pub fn validate_path(path: impl AsRef<Path>) -> Result<Policy, PolicyError> {
        let loaded = Loader::default().run(Start::File(path.as_ref()));
        let Some(root) = loaded.root else { return Err(to_error(&loaded.name, &loaded.sources, loaded.problems)) };
        let doc = Document { root, sources: loaded.sources };
        let mut problems = loaded.problems;
        match doc.deserialize() {
            Err(raw) => problems.extend(raw),
            Ok(policy) => {
                problems.extend(doc.semantic_problems(&policy));
                if problems.is_empty() {
                    problems.extend(doc.build_problems(&policy));
                }
                if problems.is_empty() {
                    return Ok(policy);
                }
            }
        }
        Err(doc.error(problems))
    }

    /// Builds the guardrail of `policy` (which must come from this
    /// document's [`to_policy`](Document::to_policy)). When it does not
    /// build, every check is built on its own so that every check's
    /// problem is reported, each located in the document.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] with every build problem.
    pub fn guardrail(&self, policy: &Policy) -> Result<Guardrail, PolicyError> {
        match Guardrail::from_policy(policy) {
            Ok(g) => Ok(g),
            Err(_) => Err(self.error(self.build_problems(policy))),
        }
    }

    /// [`to_policy`](Document::to_policy), then builds every check and the
    /// whole guardrail, reporting every problem found. This is what
    /// `medguard policy validate` runs.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] with every problem.
    pub fn validate(&self) -> Result<Policy, PolicyError> {
        let policy = self.to_policy()?;
        let problems = self.build_problems(&policy);
        if problems.is_empty() { Ok(policy) } else { Err(self.error(problems)) }
    }

    /// Builds each check alone (so one bad check does not hide another),
    /// then the whole pipeline (mandatory checks, ordering).
    fn build_problems(&self, policy: &Policy) -> Vec<RawProblem> {
        let mut out: Vec<RawProblem> = Vec::new();
        let mut push = |field: String, message: String| {
            if !out.iter().any(|p| p.field == field && p.message == message) {
                let at = self.root.locate(&tree::parse_path(&field), false);
                out.push(RawProblem::new(field, Some(at), message));
            }
        };
        for (i, id) in policy.pipeline.checks.iter().enumerate() {
            let mut alone = policy.clone();
            alone.pipeline.checks = vec![id.clone()];
            if let Err(e) = crate::checks::build_pipeline(&alone) {
                let field =
                    if e.field() == "pipeline.checks[0]" { format!("pipeline.checks[{i}]") } else { e.field().into() };
                push(field, e.message().into());
            }
        }
        match Guardrail::from_policy(policy) {
            Ok(_) => {}
            Err(Error::Build(e)) => push(e.field().into(), e.message().into()),
            Err(Error::Policy(e)) => {
                for p in e.problems() {
                    push(p.field().into(), p.message().into());
                }
            }
            Err(e) => push(String::new(), e.to_string()),
        }
        out
    }

    /// serde with every problem: after an error, the offending key is
    /// removed and deserialisation runs again, so that an unknown field in
    /// one section does not hide a wrong type in another.
    fn deserialize(&self) -> Result<Policy, Vec<RawProblem>> {
        let mut value = self.root.to_json();
        let mut problems = Vec::new();
        let mut removed: Vec<Vec<Seg>> = Vec::new();
        while problems.len() < MAX_PROBLEMS {
            let err = match serde_path_to_error::deserialize::<_, Policy>(&value) {
                Ok(p) if problems.is_empty() => return Ok(p),
                Ok(_) => return Err(problems),
                Err(e) => e,
            };
            let segs: Vec<Seg> = err
                .path()
                .iter()
                .filter_map(|s| match s {
                    serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                    serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                    serde_path_to_error::Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
                    _ => None,
                })
                .collect();
            let message = err.into_inner().to_string();
            if let Some(name) = missing_field(&message) {
                let mut full = segs.clone();
                full.push(Seg::Key(name.to_string()));
                if removed.contains(&full) {
                    // A consequence of a key removed after an earlier
                    // problem, not a problem of its own.
                    return Err(problems);
                }
            }
            let unknown = message.starts_with("unknown field");
            let at = self.root.locate(&segs, unknown);
            problems.push(RawProblem::new(tree::format_path(&segs), Some(at), message));
            let mut target = segs;
            while matches!(target.last(), Some(Seg::Index(_))) {
                target.pop();
            }
            if target.is_empty() || !remove(&mut value, &target) {
                return Err(problems);
            }
            removed.push(target);
        }
        Err(problems)
    }

    fn location(&self, at: Origin) -> Option<Location> {
        let src = self.sources.get(at.src)?;
        let (line, column) = super::line_col(&src.text, at.offset);
        Some(Location { source: src.name.clone(), line: line?, column: column? })
    }

    fn error(&self, raw: Vec<RawProblem>) -> PolicyError {
        to_error("", &self.sources, raw)
    }
}

/// Turns raw problems into a located [`PolicyError`] named after the first
/// source (or `name` when there is none).
fn to_error(name: &str, sources: &[Source], mut raw: Vec<RawProblem>) -> PolicyError {
    let name = sources.first().map_or_else(|| name.to_string(), |s| s.name.clone());
    // In file order: the top file first, then what it extends and uses.
    raw.sort_by_key(|p| p.at.map_or((usize::MAX, 0), |at| (at.src, at.offset)));
    let problems = raw
        .into_iter()
        .take(MAX_PROBLEMS)
        .map(|p| {
            let src = p.at.and_then(|at| sources.get(at.src).map(|s| (s, at.offset)));
            let (line, column) = match src {
                Some((s, offset)) => super::line_col(&s.text, offset),
                None => (None, None),
            };
            Problem {
                source: src.map(|(s, _)| s.name.clone()).or_else(|| Some(name.clone())),
                field: p.field,
                line,
                column,
                message: p.message,
            }
        })
        .collect();
    PolicyError::new(name, problems)
}

/// `missing field `x`` → `x`.
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// Removes the key at `path` (which ends in a key) from `value`.
fn remove(value: &mut Value, path: &[Seg]) -> bool {
    let Some((Seg::Key(last), parents)) = path.split_last() else { return false };
    let mut v = value;
    for seg in parents {
        v = match (seg, v) {
            (Seg::Key(k), Value::Object(m)) => match m.get_mut(k) {
                Some(x) => x,
                None => return false,
            },
            (Seg::Index(i), Value::Array(a)) => match a.get_mut(*i) {
                Some(x) => x,
                None => return false,
            },
            _ => return false,
        };
    }
    match v {
        Value::Object(m) => m.remove(last).is_some(),
        _ => false,
    }
}

/// What [`Loader::run`] produced.
struct Loaded {
    /// The top-level source's name (for errors when it could not be read).
    name: String,
    root: Option<Node>,
    sources: Vec<Source>,
    problems: Vec<RawProblem>,
}

impl Loaded {
    /// The document, when it loaded without any problem.
    fn into_document(self) -> Result<Document, PolicyError> {
        match self.root {
            Some(root) if self.problems.is_empty() => Ok(Document { root, sources: self.sources }),
            _ => Err(to_error(&self.name, &self.sources, self.problems)),
        }
    }
}

enum Start<'a> {
    File(&'a Path),
    Text { name: &'a str, text: &'a str, json: bool, dir: Option<PathBuf> },
}

#[derive(Default)]
struct Loader {
    sources: Vec<Source>,
    problems: Vec<RawProblem>,
    total_bytes: usize,
    rules_files: usize,
}

impl Loader {
    /// Loads a document, or as much of one as can be built: `root` is
    /// `None` when a file cannot be read or parsed or a layer cannot be
    /// merged; rule-file problems leave the rest of the tree usable, so
    /// validation can go on to report serde problems too.
    fn run(mut self, start: Start<'_>) -> Loaded {
        let mut chain = Vec::new();
        let (fallback, src) = match start {
            Start::File(path) => {
                let name = path.display().to_string();
                let Some(source) = self.read_source(path, "", None) else {
                    return self.loaded(name, None);
                };
                if let Ok(c) = path.canonicalize() {
                    chain.push(c);
                }
                (name, self.push(source))
            }
            Start::Text { name, text, json, dir } => {
                if let Err(message) = check_size(text.len(), self.total_bytes) {
                    self.problems.push(RawProblem::new("", None, message));
                    return self.loaded(name.into(), None);
                }
                (name.to_string(), self.push(Source { name: name.into(), text: text.into(), dir, json }))
            }
        };
        let root = self.layer(src, &mut chain);
        let mut root = match root {
            Some(r) if self.problems.is_empty() => r,
            _ => return self.loaded(fallback, None),
        };
        self.splice_rules(&mut root, "");
        if root.depth() > MAX_DEPTH {
            self.problems.push(RawProblem::new(
                "",
                Some(root.at),
                format!("the resolved policy is nested deeper than {MAX_DEPTH} levels"),
            ));
            return self.loaded(fallback, None);
        }
        self.loaded(fallback, Some(root))
    }

    fn loaded(self, name: String, root: Option<Node>) -> Loaded {
        Loaded { name, root, sources: self.sources, problems: self.problems }
    }

    fn push(&mut self, source: Source) -> usize {
        self.total_bytes += source.text.len();
        self.sources.push(source);
        self.sources.len() - 1
    }

    /// Reads a file, bounded in size. `field` and `at` say who asked for it
    /// (both empty for the top file).
    fn read_source(&mut self, path: &Path, field: &str, at: Option<Origin>) -> Option<Source> {
        let name = path.display().to_string();
        let read = (|| -> Result<String, String> {
            let meta = std::fs::metadata(path).map_err(|e| format!("cannot read `{name}`: {e}"))?;
            if !meta.is_file() {
                return Err(format!("`{name}` is not a regular file"));
            }
            let room = MAX_POLICY_BYTES.min(MAX_TOTAL_BYTES.saturating_sub(self.total_bytes));
            let mut bytes = Vec::new();
            std::fs::File::open(path)
                .and_then(|f| f.take(room as u64 + 1).read_to_end(&mut bytes))
                .map_err(|e| format!("cannot read `{name}`: {e}"))?;
            check_size(bytes.len(), self.total_bytes).map_err(|m| format!("`{name}`: {m}"))?;
            String::from_utf8(bytes)
                .map_err(|e| format!("`{name}` is not valid UTF-8 (at byte {})", e.utf8_error().valid_up_to()))
        })();
        match read {
            Ok(text) => {
                let json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
                let dir = Some(path.parent().map(Path::to_path_buf).unwrap_or_default());
                Some(Source { name, text, dir, json })
            }
            Err(msg) => {
                self.problems.push(RawProblem::new(field, at, msg));
                None
            }
        }
    }

    /// Parses a source into its root table.
    fn parse(&mut self, src: usize) -> Option<Node> {
        let s = &self.sources[src];
        let at = Origin { src, offset: 0 };
        let file_problem = |this: &mut Loader, msg: &str| {
            this.problems.push(RawProblem::new("", Some(at), msg));
            None
        };
        if s.text.trim().is_empty() {
            return file_problem(self, "the document is empty");
        }
        let root = if s.json {
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&s.text) {
                let offset = offset_of(&s.text, e.line(), e.column());
                let message = e.to_string();
                let message = message.split(" at line ").next().unwrap_or(&message).to_string();
                self.problems.push(RawProblem::new("", Some(Origin { src, offset }), message));
                return None;
            }
            let text = s.text.clone();
            let root = tree::from_json(&text, src, &mut self.problems);
            if !self.problems.is_empty() {
                return None;
            }
            root?
        } else {
            let (doc, mut errors) = toml::de::DeTable::parse_recoverable(&s.text);
            if !errors.is_empty() {
                errors.sort_by_key(|e| e.span().map_or(0, |r| r.start));
                let mut seen = Vec::new();
                for e in errors {
                    let offset = e.span().map_or(0, |r| r.start);
                    let key = (offset, e.message().to_string());
                    if !seen.contains(&key) {
                        self.problems.push(RawProblem::new("", Some(Origin { src, offset }), e.message().trim_end()));
                        seen.push(key);
                    }
                }
                return None;
            }
            let mut problems = Vec::new();
            let table = tree::from_toml_table(doc.get_ref(), src, "", 1, &mut problems);
            if !problems.is_empty() {
                self.problems.extend(problems);
                return None;
            }
            Node::new(Kind::Table(table), at)
        };
        let depth = root.depth();
        if depth > MAX_DEPTH {
            return file_problem(
                self,
                &format!("the document is nested {depth} levels deep; the limit is {MAX_DEPTH}"),
            );
        }
        match &root.kind {
            Kind::Table(t) if t.is_empty() => file_problem(self, "the document is empty"),
            Kind::Table(_) => Some(root),
            other => file_problem(self, &format!("the document must be a table (object), not {}", other.type_name())),
        }
    }

    /// One layer: the source's tree merged onto what it extends.
    fn layer(&mut self, src: usize, chain: &mut Vec<PathBuf>) -> Option<Node> {
        let mut node = self.parse(src)?;
        let extends = node.as_table_mut().and_then(|t| t.remove("extends"));
        let Some(extends) = extends else {
            tree::normalize(&mut node, "", &mut self.problems);
            return Some(node);
        };
        let Kind::Str(target) = &extends.node.kind else {
            self.problems.push(RawProblem::new(
                "extends",
                Some(extends.node.at),
                format!("must be \"builtin\" or the path of a policy file, not {}", extends.node.kind.type_name()),
            ));
            return None;
        };
        let at = Some(extends.node.at);
        if chain.len() > MAX_EXTENDS {
            self.problems.push(RawProblem::new(
                "extends",
                at,
                format!("the `extends` chain is longer than {MAX_EXTENDS} policies"),
            ));
            return None;
        }
        let base_src = if target == "builtin" {
            if self.sources[src].name == BUILTIN_NAME {
                self.problems.push(RawProblem::new("extends", at, "the built-in policy cannot extend itself"));
                return None;
            }
            self.push(Source { name: BUILTIN_NAME.into(), text: BUILTIN_POLICY_TOML.into(), dir: None, json: false })
        } else {
            let path = match &self.sources[src].dir {
                Some(dir) => dir.join(target),
                None if Path::new(target).is_absolute() => PathBuf::from(target),
                None => {
                    self.problems.push(RawProblem::new(
                        "extends",
                        at,
                        "a relative path needs a policy file to be relative to",
                    ));
                    return None;
                }
            };
            let canonical = match path.canonicalize() {
                Ok(c) => c,
                Err(e) => {
                    self.problems.push(RawProblem::new(
                        "extends",
                        at,
                        format!("cannot read `{}`: {e}", path.display()),
                    ));
                    return None;
                }
            };
            if let Some(i) = chain.iter().position(|c| *c == canonical) {
                let mut cycle: Vec<String> = chain[i..].iter().map(|p| p.display().to_string()).collect();
                cycle.push(canonical.display().to_string());
                self.problems.push(RawProblem::new(
                    "extends",
                    at,
                    format!("`extends` forms a cycle: {}", cycle.join(" -> ")),
                ));
                return None;
            }
            chain.push(canonical);
            let source = self.read_source(&path, "extends", at)?;
            self.push(source)
        };
        let base = self.layer(base_src, chain);
        if target != "builtin" {
            chain.pop();
        }
        let mut base = base?;
        tree::merge(&mut base, node, "", &mut self.problems);
        Some(base)
    }

    /// Replaces every `rules_files` list with the rules of those files,
    /// appended to the sibling `rules` list.
    fn splice_rules(&mut self, node: &mut Node, path: &str) {
        match &mut node.kind {
            Kind::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.splice_rules(item, &format!("{path}[{i}]"));
                }
            }
            Kind::Table(table) => {
                for (k, e) in table.iter_mut() {
                    self.splice_rules(&mut e.node, &tree::join(path, k));
                }
                let Some(files) = table.remove("rules_files") else { return };
                let field = tree::join(path, "rules_files");
                let items = match files.node.kind {
                    Kind::Array(items) => items,
                    other => {
                        self.problems.push(RawProblem::new(
                            field,
                            Some(files.node.at),
                            format!("must be an array of file paths, not {}", other.type_name()),
                        ));
                        return;
                    }
                };
                let mut rules = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    rules.extend(self.rules_file(&item, &format!("{field}[{i}]")));
                }
                match table.get_mut("rules") {
                    None => {
                        let node = Node::new(Kind::Array(rules), files.node.at);
                        table.insert("rules".into(), Entry { key_at: files.key_at, node });
                    }
                    Some(e) => match &mut e.node.kind {
                        Kind::Array(existing) => existing.extend(rules),
                        other => self.problems.push(RawProblem::new(
                            field,
                            Some(files.key_at),
                            format!(
                                "cannot add rules to `{}`: it is {}, not an array",
                                tree::join(path, "rules"),
                                other.type_name()
                            ),
                        )),
                    },
                }
            }
            _ => {}
        }
    }

    /// The rules of one `rules_files` entry.
    fn rules_file(&mut self, item: &Node, field: &str) -> Vec<Node> {
        let at = Some(item.at);
        let Kind::Str(p) = &item.kind else {
            self.problems.push(RawProblem::new(
                field,
                at,
                format!("must be a file path, not {}", item.kind.type_name()),
            ));
            return Vec::new();
        };
        self.rules_files += 1;
        if self.rules_files > MAX_RULES_FILES {
            if self.rules_files == MAX_RULES_FILES + 1 {
                self.problems.push(RawProblem::new(field, at, format!("more than {MAX_RULES_FILES} rule files")));
            }
            return Vec::new();
        }
        let path = match self.sources.get(item.at.src).and_then(|s| s.dir.as_ref()) {
            Some(dir) => dir.join(p),
            None if Path::new(p).is_absolute() => PathBuf::from(p),
            None => {
                self.problems.push(RawProblem::new(field, at, "a relative path needs a policy file to be relative to"));
                return Vec::new();
            }
        };
        let Some(source) = self.read_source(&path, field, at) else { return Vec::new() };
        let src = self.push(source);
        let Some(mut root) = self.parse(src) else { return Vec::new() };
        tree::normalize(&mut root, "", &mut self.problems);
        let Kind::Table(mut table) = root.kind else { return Vec::new() };
        let name = &self.sources[src].name;
        for (k, e) in &table {
            if k != "rules" {
                self.problems.push(RawProblem::new(
                    format!("{field}: {k}"),
                    Some(e.key_at),
                    format!("unknown key `{k}` in the rule file `{name}`; a rule file holds only `rules`"),
                ));
            }
        }
        match table.remove("rules") {
            Some(Entry { node: Node { kind: Kind::Array(items), .. }, .. }) => items,
            Some(e) => {
                self.problems.push(RawProblem::new(
                    format!("{field}: rules"),
                    Some(e.node.at),
                    format!("`rules` must be an array of rules (`[[rules]]`), not {}", e.node.kind.type_name()),
                ));
                Vec::new()
            }
            None => {
                self.problems.push(RawProblem::new(
                    field,
                    at,
                    format!("the rule file `{name}` has no `rules` (write each rule as a `[[rules]]` table)"),
                ));
                Vec::new()
            }
        }
    }
}

/// Checks one text's size against the per-file and total bounds.
fn check_size(len: usize, total_before: usize) -> Result<(), String> {
    if len > MAX_POLICY_BYTES {
        return Err(format!("the document is larger than {MAX_POLICY_BYTES} bytes"));
    }
    if total_before + len > MAX_TOTAL_BYTES {
        return Err(format!("the policy and the files it uses are larger than {MAX_TOTAL_BYTES} bytes together"));
    }
    Ok(())
}

/// Byte offset of a 1-based line and column (serde_json counts columns in
/// bytes).
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return crate::normalize::floor_char_boundary(text, offset + column.saturating_sub(1));
        }
        offset += l.len();
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("medguard-load-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write(path: &Path, text: &str) {
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).unwrap();
        }
        std::fs::write(path, text).unwrap();
    }

    fn problems(e: &PolicyError) -> Vec<(String, Option<usize>, String)> {
        e.problems().iter().map(|p| (p.field().to_string(), p.line(), p.message().to_string())).collect()
    }

    #[test]
    fn extending_builtin_without_changes_keeps_its_id() {
        let d = dir("same");
        write(&d.join("p.toml"), "extends = \"builtin\"\n");
        let p = Policy::from_path(d.join("p.toml")).unwrap();
        assert_eq!(p.id(), Policy::builtin().unwrap().id());
    }

    #[test]
    fn extends_overrides_merge_and_change_the_id() {
        let d = dir("override");
        write(&d.join("p.toml"), "extends = \"builtin\"\nname = \"site\"\n[limits]\nmax_input_bytes = 1000\n");
        let p = Policy::from_path(d.join("p.toml")).unwrap();
        let b = Policy::builtin().unwrap();
        assert_eq!(p.name, "site");
        assert_eq!(p.limits.max_input_bytes, 1000);
        assert_eq!(p.limits.max_findings, b.limits.max_findings, "the rest of [limits] is inherited");
        assert_eq!(p.locales, b.locales);
        assert_ne!(p.id(), b.id());
    }

    #[test]
    fn extends_paths_are_relative_to_the_extending_file_and_json_mixes_in() {
        let d = dir("chain");
        write(&d.join("base/base.toml"), "extends = \"builtin\"\nversion = \"9\"\n[pipeline]\nchecks = [\"a\"]\n");
        write(&d.join("base/mid.json"), r#"{"extends": "base.toml", "pipeline": {"checks_append": ["b"]}}"#);
        write(&d.join("site.toml"), "extends = \"base/mid.json\"\nname = \"site\"\n");
        let doc = Document::from_path(d.join("site.toml")).unwrap();
        let v = doc.value();
        assert_eq!(v["pipeline"]["checks"], serde_json::json!(["a", "b"]));
        assert_eq!(v["version"], "9");
        assert_eq!(v["name"], "site");
        assert!(v.get("extends").is_none());
        // Each field points back at the file that set it.
        assert_eq!(doc.locate("name").unwrap().source(), d.join("site.toml").display().to_string());
        assert!(doc.locate("version").unwrap().source().ends_with("base.toml"));
        assert_eq!(doc.locate("locales.en-US.emergency_number").unwrap().source(), "<builtin>");
    }

    #[test]
    fn extends_cycles_and_long_chains_are_errors() {
        let d = dir("cycle");
        write(&d.join("a.toml"), "extends = \"b.toml\"\nname = \"a\"\n");
        write(&d.join("b.toml"), "extends = \"a.toml\"\nname = \"b\"\n");
        let e = Document::from_path(d.join("a.toml")).unwrap_err();
        assert!(e.problems()[0].message().contains("cycle"), "{e}");
        assert_eq!(e.problems()[0].field(), "extends");
        write(&d.join("self.toml"), "extends = \"./self.toml\"\n");
        assert!(Document::from_path(d.join("self.toml")).unwrap_err().to_string().contains("cycle"));

        for i in 0..=MAX_EXTENDS + 1 {
            write(&d.join(format!("l{i}.toml")), &format!("extends = \"l{}.toml\"\nname = \"x\"\n", i + 1));
        }
        write(&d.join(format!("l{}.toml", MAX_EXTENDS + 2)), "extends = \"builtin\"\n");
        let e = Document::from_path(d.join("l0.toml")).unwrap_err();
        assert!(e.to_string().contains("longer than"), "{e}");
    }

    #[test]
    fn missing_base_names_the_field_and_line() {
        let d = dir("missing-base");
        write(&d.join("p.toml"), "name = \"x\"\nextends = \"nope.toml\"\n");
        let e = Document::from_path(d.join("p.toml")).unwrap_err();
        let p = &e.problems()[0];
        assert_eq!((p.field(), p.line(), p.column()), ("extends", Some(2), Some(11)), "{e}");
        assert!(p.message().contains("nope.toml"), "{e}");
    }

    #[test]
    fn rules_files_splice_after_inline_rules_relative_to_their_policy() {
        let d = dir("rules");
        write(&d.join("base/lex/a.toml"), "[[rules]]\nid = \"a1\"\n[[rules]]\nid = \"a2\"\n");
        write(&d.join("base/base.toml"), "name = \"b\"\nversion = \"1\"\n[x]\nrules_files = [\"lex/a.toml\"]\n");
        write(&d.join("extra.json"), r#"{"rules": [{"id": "e1"}]}"#);
        write(
            &d.join("site.toml"),
            "extends = \"base/base.toml\"\n[x]\nrules = [{id = \"inline\"}]\nrules_files_append = [\"extra.json\"]\n\
             [y.deeper]\nrules_files = [\"extra.json\"]\n",
        );
        let doc = Document::from_path(d.join("site.toml")).unwrap();
        let v = doc.value();
        let ids: Vec<&str> = v["x"]["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["inline", "a1", "a2", "e1"]);
        assert!(v["x"].get("rules_files").is_none());
        assert_eq!(v["y"]["deeper"]["rules"][0]["id"], "e1");
        // A spliced rule is located in its rule file.
        let at = doc.locate("x.rules[2].id").unwrap();
        assert!(at.source().ends_with("a.toml"), "{at}");
        assert_eq!(at.line(), 4);
    }

    #[test]
    fn rule_file_problems_name_field_file_and_line() {
        let d = dir("rules-bad");
        write(&d.join("extra.toml"), "version = 3\n[[rules]]\nid = \"x\"\n");
        write(&d.join("notrules.toml"), "[[other]]\nid = \"x\"\n");
        write(
            &d.join("p.toml"),
            "name = \"p\"\nversion = \"1\"\n[x]\nrules_files = [\"missing.toml\", \"extra.toml\", 3, \"notrules.toml\"]\n",
        );
        let e = Document::from_path(d.join("p.toml")).unwrap_err();
        let ps = problems(&e);
        assert_eq!(ps[0].0, "x.rules_files[0]");
        assert_eq!(ps[0].1, Some(4));
        assert!(ps[0].2.contains("missing.toml"), "{e}");
        assert!(ps.iter().any(|p| p.2.contains("unknown key `version`")), "{e}");
        assert!(ps.iter().any(|p| p.0 == "x.rules_files[2]" && p.2.contains("file path")), "{e}");
        assert!(ps.iter().any(|p| p.2.contains("has no `rules`")), "{e}");
        let rendered = e.to_string();
        assert!(rendered.contains("extra.toml:1:1"), "{rendered}");
    }

    #[test]
    fn validate_path_reports_rule_file_and_serde_problems_together() {
        let d = dir("together");
        write(&d.join("p.toml"), "name = \"p\"\nversion = \"1\"\nbogus = 2\n[x]\nrules_files = [\"gone.toml\"]\n");
        let e = Document::validate_path(d.join("p.toml")).unwrap_err();
        let fields: Vec<&str> = e.problems().iter().map(|p| p.field()).collect();
        assert_eq!(fields, ["bogus", "x", "x.rules_files[0]"], "{e}");
    }

    #[test]
    fn every_serde_problem_is_reported_with_its_location() {
        let text = "name = \"x\"\nversion = \"1\"\nbogus = 1\n[limits]\nmax_input_byte = 3\nmax_findings = \"many\"\n\
                    [pipeline]\nchecks = \"sanitizer\"\n";
        let e = Document::from_toml_str(text).unwrap().to_policy().unwrap_err();
        let ps = problems(&e);
        let fields: Vec<&str> = ps.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(fields, ["bogus", "limits.max_input_byte", "limits.max_findings", "pipeline.checks"], "{e}");
        let lines: Vec<Option<usize>> = ps.iter().map(|p| p.1).collect();
        assert_eq!(lines, [Some(3), Some(5), Some(6), Some(8)], "{e}");
    }

    #[test]
    fn semantic_and_build_problems_are_located() {
        let text = format!(
            "extends = \"builtin\"\nlocale = \"xx\"\n[pipeline]\nchecks = [\"nope\", \"other\"]\n{}",
            "dangerous_allow_missing_safety_checks = true\n"
        );
        let doc = Document::from_toml_str(&text).unwrap();
        let e = doc.to_policy().unwrap_err();
        assert_eq!(problems(&e)[0], ("locale".into(), Some(2), "`xx` is not defined under [locales]".into()));
        let text = text.replace("locale = \"xx\"", "locale = \"en-GB\"");
        let doc = Document::from_toml_str(&text).unwrap();
        let e = doc.validate().unwrap_err();
        let ps = problems(&e);
        assert_eq!(ps[0].0, "pipeline.checks[0]");
        assert_eq!(ps[1].0, "pipeline.checks[1]");
        assert_eq!(ps[1].1, Some(4));
        assert!(e.problems()[1].column().unwrap() > 1);
        let policy = doc.to_policy().unwrap();
        assert_eq!(doc.guardrail(&policy).unwrap_err().problems().len(), 2);
    }

    #[test]
    fn syntax_errors_are_all_reported() {
        let e = Document::from_toml_str("name = \nversion = \"1\"\n[limits\nx = 1\n").unwrap_err();
        assert!(e.problems().len() >= 2, "{e}");
        assert_eq!(e.problems()[0].line(), Some(1));
        let e = Document::from_json_str("{\n  \"name\": \"x\",\n  \"version\": }").unwrap_err();
        assert_eq!((e.problems()[0].line(), e.problems()[0].column()), (Some(3), Some(14)), "{e}");
    }

    #[test]
    fn empty_huge_and_non_table_documents_are_errors() {
        for text in ["", "  \n\t", "# only a comment\n"] {
            let e = Document::from_toml_str(text).unwrap_err();
            assert!(e.to_string().contains("empty"), "{text:?}: {e}");
        }
        assert!(Document::from_json_str("[1, 2]").unwrap_err().to_string().contains("must be a table"));
        assert!(Document::from_json_str("{}").unwrap_err().to_string().contains("empty"));
        let huge = format!("name = \"{}\"\n", "a".repeat(MAX_POLICY_BYTES));
        assert!(Document::from_toml_str(&huge).unwrap_err().to_string().contains("larger than"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let n = 100_000;
        let cases = [
            format!("a = {}", "[".repeat(n)),
            format!("a = {}1{}", "[".repeat(n), "]".repeat(n)),
            format!("a = {}", "{b = ".repeat(n)),
            format!("[{}]\n", vec!["a"; n].join(".")),
            format!("{} = 1\n", vec!["a"; n].join(".")),
            format!("a = {}1{}", "[".repeat(70), "]".repeat(70)),
        ];
        for text in &cases {
            assert!(Document::from_toml_str(text).is_err(), "{}", &text[..20]);
        }
        for text in [
            "[".repeat(n),
            format!("{}1{}", "[".repeat(n), "]".repeat(n)),
            format!("{{\"a\": {}1{}}}", "[".repeat(100), "]".repeat(100)),
            "{\"a\":".repeat(n),
        ] {
            assert!(Document::from_json_str(&text).is_err(), "{}", &text[..20]);
        }
    }

    #[test]
    fn string_policies_cannot_use_builtin_relative_paths() {
        let e = Document::builtin().unwrap();
        assert_eq!(e.source_name(), "<builtin>");
        // A document without a directory rejects relative paths.
        let mut problems = Vec::new();
        let mut loader = Loader::default();
        loader.sources.push(Source { name: "<x>".into(), text: String::new(), dir: None, json: false });
        let item = Node::new(Kind::Str("rel.toml".into()), Origin { src: 0, offset: 0 });
        assert!(loader.rules_file(&item, "f").is_empty());
        problems.extend(loader.problems);
        assert!(problems[0].message.contains("relative path"), "{problems:?}");
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;

        fn json_value() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                (-1e9f64..1e9).prop_map(serde_json::Value::from),
                "[a-z\\\\\"\\u{e9}\\u{1F600} ]{0,8}".prop_map(serde_json::Value::from),
            ];
            leaf.prop_recursive(6, 64, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                    prop::collection::btree_map("[a-z_]{1,6}", inner, 0..6)
                        .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn arbitrary_text_never_panics(text in "[\\[\\]{}=\\.,\"'a-c0-9 \\n#:_-]{0,200}") {
                let _ = Document::from_toml_str(&text).and_then(|d| d.to_policy());
                let _ = Document::from_json_str(&text).and_then(|d| d.to_policy());
            }

            #[test]
            fn json_trees_round_trip_with_origins(map in prop::collection::btree_map("[a-z_]{1,6}", json_value(), 1..6)) {
                let value = serde_json::Value::Object(map.into_iter().collect());
                for text in [value.to_string(), serde_json::to_string_pretty(&value).unwrap()] {
                    let doc = Document::from_json_str(&text).unwrap();
                    // As serde_json itself reads the text (its float parsing
                    // may differ from the original in the last bit).
                    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
                    prop_assert_eq!(doc.value(), expected);
                    for key in value.as_object().unwrap().keys() {
                        let at = doc.locate(key).unwrap();
                        prop_assert!(at.line() >= 1 && at.column() >= 1);
                    }
                }
            }
        }
    }
}
