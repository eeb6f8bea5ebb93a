//! A set of normalised phrases on one Aho-Corasick automaton, with ASCII
//! word-boundary checks on match ends.
//!
//! The automaton is a contiguous NFA with leftmost-longest semantics over
//! the lower-cased detection view (see the module docs of `high_risk` for the
//! measurements behind the choice).
//! Leftmost-longest reports one match per position; when the longest match at
//! a position fails its boundary check, the shorter phrases that are prefixes
//! of it (precomputed) are tried at the same position before the search moves
//! on, so a failing long phrase never hides a valid short one.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};

use crate::check::CheckError;
use crate::error::BuildError;

use super::config::Boundary;

/// The automaton settings shared by the check and its `raw_` baseline bench.
pub(crate) fn builder() -> aho_corasick::AhoCorasickBuilder {
    let mut b = AhoCorasick::builder();
    b.kind(Some(AhoCorasickKind::ContiguousNFA)).match_kind(MatchKind::LeftmostLongest);
    b
}

/// What one phrase means: an opaque tag (rule index or context kinds) and its
/// boundary requirement. A phrase may carry several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meaning {
    pub(crate) tag: u32,
    pub(crate) boundary: Boundary,
    /// When set, the phrase must be followed (after at most one space) by
    /// an integer in one of these inclusive ranges; the match then extends
    /// over the number. Only the start boundary of the phrase is checked.
    pub(crate) number: Option<NumberRanges>,
    /// After this meaning is accepted, the search resumes one byte after
    /// the match start instead of after its end, so phrases inside it are
    /// still found (used by exclusions, which mask only their own
    /// category).
    pub(crate) rescan: bool,
    /// For a meaning lent by a shorter phrase contained in this one
    /// ([`PhraseSetBuilder::sub_phrase_meanings`]): where that phrase
    /// starts in this one and its length, so the match reports the
    /// contained phrase's own span. `len == 0`: the whole phrase.
    pub(crate) at: u16,
    pub(crate) len: u16,
}

impl Meaning {
    /// A meaning of the whole phrase.
    pub(crate) fn whole(tag: u32, boundary: Boundary) -> Meaning {
        Meaning { tag, boundary, number: None, rescan: false, at: 0, len: 0 }
    }
}

/// Up to four inclusive integer ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NumberRanges {
    pub(crate) ranges: [(u32, u32); 4],
    pub(crate) len: u8,
}

impl NumberRanges {
    fn contains(&self, n: u32) -> bool {
        self.ranges[..self.len as usize].iter().any(|&(a, b)| a <= n && n <= b)
    }
}

/// A fast, non-cryptographic hasher (the multiply-rotate scheme of
/// rustc's `FxHasher`) for the build-time tables. Their keys come from the
/// policy's lexicon, which the operator controls, and their size is bounded
/// by `max_phrases`, so hash flooding is not a concern; SipHash was a
/// tenth of the build time.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// `HashSet` with [`FastHasher`].
pub(crate) type FastSet<K> = std::collections::HashSet<K, BuildHasherDefault<FastHasher>>;

/// FNV-1a step: the hash of a text is folded one byte at a time, so the
/// hashes of all prefixes of a phrase come in one pass.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

