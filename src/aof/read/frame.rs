//! RESP record framing at one record boundary: `*<argc>\r\n` then `argc`
//! times `$<len>\r\n<len bytes>\r\n`; `#…` annotation lines; inline
//! commands on request. Two dialects, because the two programs that read
//! AOFs disagree on corrupt files (aof.md §2.1, §7.2):
//!
//! * [`Dialect::Checker`] — `redis-check-aof`: 127-byte `*`/`$` lines whose
//!   number must be followed by CRLF, CRLF after payloads verified, `*0`
//!   and negative counts accepted as empty records.
//! * [`Dialect::Server`] — `redis-server`'s loader: 1023-byte lines, numbers
//!   read with `atoi`/`strtol` ignoring what follows, the two bytes after a
//!   payload skipped unchecked, `argc < 1` a format error.
//!
//! Arguments are not copied: a command is a lazy [`Argv`] view over the
//! record's bytes in the mapping.

use std::borrow::Cow;
use std::fmt;

use super::manifest::split_args;

/// Which reader's rules to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `redis-check-aof` (7.0): strict framing, empty records allowed.
    Checker,
    /// `redis-server` (7.0) loading: lenient numbers and CRLFs.
    Server,
}

impl Dialect {
    /// Longest `*`/`$` line, as the `fgets` buffer size minus the NUL.
    fn line_max(self) -> usize {
        match self {
            Dialect::Checker => 127,
            Dialect::Server => 1023,
        }
    }
}

/// Longest annotation line both programs read at once (1024-byte buffer).
pub const ANNOTATION_MAX: usize = 1023;
/// Longest inline command line (the server's `PROTO_INLINE_MAX_SIZE`).
const INLINE_MAX: usize = 64 * 1024;

/// Whether a damaged record ran out of bytes or holds a wrong byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DamageKind {
    /// The data ends inside the record: a torn tail a server can cut.
    Truncated,
    /// A byte that is present but wrong: corruption.
    Format,
}

/// A record that could not be framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// Truncation or corruption.
    pub kind: DamageKind,
    /// Offset, from the record start, of the read that failed (the line, or
    /// the payload for payload and CRLF errors — where the checker points).
    pub at: usize,
    /// CRLF lines the checker consumed before failing (its line counter).
    pub lines: u32,
    /// What was being read.
    pub what: &'static str,
    /// What the format requires there.
    pub expected: String,
    /// Up to 16 bytes found there.
    pub found: Vec<u8>,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            DamageKind::Truncated => write!(
                f,
                "{}: expected {}, but the file ends (found \"{}\")",
                self.what,
                self.expected,
                self.found.escape_ascii()
            ),
            DamageKind::Format => write!(
                f,
                "{}: expected {}, found \"{}\"",
                self.what,
                self.expected,
                self.found.escape_ascii()
            ),
        }
    }
}

/// What one framed item is.
#[derive(Debug, Clone)]
pub enum Item<'a> {
    /// A command (argc 0 only in the checker dialect).
    Command(Argv<'a>),
    /// A `#` line, without its line ending.
    Annotation(&'a [u8]),
    /// An empty inline line (skipped by servers that read inline commands).
    Blank,
}

/// One framed item.
#[derive(Debug, Clone)]
pub struct Frame<'a> {
    /// The item.
    pub item: Item<'a>,
    /// Bytes it takes.
    pub len: usize,
    /// CRLF-terminated RESP lines in it (the checker's `ok_up_to_line` unit).
    pub lines: u32,
}

/// A command's arguments, decoded lazily from the record bytes.
#[derive(Debug, Clone)]
pub enum Argv<'a> {
    /// RESP: `body` starts at the first `$` line; already validated.
    Resp {
        /// The bytes from the first `$` to the record end.
        body: &'a [u8],
        /// Number of arguments.
        argc: usize,
    },
    /// An inline command line split like `sdssplitargs`.
    Inline(Vec<Cow<'a, [u8]>>),
}

impl<'a> Argv<'a> {
    /// Number of arguments.
    pub fn argc(&self) -> usize {
        match self {
            Argv::Resp { argc, .. } => *argc,
            Argv::Inline(v) => v.len(),
        }
    }
    /// The arguments in order.
    pub fn iter(&self) -> ArgIter<'_> {
        match self {
            Argv::Resp { body, argc } => ArgIter::Resp {
                rest: body,
                left: *argc,
            },
            Argv::Inline(v) => ArgIter::Inline(v.iter()),
        }
    }
    /// Argument `i`.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.iter().nth(i)
    }
    /// The command name (argument 0), as written.
    pub fn name(&self) -> Option<&[u8]> {
        self.get(0)
    }
    /// Whether the command name equals `n` ignoring ASCII case.
    pub fn is(&self, n: &str) -> bool {
        self.name()
            .is_some_and(|c| c.eq_ignore_ascii_case(n.as_bytes()))
    }
}

/// Iterator over [`Argv`].
pub enum ArgIter<'s> {
    /// Over RESP bulk strings.
    Resp {
        /// Bytes from the next `$` line.
        rest: &'s [u8],
        /// Arguments left.
        left: usize,
    },
    /// Over inline tokens.
    Inline(std::slice::Iter<'s, Cow<'s, [u8]>>),
}

