//! The spanned document tree: TOML and JSON policy documents in one form that
//! remembers where every key and value came from.
//!
//! Layering (`extends`, `_append`) and rule-file splicing work on this tree,
//! before any deserialisation, so they apply to every section, including
//! check sections this module knows nothing about. The tree is then turned
//! into a `serde_json::Value` and deserialised; the origins map serde's and
//! the checks' dotted field paths back to a file, line and column.

use std::collections::BTreeMap;

use serde_json::{Number, Value};

/// Where a key or value starts: a source (index into the loader's source
/// list) and a byte offset in its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) src: usize,
    pub(crate) offset: usize,
}

/// A key of a table with its own origin.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) key_at: Origin,
    pub(crate) node: Node,
}

pub(crate) type Table = BTreeMap<String, Entry>;

/// A value and where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) at: Origin,
}

/// The value of a [`Node`].
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Num(Number),
    Str(String),
    Array(Vec<Node>),
    Table(Table),
}

impl Kind {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Num(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
        }
    }
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A problem found while building or transforming a tree, not yet turned
/// into a [`Problem`](crate::Problem) (which needs the source texts).
#[derive(Debug, Clone)]
pub(crate) struct RawProblem {
    pub(crate) field: String,
    pub(crate) at: Option<Origin>,
    pub(crate) message: String,
}

impl RawProblem {
    pub(crate) fn new(field: impl Into<String>, at: Option<Origin>, message: impl Into<String>) -> RawProblem {
        RawProblem { field: field.into(), at, message: message.into() }
    }
}

/// Formats a path the way serde_path_to_error and `BuildError` do:
/// `a.b[3].c`.
pub(crate) fn format_path(segs: &[Seg]) -> String {
    let mut out = String::new();
    for s in segs {
        match s {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// Joins a parent path and a key.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") }
}

/// Parses `a.b[3].c` into segments. Keys may not contain `.` or `[` (the
/// lookup in [`Node::locate`] tolerates a key that does, by falling back
/// to its parent).
pub(crate) fn parse_path(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                segs.push(Seg::Key(rest[..i].to_string()));
            }
            rest = &rest[i..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(close) = stripped.find(']') else { break };
                match stripped[..close].parse() {
                    Ok(n) => segs.push(Seg::Index(n)),
                    Err(_) => segs.push(Seg::Key(stripped[..close].to_string())),
                }
                rest = &stripped[close + 1..];
            }
        } else if !rest.is_empty() {
            segs.push(Seg::Key(rest.to_string()));
        }
    }
    segs
}

impl Node {
    pub(crate) fn new(kind: Kind, at: Origin) -> Node {
        Node { kind, at }
    }

    pub(crate) fn as_table(&self) -> Option<&Table> {
        match &self.kind {
            Kind::Table(t) => Some(t),
            _ => None,
        }
    }

    pub(crate) fn as_table_mut(&mut self) -> Option<&mut Table> {
        match &mut self.kind {
            Kind::Table(t) => Some(t),
            _ => None,
        }
    }

