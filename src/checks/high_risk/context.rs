//! ConText-style context of a red-flag match: negation, hypothetical and
//! conditional framing, history, resolution and third parties.
//!
//! The context triggers are phrases of the lexicon (`[context]` in the
//! lexicon file). They are found by a second automaton that runs only on
//! messages that have red-flag matches, so clean text never pays for it.
//! Each match is then judged inside its sentence (bounded to
//! [`WINDOW`] bytes each way, so the work per match is bounded). A sentence
//! ends at `.` `!` `?` `;` and at a line break of the original text: the
//! view folds line breaks to spaces, so they are found through the view's
//! offset map ([`line_breaks`]) instead:
//!
//! * **negated**: a negation trigger ("no", "not", "denies", "without") ends
//!   at most [`NEG_WORDS`] words before the match, with no comma or clause
//!   terminator ("but", "although", "however", "now") in between, and no
//!   cancelling cue after the match in the sentence ("like this", "before",
//!   a tag question "am i"). Pseudo-triggers ("no longer", "not sure",
//!   "no idea") mask the trigger they contain.
//! * **hypothetical**: an educational trigger ("signs of", "what causes")
//!   before the match in the sentence, or a near one ("what is") at most
//!   [`NEAR_WORDS`] words before it, with no personal deictic ("my", "this",
//!   "these", "his") in between.
//! * **conditional**: "what if", "if someone", "if i", "in case" before the
//!   match in the sentence, with no personal deictic or terminator between.
//! * **historical**: an explicit past anchor ("in 2015", "years ago", "as a
//!   child") anywhere in the sentence and no present cue ("now", "again",
//!   "today", "still") in it.
//! * **resolved**: "went away", "fine now", "gone" after the match, in its
//!   sentence or within [`NEXT_WINDOW`] bytes after it.
//! * **third party**: a person other than the writer ("my dad", "she", "my
//!   baby") in the sentence before or inside the match.

use serde::{Deserialize, Serialize};

use crate::error::BuildError;
use crate::normalize::Form;
use crate::verdict::{Qualifier, Qualifiers};

use super::config::Boundary;
use super::lexicon::{Sets, expand_normalised};
use super::phrases::{Meaning, PhraseSet, PhraseSetBuilder};

/// Bytes looked at on each side of a match for its sentence.
pub(crate) const WINDOW: usize = 240;
/// Bytes after the sentence end still searched for a resolution cue.
pub(crate) const NEXT_WINDOW: usize = 120;
/// Most words between a negation trigger and the match it negates.
pub(crate) const NEG_WORDS: usize = 5;
/// Most words between a near hypothetical trigger and the match.
pub(crate) const NEAR_WORDS: usize = 4;

pub(crate) const NEG: u16 = 1;
pub(crate) const PSEUDO: u16 = 1 << 1;
pub(crate) const NEG_CANCEL: u16 = 1 << 2;
pub(crate) const TERM: u16 = 1 << 3;
pub(crate) const HYPO: u16 = 1 << 4;
pub(crate) const HYPO_NEAR: u16 = 1 << 5;
pub(crate) const COND: u16 = 1 << 6;
pub(crate) const PAST: u16 = 1 << 7;
pub(crate) const PRESENT: u16 = 1 << 8;
pub(crate) const RESOLVED: u16 = 1 << 9;
pub(crate) const THIRD: u16 = 1 << 10;
pub(crate) const PERSONAL: u16 = 1 << 11;

/// The `[context]` table of a lexicon file. Every entry may use the
/// pattern syntax of rules (`{a|b}`, `{$set}`, `{#1-9}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ContextLexicon {
    /// Negation triggers.
    pub(crate) negation: Vec<String>,
    /// Pseudo-triggers: phrases that contain a trigger but do not trigger
    /// ("no longer", "not sure", "having symptoms of").
    pub(crate) pseudo: Vec<String>,
    /// Cues after a match that cancel its negation ("like this").
    pub(crate) negation_cancel: Vec<String>,
    /// Words that end a negation or conditional scope ("but").
    pub(crate) terminators: Vec<String>,
    /// Educational triggers, scope: the rest of the sentence.
    pub(crate) hypothetical: Vec<String>,
    /// Educational triggers that must be near the match ("what is").
    pub(crate) hypothetical_near: Vec<String>,
    /// Conditional triggers ("what if", "if someone").
    pub(crate) conditional: Vec<String>,
    /// Explicit past anchors.
    pub(crate) historical: Vec<String>,
    /// Present-time cues that cancel history.
    pub(crate) present: Vec<String>,
    /// Resolution cues ("went away").
    pub(crate) resolved: Vec<String>,
    /// People other than the writer.
    pub(crate) third_party: Vec<String>,
    /// Personal deictics that make a framing concrete ("my", "this").
    pub(crate) personal: Vec<String>,
}

