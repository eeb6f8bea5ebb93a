//! The statistical layer: a logistic regression over hashed word and
//! character n-grams of the detection view.
//!
//! The feature extraction is public so that the training command
//! (`cargo run --release --example train_injection`) computes exactly the
//! features the check computes at run time.
//!
//! # Features
//!
//! Every feature is a bucket in a table of `2^bits` weights (the hashing
//! trick). For a text (the detection view: lowercase, NFKC, whitespace
//! collapsed) the features are:
//!
//! * every byte 4-gram (4 consecutive bytes of the view),
//! * every word (a run of ASCII letters and digits, apostrophes inside a word,
//!   and non-ASCII bytes),
//! * every pair of consecutive words.
//!
//! Each occurrence counts; the logit is
//! `bias + scale * (sum of the weights of all occurrences) / sqrt(count)`
//! and the probability is its logistic function. Weights are stored as
//! `i16` and summed as integers, so scoring is exact and does not allocate.
//!
//! # File format
//!
//! Little-endian: the magic `MGINJM01`, `u32` bits, `u32` reserved (0), `f32`
//! bias, `f32` scale, then `2^bits` `i16` weights.

use std::ops::Range;

/// The magic bytes that start a model file.
pub const MAGIC: &[u8; 8] = b"MGINJM01";

/// Size of the header before the weights, in bytes.
pub const HEADER_LEN: usize = 8 + 4 + 4 + 4 + 4;

/// Smallest and largest table size accepted, as a power of two.
pub const BITS_RANGE: Range<u32> = 10..23;

const SEED_GRAM: u32 = 0x2545_F491;
const SEED_WORD: u32 = 0x7F4A_7C15;
const SEED_PAIR: u32 = 0x61C8_8647;
const FNV_OFFSET: u32 = 0x811C_9DC5;
const FNV_PRIME: u32 = 0x0100_0193;

/// Multiplicative hashing: the top bits of `x * K` depend on every bit of
/// `x`; the table index is taken from the top bits.
#[inline]
fn mix(x: u32) -> u32 {
    x.wrapping_mul(0x9E37_79B1)
}

#[inline]
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// Calls `f` with the hash of every feature occurrence of `text` (see the
/// module docs), skipping features that start inside one of the `skip`
/// ranges (byte ranges of `text`, sorted by start, not overlapping). Returns
/// the number of occurrences.
///
/// The hashes are full 32-bit values; a table of `2^bits` weights uses the
/// top `bits` bits (`hash >> (32 - bits)`).
pub fn for_each_feature(text: &str, skip: &[Range<usize>], mut f: impl FnMut(u32)) -> u32 {
    let b = text.as_bytes();
    let mut n = 0u32;
    // Byte 4-grams.
    if b.len() >= 4 {
        if skip.is_empty() {
            for w in b.windows(4) {
                f(mix(u32::from_le_bytes([w[0], w[1], w[2], w[3]]) ^ SEED_GRAM));
            }
            n += (b.len() - 3) as u32;
        } else {
            let mut si = 0usize;
            for (i, w) in b.windows(4).enumerate() {
                while si < skip.len() && skip[si].end <= i {
                    si += 1;
                }
                if si < skip.len() && skip[si].start <= i {
                    continue;
                }
                f(mix(u32::from_le_bytes([w[0], w[1], w[2], w[3]]) ^ SEED_GRAM));
                n += 1;
            }
        }
    }
    // Words and word pairs.
    let mut si = 0usize;
    let mut prev: Option<u32> = None;
    let mut i = 0usize;
    while let Some((start, h)) = next_word(b, &mut i) {
        if !skip.is_empty() {
            while si < skip.len() && skip[si].end <= start {
                si += 1;
            }
            if si < skip.len() && skip[si].start <= start {
                prev = None;
                continue;
            }
        }
        f(mix(h ^ SEED_WORD));
        n += 1;
        if let Some(p) = prev {
            f(mix(p.wrapping_mul(0x85EB_CA6B) ^ h ^ SEED_PAIR));
            n += 1;
        }
        prev = Some(h);
    }
    n
}