    /// Nesting depth: a scalar is 0, `[1]` is 1.
    pub(crate) fn depth(&self) -> usize {
        match &self.kind {
            Kind::Array(a) => 1 + a.iter().map(Node::depth).max().unwrap_or(0),
            Kind::Table(t) => 1 + t.values().map(|e| e.node.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// The plain JSON value.
    pub(crate) fn to_json(&self) -> Value {
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Num(n) => Value::Number(n.clone()),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Array(a) => Value::Array(a.iter().map(Node::to_json).collect()),
            Kind::Table(t) => Value::Object(t.iter().map(|(k, e)| (k.clone(), e.node.to_json())).collect()),
        }
    }

    /// The origin of the node at `segs`, or of the deepest node on the way
    /// there. With `key`, a final table key points at the key rather than
    /// its value (used for "unknown field").
    pub(crate) fn locate(&self, segs: &[Seg], key: bool) -> Origin {
        let mut node = self;
        for (i, seg) in segs.iter().enumerate() {
            let last = i + 1 == segs.len();
            match (seg, &node.kind) {
                (Seg::Key(k), Kind::Table(t)) => match t.get(k) {
                    Some(e) if last && key => return e.key_at,
                    Some(e) => node = &e.node,
                    None => return node.at,
                },
                (Seg::Index(n), Kind::Array(a)) => match a.get(*n) {
                    Some(child) => node = child,
                    None => return node.at,
                },
                _ => return node.at,
            }
        }
        node.at
    }
}

/// The suffix that turns an array key into "append to the base's array".
pub(crate) const APPEND_SUFFIX: &str = "_append";

/// Resolves `<key>_append` keys inside a layer that has no base: each one
/// becomes (or is appended to) `<key>`. Recurses into tables and arrays.
pub(crate) fn normalize(node: &mut Node, path: &str, problems: &mut Vec<RawProblem>) {
    match &mut node.kind {
        Kind::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                normalize(item, &format!("{path}[{i}]"), problems);
            }
        }
        Kind::Table(table) => {
            for (k, e) in table.iter_mut() {
                normalize(&mut e.node, &join(path, k), problems);
            }
            let appends: Vec<String> = table.keys().filter(|k| is_append_key(k)).cloned().collect();
            for key in appends {
                let Some(entry) = table.remove(&key) else { continue };
                let target = key[..key.len() - APPEND_SUFFIX.len()].to_string();
                append_into(table, &target, entry, path, problems);
            }
        }
        _ => {}
    }
}

fn is_append_key(k: &str) -> bool {
    k.len() > APPEND_SUFFIX.len() && k.ends_with(APPEND_SUFFIX)
}

/// `table[target] ++= entry` (an `_append` key's value).
fn append_into(table: &mut Table, target: &str, entry: Entry, path: &str, problems: &mut Vec<RawProblem>) {
    let field = join(path, &format!("{target}{APPEND_SUFFIX}"));
    let Kind::Array(extra) = entry.node.kind else {
        problems.push(RawProblem::new(
            field,
            Some(entry.node.at),
            format!("must be an array (the `{APPEND_SUFFIX}` suffix appends to the array `{target}`)"),
        ));
        return;
    };
    match table.get_mut(target) {
        None => {
            let node = Node::new(Kind::Array(extra), entry.node.at);
            table.insert(target.to_string(), Entry { key_at: entry.key_at, node });
        }
        Some(existing) => match &mut existing.node.kind {
            Kind::Array(items) => items.extend(extra),
            other => problems.push(RawProblem::new(
                field,
                Some(entry.key_at),
                format!("cannot append to `{}`: it is {}, not an array", join(path, target), other.type_name()),
            )),
        },
    }
}

/// Merges `overlay` onto `base`: tables merge key by key, recursively;
/// anything else in the overlay (scalar, array, or a table over a
/// non-table) replaces the base's value; `<key>_append = [...]` appends to
/// the base's array `<key>` (creating it when absent). The overlay must
/// already be [`normalize`]d except for its `_append` keys at the levels
/// that merge, which this function handles.
pub(crate) fn merge(base: &mut Node, overlay: Node, path: &str, problems: &mut Vec<RawProblem>) {
    let Kind::Table(over) = overlay.kind else {
        *base = overlay;
        return;
    };
    let Kind::Table(base_table) = &mut base.kind else {
        *base = Node::new(Kind::Table(over), overlay.at);
        return;
    };
    let (appends, plain): (Vec<_>, Vec<_>) = over.into_iter().partition(|(k, _)| is_append_key(k));
    for (k, mut e) in plain {
        let field = join(path, &k);
        match base_table.get_mut(&k) {
            Some(b) if b.node.as_table().is_some() && e.node.as_table().is_some() => {
                merge(&mut b.node, e.node, &field, problems);
            }
            _ => {
                normalize(&mut e.node, &field, problems);
                base_table.insert(k, e);
            }
        }
    }
    for (k, mut e) in appends {
        let target = k[..k.len() - APPEND_SUFFIX.len()].to_string();
        normalize(&mut e.node, &join(path, &k), problems);
        append_into(base_table, &target, e, path, problems);
    }
}

