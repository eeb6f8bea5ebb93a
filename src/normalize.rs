//! The detection view: one normalised form of a message that every check
//! reads, with a map back to byte offsets of the original text.
//!
//! Checks never look at the raw text for detection. The guardrail builds one
//! [`View`] per message (reusing the buffers of a [`Scratch`]) and hands it to
//! every check, so no check normalises again and every finding points at what
//! the user actually wrote.
//!
//! The view is:
//!
//! * NFKC-normalised (compatibility folding: fullwidth letters, ligatures,
//!   superscripts become their plain forms),
//! * lower-cased (Unicode lower case),
//! * stripped of invisible and format characters (zero-width space and
//!   joiners, bidi controls, variation selectors, soft hyphen, tag
//!   characters, other `Cf` characters) and of control characters,
//! * with every run of whitespace collapsed to one ASCII space.
//!
//! Plain ASCII text without control characters or whitespace runs takes a
//! fast path: the view is the ASCII-lowercased text and the offset map is the
//! identity, so no map is stored at all.
//!
//! Building a view is linear in the length of the input. The view can also be
//! grown by appending chunks ([`View::push_str`]), which is what the stream
//! guard uses.
//!
//! [`Scratch`]: crate::Scratch

use std::ops::Range;

use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

use crate::verdict::Span;

/// One normalised form of a message, with its offset map.
///
/// For every byte of [`as_str`](Form::as_str) the form knows the byte range
/// of the original text it came from, so any range of the form maps back to a
/// [`Span`] of the original on `char` boundaries.
#[derive(Clone, Default)]
pub struct Form {
    text: String,
    /// Original start offset of the char each form byte came from; empty when
    /// the map is the identity shifted by `base`.
    starts: Vec<u32>,
    /// Original end offset of the char each form byte came from.
    ends: Vec<u32>,
    /// `true` while the map is the identity (`form[i]` came from
    /// `original[base + i]`).
    identity: bool,
    base: u32,
}

impl Form {
    /// The normalised text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Length of the normalised text in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Whether the normalised text is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Maps a byte range of this form back to a span of the original text.
    ///
    /// The range is clamped to the form; an empty range maps to an empty span
    /// at the position of its start. The result always lies on `char`
    /// boundaries of the original.
    #[must_use]
    pub fn span(&self, range: Range<usize>) -> Span {
        let len = self.text.len();
        let start = range.start.min(len);
        let end = range.end.clamp(start, len);
        if self.identity {
            let b = self.base as usize;
            return Span::new(b + start, b + end);
        }
        if len == 0 {
            return Span::new(self.base as usize, self.base as usize);
        }
        if start == end {
            let at = if start < len { self.starts[start] } else { self.ends[len - 1] };
            return Span::new(at as usize, at as usize);
        }
        Span::new(self.starts[start] as usize, self.ends[end - 1] as usize)
    }

    /// Original span of the single byte at `pos` of the form.
    #[must_use]
    pub fn span_at(&self, pos: usize) -> Span {
        self.span(pos..pos + 1)
    }

    fn clear(&mut self, base: u32) {
        self.text.clear();
        self.starts.clear();
        self.ends.clear();
        self.identity = true;
        self.base = base;
    }

    /// Stops treating the map as the identity, writing out the explicit map
    /// for what is already there.
    fn materialize(&mut self) {
        if !self.identity {
            return;
        }
        self.identity = false;
        let b = self.base;
        let n = self.text.len() as u32;
        self.starts.extend((0..n).map(|i| b + i));
        self.ends.extend((0..n).map(|i| b + i + 1));
    }

    fn push_mapped(&mut self, c: char, orig: Range<u32>) {
        self.materialize();
        let before = self.text.len();
        self.text.push(c);
        for _ in before..self.text.len() {
            self.starts.push(orig.start);
            self.ends.push(orig.end);
        }
    }

    /// Approximate heap bytes held.
    fn heap_bytes(&self) -> usize {
        self.text.capacity() + 4 * (self.starts.capacity() + self.ends.capacity())
    }
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print message text.
        f.debug_struct("Form").field("len", &self.text.len()).field("identity", &self.identity).finish()
    }
}

/// The detection view of one message: its normalised [`Form`].
#[derive(Clone, Default, Debug)]
pub struct View {
    main: Form,
    /// Whether the last byte pushed into `main` was a collapsed space.
    last_space: bool,
    /// Original bytes consumed so far (for `push_str`).
    consumed: u32,
}

/// Largest text a view can map (offsets are stored as `u32`).
pub const MAX_VIEW_INPUT: usize = u32::MAX as usize;

impl View {
    /// An empty view.
    #[must_use]
    pub fn new() -> View {
        View::default()
    }

    /// Builds the view of `text`, reusing this view's buffers.
    ///
    /// # Panics
    ///
    /// Never; text longer than [`MAX_VIEW_INPUT`] is truncated at a char
    /// boundary (the guardrail's input limit is far below that).
    pub fn build(&mut self, text: &str) {
        self.clear();
        self.push_str(text);
    }

    /// Empties the view, keeping its buffers.
    pub fn clear(&mut self) {
        self.main.clear(0);
        self.last_space = false;
        self.consumed = 0;
    }