impl ContextLexicon {
    pub(crate) fn extend(&mut self, other: ContextLexicon) {
        self.negation.extend(other.negation);
        self.pseudo.extend(other.pseudo);
        self.negation_cancel.extend(other.negation_cancel);
        self.terminators.extend(other.terminators);
        self.hypothetical.extend(other.hypothetical);
        self.hypothetical_near.extend(other.hypothetical_near);
        self.conditional.extend(other.conditional);
        self.historical.extend(other.historical);
        self.present.extend(other.present);
        self.resolved.extend(other.resolved);
        self.third_party.extend(other.third_party);
        self.personal.extend(other.personal);
    }

    /// Compiles the triggers into one phrase set whose tags are kind bits.
    pub(crate) fn compile(
        &self,
        sets: &Sets,
        field: &str,
        extra_pseudo: &[String],
    ) -> Result<Option<PhraseSet>, BuildError> {
        let lists: [(&str, &[String], u16); 12] = [
            ("negation", &self.negation, NEG),
            ("pseudo", &self.pseudo, PSEUDO),
            ("negation_cancel", &self.negation_cancel, NEG_CANCEL),
            ("terminators", &self.terminators, TERM),
            ("hypothetical", &self.hypothetical, HYPO),
            ("hypothetical_near", &self.hypothetical_near, HYPO_NEAR),
            ("conditional", &self.conditional, COND),
            ("historical", &self.historical, PAST),
            ("present", &self.present, PRESENT),
            ("resolved", &self.resolved, RESOLVED),
            ("third_party", &self.third_party, THIRD),
            ("personal", &self.personal, PERSONAL),
        ];
        let mut b = PhraseSetBuilder::default();
        for (name, list, kind) in lists {
            for (i, entry) in list.iter().enumerate() {
                let path = format!("{field}.context.{name}[{i}]");
                for phrase in expand_normalised(entry, sets, &path)? {
                    b.add(phrase, Meaning::whole(u32::from(kind), Boundary::Word));
                }
            }
        }
        if b.len() == 0 {
            return Ok(None);
        }
        for p in extra_pseudo {
            b.add(p.clone(), Meaning::whole(u32::from(PSEUDO), Boundary::Word));
        }
        if b.len() == 0 {
            return Ok(None);
        }
        b.build(&format!("{field}.context")).map(Some)
    }
}

/// One context trigger found in a message (view offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marker {
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) kinds: u16,
}

/// Finds every context marker of `view` into `out` (cleared first).
pub(crate) fn find_markers(set: &PhraseSet, view: &str, out: &mut Vec<Marker>) -> Result<(), crate::CheckError> {
    out.clear();
    set.scan(view, |tag, s, e| {
        let (s, e) = (s as u32, e as u32);
        match out.last_mut() {
            Some(last) if last.start == s && last.end == e => last.kinds |= tag as u16,
            _ => out.push(Marker { start: s, end: e, kinds: tag as u16 }),
        }
    })
}

/// The context of one match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Judgement {
    pub(crate) negated: bool,
    pub(crate) hypothetical: bool,
    pub(crate) conditional: bool,
    pub(crate) historical: bool,
    pub(crate) resolved: bool,
    pub(crate) third_party: bool,
}

impl Judgement {
    pub(crate) fn qualifiers(&self) -> Qualifiers {
        let mut q = Qualifiers::NONE;
        if self.negated {
            q.insert(Qualifier::Negated);
        }
        if self.hypothetical || self.conditional {
            q.insert(Qualifier::Hypothetical);
        }
        if self.historical || self.resolved {
            q.insert(Qualifier::Historical);
        }
        if self.third_party {
            q.insert(Qualifier::ThirdParty);
        }
        q
    }

    pub(crate) fn union(self, o: Judgement) -> Judgement {
        Judgement {
            negated: self.negated || o.negated,
            hypothetical: self.hypothetical || o.hypothetical,
            conditional: self.conditional || o.conditional,
            historical: self.historical || o.historical,
            resolved: self.resolved || o.resolved,
            third_party: self.third_party || o.third_party,
        }
    }
}

fn is_sentence_end(bytes: &[u8], i: usize) -> bool {
    match bytes[i] {
        b'!' | b'?' | b';' | b'\n' => true,
        b'.' => {
            // Not a decimal point ("38.5").
            let digit_before = i > 0 && bytes[i - 1].is_ascii_digit();
            let digit_after = i + 1 < bytes.len() && bytes[i + 1].is_ascii_digit();
            !(digit_before && digit_after)
        }
        _ => false,
    }
}