#[inline]
fn fnv_step(h: u64, b: u8) -> u64 {
    (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
}

fn hash_str(s: &str) -> u64 {
    s.bytes().fold(FNV_OFFSET, fnv_step)
}

/// Phrase ids by text, without a second copy of every phrase: a map from
/// the text's hash to the last phrase with that hash, and a chain to the
/// earlier ones.
#[derive(Debug, Default)]
struct PhraseIndex {
    heads: FastMap<u64, u32>,
    next: Vec<u32>,
}

impl PhraseIndex {
    const END: u32 = u32::MAX;

    fn get_hashed(&self, phrases: &[String], s: &str, h: u64) -> Option<u32> {
        let mut id = *self.heads.get(&h)?;
        while id != Self::END {
            if phrases[id as usize] == s {
                return Some(id);
            }
            id = self.next[id as usize];
        }
        None
    }

    /// Records phrase `id` (the next id) with hash `h`.
    fn insert(&mut self, h: u64, id: u32) {
        let prev = self.heads.insert(h, id).unwrap_or(Self::END);
        self.next.push(prev);
    }
}

/// Phrases being collected before compilation.
#[derive(Debug, Default)]
pub(crate) struct PhraseSetBuilder {
    index: PhraseIndex,
    phrases: Vec<String>,
    meanings: Vec<Vec<Meaning>>,
}

impl PhraseSetBuilder {
    /// Adds `phrase` (already normalised, non-empty) with `meaning`.
    pub(crate) fn add(&mut self, phrase: String, meaning: Meaning) {
        let h = hash_str(&phrase);
        let id = match self.index.get_hashed(&self.phrases, &phrase, h) {
            Some(id) => id,
            None => {
                let id = self.phrases.len() as u32;
                self.index.insert(h, id);
                self.phrases.push(phrase);
                self.meanings.push(Vec::new());
                id
            }
        };
        let m = &mut self.meanings[id as usize];
        if !m.contains(&meaning) {
            m.push(meaning);
        }
    }

    /// The phrases so far.
    pub(crate) fn phrases(&self) -> &[String] {
        &self.phrases
    }

    /// Number of distinct phrases.
    pub(crate) fn len(&self) -> usize {
        self.phrases.len()
    }

    /// The meanings each phrase should take from the shorter phrases it
    /// contains on word boundaries ("terrible headache" also means "headache"), so
    /// that leftmost-longest matching never hides a rule behind a longer
    /// phrase of another rule. A lent meaning keeps the contained phrase's
    /// position, so its match is reported (and its context judged) where the
    /// contained phrase is. `allow(existing, candidate)` decides whether a
    /// contained phrase's meaning is added to a phrase that already has
    /// `existing` meanings; `(p, a, b)` is the longer phrase and where the
    /// contained one sits in it. Returns the
    /// additions (phrase id, lent meaning), for [`add_meanings`](Self::add_meanings).
    pub(crate) fn sub_phrase_meanings(
        &self,
        allow: impl Fn(&[Meaning], &Meaning, &str, usize, usize) -> bool,
    ) -> Vec<(u32, Meaning)> {
        let mut additions: Vec<(u32, Meaning)> = Vec::new();
        let mut starts: Vec<usize> = Vec::new();
        let mut ends: Vec<usize> = Vec::new();
        // Hashes of the first word of every phrase: a sub-range whose first
        // word starts no phrase needs no lookups.
        let first_words: FastSet<u64> =
            self.phrases.iter().map(|p| hash_str(p.split(' ').next().unwrap_or(p))).collect();
        for (id, p) in self.phrases.iter().enumerate() {
            if !p.contains(' ') {
                continue;
            }
            starts.clear();
            ends.clear();
            starts.push(0);
            for (i, _) in p.match_indices(' ') {
                starts.push(i + 1);
                ends.push(i);
            }
            ends.push(p.len());
            for &a in &starts {
                // Hash p[a..b] incrementally as b moves right.
                let mut h = FNV_OFFSET;
                let mut hashed_to = a;
                for &b in &ends {
                    if b <= a {
                        continue;
                    }
                    h = p.as_bytes()[hashed_to..b].iter().fold(h, |h, &c| fnv_step(h, c));
                    if hashed_to == a && !first_words.contains(&h) {
                        // `h` is the hash of the first word (the first end
                        // after `a`): no phrase starts with it.
                        break;
                    }
                    hashed_to = b;
                    if a == 0 && b == p.len() {
                        continue;
                    }
                    if let Some(q) = self.index.get_hashed(&self.phrases, &p[a..b], h) {
                        for m in &self.meanings[q as usize] {
                            // A meaning lent to `q` itself is lent on with
                            // its position shifted.
                            let (at, len) = if m.len == 0 { (a, b - a) } else { (a + m.at as usize, m.len as usize) };
                            let (Ok(at), Ok(len)) = (u16::try_from(at), u16::try_from(len)) else { continue };
                            let lent = Meaning { at, len, ..*m };
                            let known = self.meanings[id].iter().any(|e| e.tag == m.tag && e.boundary == m.boundary);
                            if !known && allow(&self.meanings[id], m, p, a, b) {
                                additions.push((id as u32, lent));
                            }
                        }
                    }
                }
            }
        }
        additions
    }

    /// Adds meanings found by [`sub_phrase_meanings`](Self::sub_phrase_meanings).
    pub(crate) fn add_meanings(&mut self, additions: Vec<(u32, Meaning)>) {
        for (id, m) in additions {
            let list = &mut self.meanings[id as usize];
            if !list.iter().any(|e| e.tag == m.tag && e.boundary == m.boundary) {
                list.push(m);
            }
        }
    }

    /// The meanings of each phrase, in phrase order.
    pub(crate) fn meanings(&self) -> &[Vec<Meaning>] {
        &self.meanings
    }

    /// Compiles the automaton and the tables.
    pub(crate) fn build(self, field: &str) -> Result<PhraseSet, BuildError> {
        let ac = builder().build(&self.phrases).map_err(|e| BuildError::new(field, format!("automaton: {e}")))?;
        let n = self.phrases.len();
        let mut text = String::with_capacity(self.phrases.iter().map(String::len).sum());
        let mut starts = Vec::with_capacity(n + 1);
        let mut meaning_starts = Vec::with_capacity(n + 1);
        let mut meanings = Vec::with_capacity(self.meanings.iter().map(Vec::len).sum());
        let mut numbers: Vec<NumberRanges> = Vec::new();
        for (p, ms) in self.phrases.iter().zip(&self.meanings) {
            starts.push(text.len() as u32);
            text.push_str(p);
            meaning_starts.push(meanings.len() as u32);
            for m in ms {
                let number = match m.number {
                    None => 0,
                    Some(nr) => match numbers.iter().position(|x| *x == nr) {
                        Some(i) => i + 1,
                        None => {
                            numbers.push(nr);
                            numbers.len()
                        }
                    },
                };
                let number = u16::try_from(number).map_err(|_| BuildError::new(field, "too many number ranges"))?;
                meanings.push(Compiled {
                    tag: m.tag,
                    at: m.at,
                    len: m.len,
                    number,
                    boundary: m.boundary,
                    rescan: m.rescan,
                });
            }
        }
        starts.push(text.len() as u32);
        meaning_starts.push(meanings.len() as u32);
        // Proper prefixes of each phrase that are phrases too, longest first.
        // A prefix matters only when it can match where the longer phrase
        // failed: it ends at a word end, or it does not need one (its
        // length is marked in `loose_len`).
        let longest = self.phrases.iter().map(String::len).max().unwrap_or(0);
        let mut loose_len = vec![false; longest + 1];
        for (p, m) in self.phrases.iter().zip(&self.meanings) {
            if m.iter().any(|m| matches!(m.boundary, Boundary::Start | Boundary::None) || m.number.is_some()) {
                loose_len[p.len()] = true;
            }
        }
        let mut prefix_starts = Vec::with_capacity(n + 1);
        let mut prefixes = Vec::new();
        for p in &self.phrases {
            let first = prefixes.len();
            prefix_starts.push(first as u32);
            let bytes = p.as_bytes();
            // Hash the prefixes in one pass, look up the possible cuts, then
            // order the found prefixes longest first.
            let mut h = FNV_OFFSET;
            for (cut, &b) in bytes.iter().enumerate().take(bytes.len().saturating_sub(1)) {
                h = fnv_step(h, b);
                let cut = cut + 1;
                if (bytes[cut] == b' ' || loose_len[cut])
                    && p.is_char_boundary(cut)
                    && let Some(id) = self.index.get_hashed(&self.phrases, &p[..cut], h)
                {
                    prefixes.push(id);
                }
            }
            prefixes[first..].reverse();
        }
        prefix_starts.push(prefixes.len() as u32);
        Ok(PhraseSet { ac, text, starts, meaning_starts, meanings, numbers, prefix_starts, prefixes })
    }
}

/// A phrase's meaning as stored in a compiled set (12 bytes; the number
/// ranges sit in a side table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Compiled {
    pub(crate) tag: u32,
    /// As [`Meaning::at`] / [`Meaning::len`].
    pub(crate) at: u16,
    pub(crate) len: u16,
    /// Index + 1 into the set's number ranges; 0 for none.
    number: u16,
    pub(crate) boundary: Boundary,
    rescan: bool,
}