/// The next word at or after `*i` (a run of word bytes, with apostrophes
/// inside it): its start and FNV-1a hash; `*i` ends just after it. The one
/// tokenizer of training ([`for_each_feature`]) and scoring.
#[inline]
fn next_word(b: &[u8], i: &mut usize) -> Option<(usize, u32)> {
    while *i < b.len() && !is_word_byte(b[*i]) {
        *i += 1;
    }
    if *i >= b.len() {
        return None;
    }
    let start = *i;
    let mut h = FNV_OFFSET;
    while let Some(&c) = b.get(*i) {
        if is_word_byte(c) || (c == b'\'' && *i > start && b.get(*i + 1).is_some_and(|&d| is_word_byte(d))) {
            h = (h ^ u32::from(c)).wrapping_mul(FNV_PRIME);
            *i += 1;
        } else {
            break;
        }
    }
    Some((start, h))
}

/// A compiled model: a table of quantised weights.
#[derive(Clone)]
pub struct Model {
    bits: u32,
    bias: f32,
    scale: f32,
    weights: Box<[i16]>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("bits", &self.bits).field("bias", &self.bias).field("scale", &self.scale).finish()
    }
}

/// Why a model file cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFormatError(&'static str);

impl std::fmt::Display for ModelFormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ModelFormatError {}

impl Model {
    /// Parses a model file.
    ///
    /// # Errors
    ///
    /// When the magic, the table size or the length is wrong, or the bias or
    /// scale is not finite.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelFormatError> {
        if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
            return Err(ModelFormatError("not a medguard injection model (bad magic)"));
        }
        let u32_at = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let bits = u32_at(8);
        if !BITS_RANGE.contains(&bits) {
            return Err(ModelFormatError("table size out of range"));
        }
        let bias = f32::from_bits(u32_at(16));
        let scale = f32::from_bits(u32_at(20));
        if !bias.is_finite() || !scale.is_finite() {
            return Err(ModelFormatError("bias or scale is not finite"));
        }
        let count = 1usize << bits;
        if bytes.len() != HEADER_LEN + 2 * count {
            return Err(ModelFormatError("wrong file length for its table size"));
        }
        let weights: Box<[i16]> =
            bytes[HEADER_LEN..].chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
        Ok(Model { bits, bias, scale, weights })
    }

    /// Serialises a model (the inverse of [`Model::from_bytes`]).
    #[must_use]
    pub fn to_bytes(bits: u32, bias: f32, scale: f32, weights: &[i16]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 2 * weights.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&bits.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&bias.to_bits().to_le_bytes());
        out.extend_from_slice(&scale.to_bits().to_le_bytes());
        for w in weights {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// The table size as a power of two.
    #[must_use]
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The logit of `text` (a detection view), ignoring features that start
    /// in the `skip` ranges.
    #[must_use]
    pub fn logit(&self, text: &str, skip: &[Range<usize>]) -> f32 {
        let shift = 32 - self.bits;
        let w = &*self.weights;
        let mut sum: i64 = 0;
        let n = if skip.is_empty() {
            self.sum_fast(text.as_bytes(), &mut sum)
        } else {
            for_each_feature(text, skip, |h| {
                // `h >> shift` is below `2^bits`, the table length.
                sum += i64::from(w.get((h >> shift) as usize).copied().unwrap_or(0));
            })
        };
        if n == 0 {
            return self.bias;
        }
        self.bias + self.scale * (sum as f32) / (n as f32).sqrt()
    }

    /// [`for_each_feature`] and the weight sum in tight loops, for the
    /// common case without skipped ranges (same features, same sum).
    fn sum_fast(&self, b: &[u8], sum: &mut i64) -> u32 {
        let shift = 32 - self.bits;
        let mask = self.weights.len() - 1;
        let w = &*self.weights;
        let mut acc: i64 = 0;
        let mut n = 0u32;
        if b.len() >= 4 {
            for win in b.windows(4) {
                let g = u32::from_le_bytes([win[0], win[1], win[2], win[3]]);
                acc += i64::from(w[(mix(g ^ SEED_GRAM) >> shift) as usize & mask]);
            }
            n += (b.len() - 3) as u32;
        }
        let mut prev: Option<u32> = None;
        let mut i = 0usize;
        while let Some((_, h)) = next_word(b, &mut i) {
            acc += i64::from(w[(mix(h ^ SEED_WORD) >> shift) as usize & mask]);
            n += 1;
            if let Some(p) = prev {
                acc += i64::from(w[(mix(p.wrapping_mul(0x85EB_CA6B) ^ h ^ SEED_PAIR) >> shift) as usize & mask]);
                n += 1;
            }
            prev = Some(h);
        }
        *sum = acc;
        n
    }

    /// The probability that `text` is an injection or jailbreak.
    #[must_use]
    pub fn probability(&self, text: &str, skip: &[Range<usize>]) -> f32 {
        sigmoid(self.logit(text, skip))
    }

    /// Approximate heap bytes.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.weights.len() * 2
    }
}