/// Whether a char is a line break (the view folds them all to a space).
fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Collects into `out` (cleared first) the positions of the spaces of
/// `form` that stand for a line break of `original`.
///
/// The view collapses every whitespace run, line breaks included, to one
/// space, so sentence ends that were line breaks are found here, from the
/// original text through the form's offset map, without changing the view.
/// Linear in the two texts; nothing is allocated when `out` has room.
pub(crate) fn line_breaks(original: &str, form: &Form, out: &mut Vec<u32>) {
    out.clear();
    let ob = original.as_bytes();
    // Cheap exit: no byte that can belong to a line break.
    if !ob.iter().any(|&b| matches!(b, b'\n' | b'\r' | 0x0b | 0x0c | 0x85 | 0xa8 | 0xa9)) {
        return;
    }
    let fb = form.as_str().as_bytes();
    for (i, &b) in fb.iter().enumerate() {
        if b != b' ' {
            continue;
        }
        // The original text from this space up to the next form byte: the
        // whole whitespace run (and anything the view dropped inside it).
        let a = form.span(i..i).start;
        let z = if i + 1 < fb.len() { form.span(i + 1..i + 1).start } else { original.len() };
        if let Some(run) = original.get(a..z.max(a))
            && run.chars().any(is_line_break)
        {
            out.push(i as u32);
        }
    }
}

/// Whether a sentence ends between `a` and `b` of the view: a sentence-end
/// byte in `bytes[a..b]`, or one of the line `breaks` (sorted) in `a..b`.
pub(crate) fn sentence_end_between(bytes: &[u8], breaks: &[u32], a: usize, b: usize) -> bool {
    if b <= a {
        return false;
    }
    let k = breaks.partition_point(|&x| (x as usize) < a);
    if breaks.get(k).is_some_and(|&x| (x as usize) < b) {
        return true;
    }
    (a..b).any(|i| is_sentence_end(bytes, i))
}

/// Start of the sentence holding `pos` (bounded by [`WINDOW`]).
fn sentence_start(bytes: &[u8], breaks: &[u32], pos: usize) -> usize {
    let mut floor = pos.saturating_sub(WINDOW);
    // A line break before `pos` ends the sentence before it.
    let k = breaks.partition_point(|&x| (x as usize) < pos);
    if k > 0 {
        floor = floor.max(breaks[k - 1] as usize + 1);
    }
    let mut i = pos;
    while i > floor {
        if is_sentence_end(bytes, i - 1) {
            return i;
        }
        i -= 1;
    }
    floor
}

/// End of the sentence holding `pos` (bounded by [`WINDOW`]).
fn sentence_end(bytes: &[u8], breaks: &[u32], pos: usize) -> usize {
    let mut ceil = (pos + WINDOW).min(bytes.len());
    let k = breaks.partition_point(|&x| (x as usize) < pos);
    if let Some(&x) = breaks.get(k) {
        ceil = ceil.min(x as usize);
    }
    let mut i = pos;
    while i < ceil {
        if is_sentence_end(bytes, i) {
            return i;
        }
        i += 1;
    }
    ceil
}

fn words_between(bytes: &[u8], a: usize, b: usize) -> usize {
    if b <= a {
        return 0;
    }
    let seg = &bytes[a..b];
    let spaces = seg.iter().filter(|&&c| c == b' ').count();
    // "no chest pain": the segment is " " (one space, zero words).
    spaces.saturating_sub(1)
}