/// A compiled phrase set.
#[derive(Debug, Clone)]
pub(crate) struct PhraseSet {
    ac: AhoCorasick,
    /// Every phrase, end to end; phrase `i` is `text[starts[i]..starts[i + 1]]`.
    text: String,
    starts: Vec<u32>,
    /// Meanings of phrase `i`: `meanings[meaning_starts[i]..meaning_starts[i + 1]]`.
    meaning_starts: Vec<u32>,
    meanings: Vec<Compiled>,
    numbers: Vec<NumberRanges>,
    /// Prefix phrases of phrase `i`: `prefixes[prefix_starts[i]..prefix_starts[i + 1]]`.
    prefix_starts: Vec<u32>,
    prefixes: Vec<u32>,
}

impl PhraseSet {
    /// Number of phrases.
    pub(crate) fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Normalised phrase `id` (pattern-id order).
    pub(crate) fn phrase(&self, id: usize) -> &str {
        &self.text[self.starts[id] as usize..self.starts[id + 1] as usize]
    }

    #[inline]
    fn phrase_len(&self, id: usize) -> usize {
        (self.starts[id + 1] - self.starts[id]) as usize
    }

    /// The meanings of phrase `id`.
    pub(crate) fn meanings_of(&self, id: usize) -> &[Compiled] {
        &self.meanings[self.meaning_starts[id] as usize..self.meaning_starts[id + 1] as usize]
    }

