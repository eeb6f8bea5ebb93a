//! Line-by-line input with bounded memory: a line longer than the bound is
//! skipped (and reported as such), never held in memory whole.

use std::io::{self, BufRead, BufReader, Read};

/// Default bound on one input line (and on plain-text input): 64 MiB.
pub(crate) const DEFAULT_MAX_LINE_BYTES: usize = 64 << 20;

/// One line from [`Lines::next`].
pub(crate) enum Line<'a> {
    /// The line's bytes, without `\n` (a trailing `\r` is kept; JSON
    /// parsers treat it as whitespace). A UTF-8 byte order mark at the very
    /// start of the input is removed.
    Ok(&'a [u8]),
    /// The line was longer than the bound; its bytes were skipped.
    TooLong,
}

/// Reads `\n`-terminated lines of at most `max` bytes.
pub(crate) struct Lines<R> {
    inner: BufReader<R>,
    buf: Vec<u8>,
    max: usize,
    number: u64,
    consumed: u64,
}

impl<R: Read> Lines<R> {
    pub(crate) fn new(r: R, max: usize) -> Lines<R> {
        Lines { inner: BufReader::with_capacity(256 * 1024, r), buf: Vec::new(), max, number: 0, consumed: 0 }
    }

    /// Bytes read so far.
    pub(crate) fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Whether the next line can be returned without blocking on a read
    /// (used to flush output before waiting for more input).
    pub(crate) fn has_buffered(&self) -> bool {
        !self.inner.buffer().is_empty()
    }

    /// The next line and its 1-based number, or `None` at the end of input.
    pub(crate) fn next(&mut self) -> io::Result<Option<(u64, Line<'_>)>> {
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let newline = avail.iter().position(|&b| b == b'\n');
            let part = &avail[..newline.unwrap_or(avail.len())];
            if !too_long && self.buf.len() + part.len() <= self.max {
                self.buf.extend_from_slice(part);
            } else {
                too_long = true;
                self.buf = Vec::new();
            }
            let used = newline.map_or(avail.len(), |i| i + 1);
            self.inner.consume(used);
            self.consumed += used as u64;
            if newline.is_some() {
                break;
            }
        }
        self.number += 1;
        if too_long {
            return Ok(Some((self.number, Line::TooLong)));
        }
        let line =
            if self.number == 1 { self.buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&self.buf) } else { &self.buf };
        Ok(Some((self.number, Line::Ok(line))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], max: usize) -> Vec<Option<Vec<u8>>> {
        let mut l = Lines::new(input, max);
        let mut out = Vec::new();
        while let Some((_, line)) = l.next().unwrap() {
            out.push(match line {
                Line::Ok(b) => Some(b.to_vec()),
                Line::TooLong => None,
            });
        }
        out
    }

    #[test]
    fn lines_are_bounded_and_the_rest_goes_on() {
        let got = collect(b"\xEF\xBB\xBFab\n0123456789\ncd", 5);
        assert_eq!(got, vec![Some(b"ab".to_vec()), None, Some(b"cd".to_vec())]);
        assert_eq!(collect(b"", 5), Vec::<Option<Vec<u8>>>::new());
        assert_eq!(collect(b"\n\n", 5), vec![Some(vec![]), Some(vec![])]);
    }
}