/// Judges the context of the match `start..end` of `view`, given the
/// markers of the whole view (sorted by start) and the line breaks of the
/// original text (view positions, sorted; see [`line_breaks`]).
pub(crate) fn judge(view: &str, markers: &[Marker], breaks: &[u32], start: usize, end: usize) -> Judgement {
    let bytes = view.as_bytes();
    let s0 = sentence_start(bytes, breaks, start);
    let s1 = sentence_end(bytes, breaks, end);
    let resolved_end = (s1 + NEXT_WINDOW).min(bytes.len());
    let first = markers.partition_point(|m| (m.start as usize) < s0);
    let mut j = Judgement::default();

    let mut last_neg: Option<&Marker> = None;
    let mut neg_cancel_after = false;
    let mut hypo = false;
    let mut cond = false;
    let mut past = false;
    let mut present = false;
    let mut past_markers: [Option<(usize, usize)>; 4] = [None; 4];
    let mut n_past = 0;

    for m in &markers[first..] {
        let (ms, me) = (m.start as usize, m.end as usize);
        if ms >= resolved_end {
            break;
        }
        if ms >= end && m.kinds & RESOLVED != 0 {
            j.resolved = true;
        }
        if ms >= s1 {
            continue;
        }
        // Inside the sentence. A past anchor inside the match itself ("if I
        // died") belongs to the phrase, not to its context.
        let inside = ms >= start && me <= end;
        if m.kinds & PAST != 0 && !inside && n_past < past_markers.len() {
            past_markers[n_past] = Some((ms, me));
            n_past += 1;
        }
        if m.kinds & PRESENT != 0 {
            present = true;
        }
        if me <= start {
            if m.kinds & NEG != 0 {
                last_neg = Some(m);
            }
            if m.kinds & (HYPO | HYPO_NEAR) != 0 {
                let near_ok = m.kinds & HYPO != 0 || words_between(bytes, me, start) <= NEAR_WORDS;
                if near_ok && !blocked(markers, bytes, me, start, PERSONAL | TERM, false) {
                    hypo = true;
                }
            }
            if m.kinds & COND != 0 && !blocked(markers, bytes, me, start, PERSONAL | TERM, false) {
                cond = true;
            }
        }
        if ms < end && m.kinds & THIRD != 0 {
            j.third_party = true;
        }
        if ms >= end && m.kinds & NEG_CANCEL != 0 {
            neg_cancel_after = true;
        }
    }
    if let Some(n) = last_neg {
        let ne = n.end as usize;
        if words_between(bytes, ne, start) <= NEG_WORDS
            && !blocked(markers, bytes, ne, start, TERM, true)
            && !neg_cancel_after
        {
            j.negated = true;
        }
    }
    j.hypothetical = hypo;
    j.conditional = cond && !hypo;
    // A past anchor counts only in the match's clause: no terminator ("but",
    // "now", "and now") between them.
    for (ms, me) in past_markers.iter().flatten().copied() {
        let (a, b) = if me <= start { (me, start) } else { (end, ms.max(end)) };
        if !blocked(markers, bytes, a, b, TERM, false) {
            past = true;
        }
    }
    j.historical = past && !present;
    j
}

/// Whether a marker of `kinds` (or, with `comma`, a comma) lies between
/// `a` and `b`.
fn blocked(markers: &[Marker], bytes: &[u8], a: usize, b: usize, kinds: u16, comma: bool) -> bool {
    if b <= a {
        return false;
    }
    if comma && bytes[a..b].contains(&b',') {
        return true;
    }
    let first = markers.partition_point(|m| (m.start as usize) < a);
    markers[first..].iter().take_while(|m| (m.end as usize) <= b).any(|m| m.kinds & kinds != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::View;

    fn breaks(text: &str) -> (String, Vec<u32>) {
        let mut v = View::new();
        v.build(text);
        let mut out = Vec::new();
        line_breaks(text, v.main(), &mut out);
        (v.as_str().to_string(), out)
    }

    #[test]
    fn line_breaks_are_found_through_the_offset_map() {
        assert_eq!(breaks("a b c"), ("a b c".into(), vec![]));
        assert_eq!(breaks("ab\ncd ef"), ("ab cd ef".into(), vec![2]));
        assert_eq!(breaks("ab \r\n cd"), ("ab cd".into(), vec![2]));
        assert_eq!(breaks("ab\u{2028}cd"), ("ab cd".into(), vec![2]));
        // An invisible character inside the run does not hide the break.
        assert_eq!(breaks("ab \u{200B}\ncd"), ("ab cd".into(), vec![2]));
        // Non-ASCII text before the break shifts the view offsets.
        let (v, b) = breaks("Ｃａｆé\nno");
        assert_eq!(v, "café no");
        assert_eq!(b, vec![v.find(' ').unwrap() as u32]);
        // Whatever the view keeps of a trailing break, a break is a space.
        let (v, b) = breaks("ab\n");
        assert!(b.iter().all(|&i| v.as_bytes()[i as usize] == b' '));
    }

    #[test]
    fn sentences_end_at_line_breaks() {
        let (v, b) = breaks("no fever\nchest pain");
        let bytes = v.as_bytes();
        let at = v.find("chest").unwrap();
        assert_eq!(sentence_start(bytes, &b, at), at);
        assert_eq!(sentence_end(bytes, &b, 2), 8);
        assert!(sentence_end_between(bytes, &b, 2, at));
        assert!(!sentence_end_between(bytes, &[], 2, at));
    }
}