impl<'s> Iterator for ArgIter<'s> {
    type Item = &'s [u8];
    fn next(&mut self) -> Option<&'s [u8]> {
        match self {
            ArgIter::Inline(it) => it.next().map(|c| &c[..]),
            ArgIter::Resp { rest, left } => {
                if *left == 0 {
                    return None;
                }
                let line = fgets(rest, Dialect::Server.line_max());
                let (len, _) = strtol(line.get(1..)?);
                let len = usize::try_from(len).ok()?;
                let start = line.len();
                let payload = rest.get(start..start.checked_add(len)?)?;
                *rest = rest.get(start + len + 2..).unwrap_or(&[]);
                *left -= 1;
                Some(payload)
            }
        }
    }
}

/// The chunk C `fgets(buf, max + 1)` returns: through the first newline, at
/// most `max` bytes.
fn fgets(i: &[u8], max: usize) -> &[u8] {
    let w = &i[..i.len().min(max)];
    match w.iter().position(|&b| b == b'\n') {
        Some(p) => &w[..=p],
        None => w,
    }
}

/// C `strtol(s, &end, 10)`: blanks, sign, digits (saturating). Returns the
/// value and the bytes consumed (0 when there are no digits).
pub fn strtol(s: &[u8]) -> (i64, usize) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = i;
    let mut v: i64 = 0;
    while let Some(d) = s.get(i).filter(|d| d.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add((d - b'0') as i64);
        i += 1;
    }
    if i == digits {
        return (0, 0);
    }
    (if neg { -v } else { v }, i)
}

fn found(i: &[u8]) -> Vec<u8> {
    i[..i.len().min(16)].to_vec()
}

struct Ctx<'a> {
    rec: &'a [u8],
    lines: u32,
}

impl Ctx<'_> {
    fn err(
        &self,
        kind: DamageKind,
        at: usize,
        what: &'static str,
        expected: impl Into<String>,
    ) -> FrameError {
        FrameError {
            kind,
            at,
            lines: self.lines,
            what,
            expected: expected.into(),
            found: found(self.rec.get(at..).unwrap_or(&[])),
        }
    }

    /// Reads a `<prefix><number>` line at `at`; returns the number and the
    /// line length.
    fn number_line(
        &mut self,
        at: usize,
        prefix: u8,
        d: Dialect,
        what: &'static str,
    ) -> Result<(i64, usize), FrameError> {
        let rest = &self.rec[at..];
        if rest.is_empty() {
            return Err(self.err(
                DamageKind::Truncated,
                at,
                what,
                format!("a '{}' line", prefix as char),
            ));
        }
        let line = fgets(rest, d.line_max());
        if line[0] != prefix {
            return Err(self.err(
                DamageKind::Format,
                at,
                what,
                format!("prefix '{}'", prefix as char),
            ));
        }
        let at_eof = line.len() == rest.len() && line.last() != Some(&b'\n');
        match d {
            Dialect::Checker => {
                let (v, n) = strtol(&line[1..]);
                let after = &line[1 + n..];
                if !after.starts_with(b"\r\n") {
                    let kind = if at_eof && b"\r\n".starts_with(after) {
                        DamageKind::Truncated
                    } else {
                        DamageKind::Format
                    };
                    let exp = if line.len() == d.line_max() && line.last() != Some(&b'\n') {
                        "a decimal number and CRLF within 127 bytes"
                    } else {
                        "a decimal number followed by CRLF"
                    };
                    return Err(self.err(kind, at, what, exp));
                }
                self.lines += 1;
                Ok((v, line.len()))
            }
            Dialect::Server => {
                if prefix == b'*' && line.len() == 1 && at_eof {
                    return Err(self.err(DamageKind::Truncated, at, what, "a count after '*'"));
                }
                if line.get(1) == Some(&0) {
                    return Err(self.err(DamageKind::Format, at, what, "a count after '*'"));
                }
                let (v, _) = strtol(&line[1..]);
                self.lines += 1;
                Ok((v, line.len()))
            }
        }
    }
}

/// Frames one item at the start of `i` (which must not be empty).
pub fn frame(i: &[u8], d: Dialect, inline: bool) -> Result<Frame<'_>, FrameError> {
    let mut cx = Ctx { rec: i, lines: 0 };
    match i.first() {
        Some(b'#') => {
            let line = fgets(i, ANNOTATION_MAX);
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            Ok(Frame {
                item: Item::Annotation(text),
                len: line.len(),
                lines: 0,
            })
        }
        Some(b'*') => command(&mut cx, d),
        Some(_) if inline && d == Dialect::Server => inline_command(i),
        _ => Err(cx.err(
            DamageKind::Format,
            0,
            "record",
            "'*' (a RESP array) or '#' (an annotation)",
        )),
    }
}