    /// Appends the normalisation of `chunk`, which continues the original
    /// text at byte offset [`consumed`](View::consumed).
    ///
    /// Normalisation is per grapheme-ish segment (a starter and the combining
    /// marks after it); a caller that feeds a text in pieces must cut them
    /// where a new segment starts (see [`stable_prefix_len`]), or the view may
    /// differ from the whole-text view.
    pub fn push_str(&mut self, chunk: &str) {
        let room = MAX_VIEW_INPUT - self.consumed as usize;
        let chunk = if chunk.len() > room { &chunk[..floor_char_boundary(chunk, room)] } else { chunk };
        let base = self.consumed;
        if self.main.text.is_empty() {
            self.main.base = base;
        }
        if self.main.identity
            && self.main.base as usize + self.main.text.len() == base as usize
            && ascii_fast_path(chunk, self.last_space)
        {
            self.main.text.extend(chunk.bytes().map(|b| b.to_ascii_lowercase() as char));
            if !chunk.is_empty() {
                self.last_space = chunk.ends_with(' ');
            }
        } else {
            self.push_general(chunk, base);
        }
        self.consumed = base + chunk.len() as u32;
    }

    fn push_general(&mut self, chunk: &str, base: u32) {
        let mut seg_start = 0usize;
        let mut iter = chunk.char_indices().peekable();
        while let Some((i, _)) = iter.next() {
            // Extend the segment over the characters that may combine with it.
            let mut end = chunk.len();
            while let Some(&(j, c)) = iter.peek() {
                if starts_segment(c) {
                    end = j;
                    break;
                }
                iter.next();
            }
            debug_assert_eq!(i, seg_start);
            self.push_segment(&chunk[seg_start..end], base + seg_start as u32);
            seg_start = end;
        }
    }

    /// Normalises one segment (a starter and what may combine with it).
    fn push_segment(&mut self, seg: &str, base: u32) {
        // Fast case: a single char that needs no compatibility mapping.
        let orig = base..base + seg.len() as u32;
        let simple = seg.len() == seg.chars().next().map_or(0, char::len_utf8);
        if simple {
            let c = seg.chars().next().unwrap_or(' ');
            if is_nfkc_quick(std::iter::once(c)) == IsNormalized::Yes {
                self.push_folded(c, orig);
                return;
            }
        }
        // Invisible characters are dropped before NFKC so that "ig\u{200B}nore"
        // becomes "ignore".
        let visible = seg.chars().filter(|c| !is_invisible(*c));
        for c in visible.nfkc() {
            self.push_folded(c, orig.clone());
        }
    }

    /// Case folds one NFKC char and appends it.
    fn push_folded(&mut self, c: char, orig: Range<u32>) {
        if is_invisible(c) || (c.is_control() && !c.is_whitespace()) {
            // Dropping a char breaks the identity map only when later bytes
            // follow; materialize lazily in push_mapped.
            self.main.materialize();
            return;
        }
        if c.is_whitespace() {
            if !self.last_space {
                if c == ' ' {
                    self.push_byte_mapped(b' ', orig);
                } else {
                    self.main.push_mapped(' ', orig);
                }
                self.last_space = true;
            } else {
                self.main.materialize();
            }
            return;
        }
        self.last_space = false;
        if c.is_ascii() {
            self.push_byte_mapped(c.to_ascii_lowercase() as u8, orig);
            return;
        }
        match c {
            // Full case folding beyond `to_lowercase` for the letters that
            // matter in our languages.
            'ß' | 'ẞ' => {
                self.main.push_mapped('s', orig.clone());
                self.main.push_mapped('s', orig);
            }
            'ς' => self.main.push_mapped('σ', orig),
            _ => {
                for l in c.to_lowercase() {
                    self.main.push_mapped(l, orig.clone());
                }
            }
        }
    }

    /// Appends one ASCII byte, keeping the identity map when it still holds.
    fn push_byte_mapped(&mut self, b: u8, orig: Range<u32>) {
        let f = &mut self.main;
        if f.identity && orig.end - orig.start == 1 && f.base + f.text.len() as u32 == orig.start {
            f.text.push(b as char);
        } else {
            f.push_mapped(b as char, orig);
        }
    }

    /// Original bytes consumed so far.
    #[must_use]
    pub fn consumed(&self) -> usize {
        self.consumed as usize
    }

    /// The main normalised text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.main.as_str()
    }

    /// The main form.
    #[must_use]
    pub fn main(&self) -> &Form {
        &self.main
    }

    /// Maps a byte range of the main form to the original text.
    #[must_use]
    pub fn span(&self, range: Range<usize>) -> Span {
        self.main.span(range)
    }

    /// Approximate heap bytes held by the view's buffers.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.main.heap_bytes()
    }
}

/// Whether `chunk` can be appended with the identity map: ASCII, no control
/// characters, no whitespace other than single spaces.
fn ascii_fast_path(chunk: &str, last_space: bool) -> bool {
    let mut prev_space = last_space;
    for &b in chunk.as_bytes() {
        if b >= 0x80 || (b < 0x20 && b != b' ') || b == 0x7f {
            return false;
        }
        let space = b == b' ';
        if space && prev_space {
            return false;
        }
        prev_space = space;
    }
    true
}