// ---------------------------------------------------------------------------
// TOML
// ---------------------------------------------------------------------------

/// Deepest nesting the tree builders accept; deeper input is a problem
/// (and never recursed into), so every recursive walk of a tree is bounded.
pub(crate) const MAX_BUILD_DEPTH: usize = super::MAX_DEPTH;

fn too_deep(path: &str, at: Origin) -> RawProblem {
    RawProblem::new(path, Some(at), format!("nested deeper than {MAX_BUILD_DEPTH} levels"))
}

/// Builds a tree from a parsed TOML value at nesting `depth`.
pub(crate) fn from_toml(
    value: &toml::Spanned<toml::de::DeValue<'_>>,
    src: usize,
    path: &str,
    depth: usize,
    problems: &mut Vec<RawProblem>,
) -> Node {
    use toml::de::DeValue;
    let at = Origin { src, offset: value.span().start };
    if depth > MAX_BUILD_DEPTH && matches!(value.get_ref(), DeValue::Array(_) | DeValue::Table(_)) {
        problems.push(too_deep(path, at));
        return Node::new(Kind::Null, at);
    }
    let kind = match value.get_ref() {
        DeValue::String(s) => Kind::Str(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Kind::Num(Number::from(n)),
            Err(_) => {
                problems.push(RawProblem::new(path, Some(at), "integer out of range"));
                Kind::Null
            }
        },
        DeValue::Float(f) => match f.as_str().parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Kind::Num(n),
            None => {
                problems.push(RawProblem::new(path, Some(at), "only finite floats are supported"));
                Kind::Null
            }
        },
        DeValue::Boolean(b) => Kind::Bool(*b),
        DeValue::Datetime(d) => Kind::Str(d.to_string()),
        DeValue::Array(a) => Kind::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| from_toml(v, src, &format!("{path}[{i}]"), depth + 1, problems))
                .collect(),
        ),
        DeValue::Table(t) => Kind::Table(from_toml_table(t, src, path, depth + 1, problems)),
    };
    Node::new(kind, at)
}

/// Builds a table from a parsed TOML table whose entries are at nesting
/// `depth`.
pub(crate) fn from_toml_table(
    table: &toml::de::DeTable<'_>,
    src: usize,
    path: &str,
    depth: usize,
    problems: &mut Vec<RawProblem>,
) -> Table {
    let mut out = Table::new();
    for (k, v) in table {
        let key = k.get_ref().to_string();
        let node = from_toml(v, src, &join(path, &key), depth, problems);
        out.insert(key, Entry { key_at: Origin { src, offset: k.span().start }, node });
    }
    out
}

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

/// Builds a tree from JSON text that serde_json has already accepted (so it
/// is well formed and nested at most 128 deep). Values are decoded by
/// serde_json; this parser only finds where they start.
pub(crate) fn from_json(text: &str, src: usize, problems: &mut Vec<RawProblem>) -> Option<Node> {
    let mut p = JsonParser { text, bytes: text.as_bytes(), pos: 0, src, depth: 0, problems };
    let node = p.value("")?;
    Some(node)
}

struct JsonParser<'a, 'p> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    src: usize,
    depth: usize,
    problems: &'p mut Vec<RawProblem>,
}