    /// Approximate heap bytes.
    pub(crate) fn memory_usage(&self) -> usize {
        self.ac.memory_usage()
            + self.text.capacity()
            + self.starts.capacity() * 4
            + self.meaning_starts.capacity() * 4
            + self.meanings.capacity() * std::mem::size_of::<Compiled>()
            + self.numbers.capacity() * std::mem::size_of::<NumberRanges>()
            + self.prefix_starts.capacity() * 4
            + self.prefixes.capacity() * 4
    }

    /// Calls `on` for every accepted match in `hay` with (tag, start, end),
    /// leftmost-longest, non-overlapping. Linear in `hay.len()` times the
    /// longest phrase (a rejected match restarts one byte later).
    pub(crate) fn scan(&self, hay: &str, mut on: impl FnMut(u32, usize, usize)) -> Result<(), CheckError> {
        let bytes = hay.as_bytes();
        let mut at = 0;
        while at < bytes.len() {
            let m = match self.ac.try_find(Input::new(bytes).range(at..)) {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(_) => return Err(CheckError::new("high_risk automaton search failed")),
            };
            let s = m.start();
            let pid = m.pattern().as_usize();
            let prefixes = &self.prefixes[self.prefix_starts[pid] as usize..self.prefix_starts[pid + 1] as usize];
            let mut accepted = None;
            let mut rescan = false;
            for cand in std::iter::once(pid).chain(prefixes.iter().map(|&p| p as usize)) {
                let end = s + self.phrase_len(cand);
                for meaning in self.meanings_of(cand) {
                    if meaning.number != 0 {
                        let nr = &self.numbers[usize::from(meaning.number) - 1];
                        if boundary_ok(bytes, s, end, Boundary::Start)
                            && let Some(num_end) = number_after(bytes, end, nr)
                        {
                            on(meaning.tag, s, num_end);
                            accepted = Some(accepted.map_or(num_end, |a: usize| a.max(num_end)));
                        }
                    } else {
                        let (ms, me) = if meaning.len == 0 {
                            (s, end)
                        } else {
                            (s + meaning.at as usize, s + meaning.at as usize + meaning.len as usize)
                        };
                        if boundary_ok(bytes, ms, me.min(bytes.len()), meaning.boundary) {
                            on(meaning.tag, ms, me.min(bytes.len()));
                            accepted = Some(accepted.map_or(end, |a: usize| a.max(end)));
                            rescan |= meaning.rescan;
                        }
                    }
                }
                if accepted.is_some() {
                    break;
                }
            }
            at = match accepted {
                Some(end) if end > s && !rescan => end,
                _ => s + 1,
            };
        }
        Ok(())
    }
}