/// Whether a new normalisation segment may start at `c`: `c` is a starter
/// that nothing before it can compose with.
fn starts_segment(c: char) -> bool {
    if c.is_ascii() {
        return true;
    }
    canonical_combining_class(c) == 0 && is_nfkc_quick(std::iter::once(c)) != IsNormalized::Maybe && !is_invisible(c)
}

/// Length of the longest prefix of `text` that can be normalised on its own:
/// everything before the last segment start, so that appending more text
/// cannot change the view of that prefix.
#[must_use]
pub fn stable_prefix_len(text: &str) -> usize {
    text.char_indices().rev().find(|&(_, c)| starts_segment(c)).map_or(0, |(i, _)| i)
}

/// Largest char boundary of `s` at or below `at`.
pub(crate) fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    let mut i = at;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Invisible and format characters that the view drops: zero-width
/// characters and joiners, bidi controls, variation selectors, the soft
/// hyphen, tag characters and other default-ignorable format characters.
#[must_use]
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'                // soft hyphen
        | '\u{034F}'              // combining grapheme joiner
        | '\u{061C}'              // arabic letter mark
        | '\u{115F}' | '\u{1160}' // hangul fillers
        | '\u{17B4}' | '\u{17B5}' // khmer inherent vowels
        | '\u{180B}'..='\u{180F}' // mongolian variation selectors, vowel separator
        | '\u{200B}'..='\u{200F}' // zero-width space/non-joiner/joiner, LRM, RLM
        | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{206F}' // bidi isolates, deprecated format chars
        | '\u{3164}'              // hangul filler
        | '\u{FE00}'..='\u{FE0F}' // variation selectors
        | '\u{FEFF}'              // zero-width no-break space / BOM
        | '\u{FFA0}'              // halfwidth hangul filler
        | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
        | '\u{1BCA0}'..='\u{1BCA3}' // shorthand format controls
        | '\u{1D173}'..='\u{1D17A}' // musical symbol format controls
        | '\u{E0000}'..='\u{E007F}' // tag characters
        | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(s: &str) -> View {
        let mut v = View::new();
        v.build(s);
        v
    }

    #[test]
    fn ascii_fast_path_is_identity() {
        let v = view("Chest PAIN now");
        assert_eq!(v.as_str(), "chest pain now");
        assert!(v.main.identity);
        assert_eq!(v.span(6..10), Span::new(6, 10));
    }

    #[test]
    fn invisible_characters_are_removed_and_spans_map_back() {
        let s = "ig\u{200B}nore previous";
        let v = view(s);
        assert_eq!(v.as_str(), "ignore previous");
        let sp = v.span(0..6);
        assert_eq!(&s[sp.range()], "ig\u{200B}nore");
    }

    #[test]
    fn fullwidth_and_case_fold() {
        let s = "ＩＧＮＯＲＥ Straße";
        let v = view(s);
        assert_eq!(v.as_str(), "ignore strasse");
        let sp = v.span(0..6);
        assert_eq!(&s[sp.range()], "ＩＧＮＯＲＥ");
    }

    #[test]
    fn whitespace_runs_collapse() {
        let s = "chest \t\n  pain";
        let v = view(s);
        assert_eq!(v.as_str(), "chest pain");
        assert_eq!(&s[v.span(6..10).range()], "pain");
    }

    #[test]
    fn decomposed_accents_compose() {
        let s = "cara cai\u{0301}da";
        let v = view(s);
        assert_eq!(v.as_str(), "cara caída");
        assert_eq!(&s[v.span(5..v.as_str().len()).range()], "cai\u{0301}da");
    }

    #[test]
    fn pushing_chunks_equals_whole_text() {
        let text = "My  face is ＤＲＯＯＰＩＮＧ\u{200B} and cai\u{0301}da";
        let whole = view(text);
        // Feed it as a stream would: 5-byte pieces, pushing only the stable
        // prefix of what is pending.
        let mut v = View::new();
        let mut pending = String::new();
        let mut rest = text;
        while !rest.is_empty() {
            let mut cut = floor_char_boundary(rest, 5);
            if cut == 0 {
                cut = rest.chars().next().map_or(0, char::len_utf8);
            }
            pending.push_str(&rest[..cut]);
            rest = &rest[cut..];
            let stable = stable_prefix_len(&pending);
            v.push_str(&pending[..stable]);
            pending.drain(..stable);
        }
        v.push_str(&pending);
        assert_eq!(v.as_str(), whole.as_str());
        for i in 0..whole.as_str().len() {
            assert_eq!(v.span(i..i + 1), whole.span(i..i + 1));
        }
    }

    #[test]
    fn combining_mark_flood_is_one_segment() {
        let s: String = std::iter::once('a').chain(std::iter::repeat_n('\u{0301}', 20_000)).collect();
        let v = view(&s);
        let sp = v.span(0..v.as_str().len());
        assert!(s.is_char_boundary(sp.start) && s.is_char_boundary(sp.end));
    }
}