impl JsonParser<'_, '_> {
    fn ws(&mut self) {
        while self.pos < self.bytes.len() && matches!(self.bytes[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn origin(&self) -> Origin {
        Origin { src: self.src, offset: self.pos }
    }

    fn fail<T>(&mut self, path: &str, message: &str) -> Option<T> {
        let at = self.origin();
        self.problems.push(RawProblem::new(path, Some(at), message));
        None
    }

    /// The end (exclusive) of the string token starting at `self.pos`.
    fn string_end(&self) -> Option<usize> {
        let mut i = self.pos + 1;
        while i < self.bytes.len() {
            match self.bytes[i] {
                b'\\' => i += 2,
                b'"' => return Some(i + 1),
                _ => i += 1,
            }
        }
        None
    }

    fn string(&mut self, path: &str) -> Option<String> {
        let Some(end) = self.string_end() else { return self.fail(path, "unterminated string") };
        let s = serde_json::from_str::<String>(&self.text[self.pos..end]).ok();
        self.pos = end;
        match s {
            Some(s) => Some(s),
            None => self.fail(path, "invalid string"),
        }
    }

    fn value(&mut self, path: &str) -> Option<Node> {
        self.ws();
        let at = self.origin();
        let Some(&b) = self.bytes.get(self.pos) else { return self.fail(path, "unexpected end of input") };
        if matches!(b, b'{' | b'[') {
            if self.depth >= MAX_BUILD_DEPTH {
                self.problems.push(too_deep(path, at));
                return None;
            }
            self.depth += 1;
        }
        let kind = self.compound_or_scalar(b, path)?;
        if matches!(b, b'{' | b'[') {
            self.depth -= 1;
        }
        Some(Node::new(kind, at))
    }

    fn compound_or_scalar(&mut self, b: u8, path: &str) -> Option<Kind> {
        Some(match b {
            b'{' => {
                self.pos += 1;
                let mut table = Table::new();
                self.ws();
                if self.bytes.get(self.pos) == Some(&b'}') {
                    self.pos += 1;
                } else {
                    loop {
                        self.ws();
                        let key_at = self.origin();
                        if self.bytes.get(self.pos) != Some(&b'"') {
                            return self.fail(path, "expected a key");
                        }
                        let key = self.string(path)?;
                        self.ws();
                        if self.bytes.get(self.pos) != Some(&b':') {
                            return self.fail(path, "expected `:`");
                        }
                        self.pos += 1;
                        let field = join(path, &key);
                        let node = self.value(&field)?;
                        if table.contains_key(&key) {
                            self.problems.push(RawProblem::new(field, Some(key_at), "duplicate key"));
                        }
                        table.insert(key, Entry { key_at, node });
                        self.ws();
                        match self.bytes.get(self.pos) {
                            Some(b',') => self.pos += 1,
                            Some(b'}') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return self.fail(path, "expected `,` or `}`"),
                        }
                    }
                }
                Kind::Table(table)
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.bytes.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                } else {
                    loop {
                        let node = self.value(&format!("{path}[{}]", items.len()))?;
                        items.push(node);
                        self.ws();
                        match self.bytes.get(self.pos) {
                            Some(b',') => self.pos += 1,
                            Some(b']') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return self.fail(path, "expected `,` or `]`"),
                        }
                    }
                }
                Kind::Array(items)
            }
            b'"' => Kind::Str(self.string(path)?),
            b't' | b'f' | b'n' => {
                let word: &[u8] = match b {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                if !self.bytes[self.pos..].starts_with(word) {
                    return self.fail(path, "invalid literal");
                }
                self.pos += word.len();
                match b {
                    b't' => Kind::Bool(true),
                    b'f' => Kind::Bool(false),
                    _ => Kind::Null,
                }
            }
            _ => {
                let start = self.pos;
                while self.pos < self.bytes.len()
                    && matches!(self.bytes[self.pos], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.pos += 1;
                }
                match serde_json::from_str::<Number>(&self.text[start..self.pos]) {
                    Ok(n) if start < self.pos => Kind::Num(n),
                    _ => return self.fail(path, "invalid number"),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toml_tree(text: &str) -> Node {
        let doc = toml::de::DeTable::parse(text).unwrap();
        let mut problems = Vec::new();
        let t = from_toml_table(doc.get_ref(), 0, "", 1, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        Node::new(Kind::Table(t), Origin { src: 0, offset: 0 })
    }

    fn json_tree(text: &str) -> Node {
        let mut problems = Vec::new();
        let n = from_json(text, 0, &mut problems).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        n
    }

    #[test]
    fn paths_round_trip() {
        let p = "high_risk.rules[3].phrases[2]";
        assert_eq!(format_path(&parse_path(p)), p);
        assert_eq!(parse_path("a[1][2]"), vec![Seg::Key("a".into()), Seg::Index(1), Seg::Index(2)]);
        assert_eq!(parse_path(""), Vec::<Seg>::new());
    }

    #[test]
    fn json_origins_point_at_keys_and_values() {
        let text = "{\n  \"a\": {\"b\": [1, \"x\"]},\n  \"c\": true\n}";
        let n = json_tree(text);
        let at = n.locate(&parse_path("a.b[1]"), false);
        assert_eq!(&text[at.offset..at.offset + 3], "\"x\"");
        let at = n.locate(&parse_path("c"), true);
        assert_eq!(&text[at.offset..at.offset + 3], "\"c\"");
        assert_eq!(n.to_json(), serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn json_duplicate_keys_are_problems() {
        let mut problems = Vec::new();
        from_json(r#"{"a": 1, "a": 2}"#, 0, &mut problems).unwrap();
        assert_eq!(problems[0].field, "a");
    }

    #[test]
    fn toml_origins_point_at_keys_and_values() {
        let text = "name = \"x\"\n[limits]\nmax = 3\n";
        let n = toml_tree(text);
        let at = n.locate(&parse_path("limits.max"), true);
        assert_eq!(&text[at.offset..at.offset + 3], "max");
        let at = n.locate(&parse_path("limits.max"), false);
        assert_eq!(&text[at.offset..at.offset + 1], "3");
        // A missing path falls back to the deepest existing node.
        let at = n.locate(&parse_path("limits.nope.deeper"), false);
        assert!(text[at.offset..].starts_with("limits") || text[at.offset..].starts_with("[limits]"), "{at:?}");
    }

    #[test]
    fn merge_tables_recursively_arrays_replace_append_appends() {
        let mut base = toml_tree("a = 1\nlist = [1, 2]\nkeep = [9]\n[t]\nx = 1\ny = 2\n");
        let over = toml_tree("list = [3]\nkeep_append = [10]\nnew_append = [5]\n[t]\ny = 20\nz = 30\n");
        let mut problems = Vec::new();
        merge(&mut base, over, "", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let v = base.to_json();
        assert_eq!(
            v,
            serde_json::json!({"a": 1, "list": [3], "keep": [9, 10], "new": [5], "t": {"x": 1, "y": 20, "z": 30}})
        );
    }

    #[test]
    fn append_to_a_non_array_is_a_problem() {
        let mut base = toml_tree("a = 1\n");
        let over = toml_tree("a_append = [2]\nb_append = 3\n");
        let mut problems = Vec::new();
        merge(&mut base, over, "", &mut problems);
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["a_append", "b_append"], "{problems:?}");
    }

    #[test]
    fn normalize_turns_appends_into_keys_even_inside_arrays() {
        let mut n = toml_tree("x_append = [1]\n[[r]]\nids = [1]\nids_append = [2]\n");
        let mut problems = Vec::new();
        normalize(&mut n, "", &mut problems);
        assert_eq!(n.to_json(), serde_json::json!({"x": [1], "r": [{"ids": [1, 2]}]}));
    }

    #[test]
    fn depth_counts_nesting() {
        assert_eq!(json_tree("1").depth(), 0);
        assert_eq!(json_tree("[[1]]").depth(), 2);
        assert_eq!(json_tree(r#"{"a": {"b": []}}"#).depth(), 3);
    }
}