/// End of an integer in `nr` that follows `at` (after at most one space),
/// not followed by another digit.
fn number_after(bytes: &[u8], at: usize, nr: &NumberRanges) -> Option<usize> {
    let mut i = at;
    if bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    let start = i;
    let mut n: u32 = 0;
    while let Some(&b) = bytes.get(i) {
        if !b.is_ascii_digit() || i - start >= 7 {
            break;
        }
        n = n * 10 + u32::from(b - b'0');
        i += 1;
    }
    if i == start || bytes.get(i).is_some_and(u8::is_ascii_digit) || !nr.contains(n) {
        return None;
    }
    Some(i)
}

/// A byte that belongs to a word: ASCII letters, digits, `_`, and any byte of
/// a non-ASCII character (so accented letters join words).
#[inline]
pub(crate) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

#[inline]
fn boundary_ok(bytes: &[u8], start: usize, end: usize, boundary: Boundary) -> bool {
    let start_ok = || start == 0 || !is_word_byte(bytes[start - 1]) || !is_word_byte(bytes[start]);
    let end_ok = || end >= bytes.len() || !is_word_byte(bytes[end]) || !is_word_byte(bytes[end - 1]);
    match boundary {
        Boundary::Word => start_ok() && end_ok(),
        Boundary::Start => start_ok(),
        Boundary::End => end_ok(),
        Boundary::None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(phrases: &[(&str, Boundary)]) -> PhraseSet {
        let mut b = PhraseSetBuilder::default();
        for (i, (p, bd)) in phrases.iter().enumerate() {
            b.add(p.to_string(), Meaning::whole(i as u32, *bd));
        }
        b.build("t").unwrap()
    }

    fn hits(s: &PhraseSet, hay: &str) -> Vec<(u32, usize, usize)> {
        let mut out = Vec::new();
        s.scan(hay, |t, a, b| out.push((t, a, b))).unwrap();
        out
    }

    #[test]
    fn word_boundaries_hold_on_both_ends() {
        let s = set(&[("stroke", Boundary::Word)]);
        assert_eq!(hits(&s, "a stroke."), [(0, 2, 8)]);
        assert!(hits(&s, "strokes of luck").is_empty());
        assert!(hits(&s, "backstroke").is_empty());
        assert!(hits(&s, "strokeé").is_empty());
    }

    #[test]
    fn a_failing_long_phrase_does_not_hide_its_prefix() {
        let s = set(&[("suicid", Boundary::Start), ("suicide note", Boundary::Word)]);
        // "suicide notes" fails the long phrase's end boundary; the prefix
        // with a start-only boundary still matches at the same position.
        assert_eq!(hits(&s, "suicide notes"), [(0, 0, 6)]);
        assert_eq!(hits(&s, "a suicide note"), [(1, 2, 14)]);
    }

    #[test]
    fn numbers_after_a_phrase_must_be_in_range() {
        let mut b = PhraseSetBuilder::default();
        let nr = NumberRanges { ranges: [(10, 39), (0, 0), (0, 0), (0, 0)], len: 1 };
        b.add("sugar is".into(), Meaning { number: Some(nr), ..Meaning::whole(7, Boundary::Word) });
        let s = b.build("t").unwrap();
        assert_eq!(hits(&s, "my sugar is 38 now"), [(7, 3, 14)]);
        assert_eq!(hits(&s, "sugar is 38.5"), [(7, 0, 11)]);
        assert!(hits(&s, "sugar is 380").is_empty());
        assert!(hits(&s, "sugar is 9").is_empty());
        assert!(hits(&s, "sugar is fine").is_empty());
    }

    #[test]
    fn rejected_matches_restart_one_byte_later() {
        let s = set(&[("chest pain", Boundary::Word), ("pain", Boundary::Word)]);
        assert_eq!(hits(&s, "xchest pain"), [(1, 7, 11)]);
    }
}