fn command<'a>(cx: &mut Ctx<'a>, d: Dialect) -> Result<Frame<'a>, FrameError> {
    let (argc, head) = cx.number_line(0, b'*', d, "argument count")?;
    if argc < 1 {
        if d == Dialect::Server {
            return Err(cx.err(
                DamageKind::Format,
                0,
                "argument count",
                "a count of at least 1",
            ));
        }
        return Ok(Frame {
            item: Item::Command(Argv::Resp { body: &[], argc: 0 }),
            len: head,
            lines: cx.lines,
        });
    }
    let argc_u = usize::try_from(argc).unwrap_or(usize::MAX);
    // Every argument takes at least 6 bytes ("$0\r\n\r\n"); a count the
    // data cannot hold is truncation without looping over it.
    let mut pos = head;
    let mut n = 0usize;
    while n < argc_u {
        let (len, line) = cx.number_line(pos, b'$', d, "bulk length")?;
        if len < 0 {
            return Err(cx.err(
                DamageKind::Format,
                pos,
                "bulk length",
                "a length of at least 0",
            ));
        }
        pos += line;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let avail = cx.rec.len() - pos;
        if avail < len.saturating_add(2) {
            return Err(FrameError {
                kind: DamageKind::Truncated,
                at: pos,
                lines: cx.lines,
                what: "bulk payload",
                expected: format!("{} bytes (payload and CRLF)", len.saturating_add(2)),
                found: found(&cx.rec[pos..]),
            });
        }
        let crlf = &cx.rec[pos + len..pos + len + 2];
        if d == Dialect::Checker && crlf != b"\r\n" {
            let mut e = cx.err(
                DamageKind::Format,
                pos,
                "bulk payload",
                format!("CRLF after {len} bytes"),
            );
            e.found = crlf.to_vec();
            return Err(e);
        }
        cx.lines += 1;
        pos += len + 2;
        n += 1;
    }
    Ok(Frame {
        item: Item::Command(Argv::Resp {
            body: &cx.rec[head..pos],
            argc: argc_u,
        }),
        len: pos,
        lines: cx.lines,
    })
}

fn inline_command(i: &[u8]) -> Result<Frame<'_>, FrameError> {
    let w = &i[..i.len().min(INLINE_MAX)];
    let Some(nl) = w.iter().position(|&b| b == b'\n') else {
        let kind = if w.len() == i.len() {
            DamageKind::Truncated
        } else {
            DamageKind::Format
        };
        return Err(FrameError {
            kind,
            at: 0,
            lines: 0,
            what: "inline command",
            expected: "a newline within 64 KiB".into(),
            found: found(i),
        });
    };
    let line = &i[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let args = split_args(line).ok_or_else(|| FrameError {
        kind: DamageKind::Format,
        at: 0,
        lines: 0,
        what: "inline command",
        expected: "balanced quotes".into(),
        found: found(line),
    })?;
    let item = if args.is_empty() {
        Item::Blank
    } else {
        Item::Command(Argv::Inline(args))
    };
    Ok(Frame {
        item,
        len: nl + 1,
        lines: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(f: &Frame<'_>) -> Vec<Vec<u8>> {
        match &f.item {
            Item::Command(a) => a.iter().map(<[u8]>::to_vec).collect(),
            _ => vec![],
        }
    }

    #[test]
    fn dialects_differ_where_the_programs_do() {
        let ok = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        for d in [Dialect::Checker, Dialect::Server] {
            let f = frame(ok, d, false).unwrap();
            assert_eq!((f.len, f.lines), (ok.len(), 5));
            assert_eq!(args(&f), vec![b"GET".to_vec(), b"k".to_vec()]);
        }
        let bad_crlf = b"*1\r\n$1\r\n1XX";
        assert_eq!(
            frame(bad_crlf, Dialect::Checker, false).unwrap_err().kind,
            DamageKind::Format
        );
        assert!(frame(bad_crlf, Dialect::Server, false).is_ok());
        assert!(frame(b"*0\r\n", Dialect::Checker, false).is_ok());
        assert_eq!(
            frame(b"*0\r\n", Dialect::Server, false).unwrap_err().kind,
            DamageKind::Format
        );
        let torn = b"*2\r\n$3\r\nSET\r\n$5\r\nhel";
        for d in [Dialect::Checker, Dialect::Server] {
            let e = frame(torn, d, false).unwrap_err();
            assert_eq!((e.kind, e.at), (DamageKind::Truncated, 17));
        }
        assert_eq!(
            frame(b"*3\r", Dialect::Checker, false).unwrap_err().kind,
            DamageKind::Truncated
        );
        assert_eq!(
            frame(b"!!!", Dialect::Server, false).unwrap_err().kind,
            DamageKind::Format
        );
    }

    #[test]
    fn inline_and_annotations() {
        let f = frame(b"SET k \"a b\"\r\nX", Dialect::Server, true).unwrap();
        assert_eq!(
            args(&f),
            vec![b"SET".to_vec(), b"k".to_vec(), b"a b".to_vec()]
        );
        assert_eq!(f.len, 13);
        let f = frame(b"#TS:12\r\n*", Dialect::Checker, false).unwrap();
        assert!(matches!(f.item, Item::Annotation(b"#TS:12")));
        assert_eq!(f.len, 8);
    }
}