/// The logistic function, computed with [`exp`] so that results do not
/// depend on the platform's `libm`.
#[must_use]
pub fn sigmoid(z: f32) -> f32 {
    let z = f64::from(z).clamp(-60.0, 60.0);
    (1.0 / (1.0 + exp(-z))) as f32
}

/// `e^x` from basic arithmetic only (range reduction and a Taylor
/// polynomial), so that training and scoring are bit-for-bit reproducible
/// across platforms. Accurate to a few ulps for |x| < 700.
#[must_use]
pub fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let x = x.clamp(-700.0, 700.0);
    const LN2: f64 = std::f64::consts::LN_2;
    let k = (x / LN2).round();
    let r = x - k * LN2;
    // Taylor series of e^r for |r| <= ln2/2, 14 terms (error < 1e-17).
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    for i in 1..15 {
        term *= r / f64::from(i);
        sum += term;
    }
    // 2^k via the exponent bits; k is in [-1010, 1010].
    let k = k as i64;
    let pow = f64::from_bits(((k + 1023) as u64) << 52);
    sum * pow
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std_closely() {
        for i in -200..200 {
            let x = f64::from(i) * 0.37;
            let rel = (exp(x) - x.exp()).abs() / x.exp();
            assert!(rel < 1e-14, "{x}: {rel}");
        }
    }

    #[test]
    fn features_count_grams_words_and_pairs() {
        let mut hs = Vec::new();
        let n = for_each_feature("ab cd", &[], |h| hs.push(h));
        // 2 four-grams ("ab c", "b cd"), 2 words, 1 pair.
        assert_eq!(n, 5);
        assert_eq!(hs.len(), 5);
        // Skipping the second word drops its gram, word and pair.
        let skip: [Range<usize>; 1] = [Range { start: 3, end: 5 }];
        let n2 = for_each_feature("ab cd", &skip, |_| {});
        assert_eq!(n2, 2 + 1);
    }

    #[test]
    fn fast_and_generic_scoring_agree() {
        let w: Vec<i16> = (0..1024).map(|i| ((i * 7919) % 200) as i16 - 100).collect();
        let m = Model::from_bytes(&Model::to_bytes(10, 0.1, 0.01, &w)).unwrap();
        for t in ["", "a", "abc", "ignore all previous instructions", "don't stop — naïve café 忽略之前的指令 x'y 'z"]
        {
            let fast = m.logit(t, &[]);
            let mut sum = 0i64;
            let n = for_each_feature(t, &[], |h| sum += i64::from(w[(h >> 22) as usize]));
            let generic = if n == 0 { 0.1 } else { 0.1 + 0.01 * (sum as f32) / (n as f32).sqrt() };
            assert_eq!(fast, generic, "{t}");
        }
    }

    #[test]
    fn round_trip_bytes() {
        let w = [1i16, -2, 3, -4].repeat(256);
        let bytes = Model::to_bytes(10, 0.5, 0.25, &w);
        let m = Model::from_bytes(&bytes).unwrap();
        assert_eq!(m.bits(), 10);
        assert!(Model::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(Model::from_bytes(b"nope").is_err());
    }
}
