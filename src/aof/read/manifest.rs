//! The multi-part AOF manifest (`appendonly.aof.manifest`, Redis 7.0+):
//! line-oriented `file <name> seq <n> type <b|h|i>` entries, parsed with the
//! same rules and error texts as the server (`aofLoadManifestFromFile`), so
//! a manifest we accept is one the server accepts.

use std::borrow::Cow;
use std::fmt;

/// Longest manifest line the server reads (its buffer holds 1024 bytes + NUL).
const MAX_LINE: usize = 1024;

/// What a manifest entry is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    /// `b`: the snapshot of the last rewrite, loaded first.
    Base,
    /// `h`: a former BASE/INCR awaiting deletion, never loaded.
    History,
    /// `i`: commands since the last rewrite, loaded in manifest order.
    Incr,
}

/// One `file … seq … type …` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The file name (bytes after unquoting; a bare name, never a path).
    pub name: Vec<u8>,
    /// The sequence number (`seq`).
    pub seq: i64,
    /// The file type.
    pub file_type: FileType,
    /// 1-based manifest line the entry came from.
    pub line: usize,
    /// Keys the server does not know (kept for forward compatibility, ignored).
    pub unknown_keys: Vec<Vec<u8>>,
}

/// A parsed manifest.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// The BASE entry, if any.
    pub base: Option<Entry>,
    /// INCR entries in load order.
    pub incrs: Vec<Entry>,
    /// HISTORY entries (listed, never loaded).
    pub history: Vec<Entry>,
    /// Number of comment lines skipped.
    pub comments: usize,
}

/// Why the server would refuse a manifest; the message is the server's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The server's message (e.g. "Invalid AOF manifest file format").
    pub message: &'static str,
    /// 1-based line number, when a line was being read.
    pub line: Option<usize>,
    /// The offending line (trimmed), when there is one.
    pub text: Option<Vec<u8>>,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.line, &self.text) {
            (Some(l), Some(t)) => write!(f, "{} (line {l}: '{}')", self.message, t.escape_ascii()),
            (Some(l), None) => write!(f, "{} (line {l})", self.message),
            _ => f.write_str(self.message),
        }
    }
}

impl Manifest {
    /// The files the server loads, in order: the BASE (if any) then every INCR.
    pub fn load_order(&self) -> impl Iterator<Item = &Entry> {
        self.base.iter().chain(self.incrs.iter())
    }
}

fn err(message: &'static str, line: Option<usize>, text: Option<&[u8]>) -> ManifestError {
    ManifestError {
        message,
        line,
        text: text.map(<[u8]>::to_vec),
    }
}

/// C `isspace`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// C `atoll`: optional blanks and sign, then digits; anything else ends it.
pub fn atoll(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
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
    let mut v: i64 = 0;
    while let Some(d) = s.get(i).filter(|d| d.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add((d - b'0') as i64);
        i += 1;
    }
    if neg { -v } else { v }
}

/// Splits a line into tokens like Redis' `sdssplitargs`: blanks separate;
/// `"…"` parts take C escapes (`\n \r \t \b \a \xHH`, backslash + any other
/// byte = that byte); `'…'` parts only `\'`; a closing quote must be
/// followed by a blank or the end. `None` on unbalanced quotes. Tokens
/// without quotes borrow from the line. A NUL byte ends the line, as in C.
pub fn split_args(line: &[u8]) -> Option<Vec<Cow<'_, [u8]>>> {
    let line = match line.iter().position(|&b| b == 0) {
        Some(n) => &line[..n],
        None => line,
    };
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut out = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(out);
        }
        let start = p;
        let mut owned: Option<Vec<u8>> = None;
        let (mut inq, mut insq) = (false, false);
        loop {
            let c = at(p);
            if inq {
                let buf = owned.get_or_insert_with(Vec::new);
                if c == b'\\'
                    && at(p + 1) == b'x'
                    && at(p + 2).is_ascii_hexdigit()
                    && at(p + 3).is_ascii_hexdigit()
                {
                    let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                    buf.push(hex(at(p + 2)) * 16 + hex(at(p + 3)));
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    buf.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        o => o,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    buf.push(c);
                }
            } else if insq {
                let buf = owned.get_or_insert_with(Vec::new);
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    buf.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    buf.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => {
                        // Bytes already read unquoted stay part of the token.
                        owned.get_or_insert_with(|| line[start..p].to_vec());
                        inq = true;
                    }
                    b'\'' => {
                        owned.get_or_insert_with(|| line[start..p].to_vec());
                        insq = true;
                    }
                    _ => {
                        if let Some(buf) = owned.as_mut() {
                            buf.push(c);
                        }
                    }
                }
            }
            p += 1;
        }
        out.push(match owned {
            Some(v) => Cow::Owned(v),
            None => Cow::Borrowed(&line[start..p.min(line.len())]),
        });
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    let t = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    while s.first().is_some_and(t) {
        s = &s[1..];
    }
    while s.last().is_some_and(t) {
        s = &s[..s.len() - 1];
    }
    s
}

/// Splits `data` into the chunks C `fgets(buf, n + 1)` returns: up to and
/// including a newline, at most `n` bytes each.
pub fn fgets_chunks(data: &[u8], n: usize) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let window = &rest[..rest.len().min(n)];
        let len = window
            .iter()
            .position(|&b| b == b'\n')
            .map_or(window.len(), |p| p + 1);
        let (chunk, r) = rest.split_at(len);
        rest = r;
        Some(chunk)
    })
}

/// Whether `redis-check-aof` would treat `data` as a manifest: some line
/// (1024-byte `fgets` chunk) that is not a comment starts with `file`.
pub fn looks_like_manifest(data: &[u8]) -> bool {
    fgets_chunks(data, MAX_LINE).any(|c| c.first() != Some(&b'#') && c.starts_with(b"file"))
}

/// Parses a manifest with the server's rules.
pub fn parse(data: &[u8]) -> Result<Manifest, ManifestError> {
    let mut m = Manifest::default();
    let mut max_incr_seq = 0i64;
    let mut linenum = 0;
    for chunk in fgets_chunks(data, MAX_LINE) {
        linenum += 1;
        if chunk.first() == Some(&b'#') {
            m.comments += 1;
            continue;
        }
        // C string semantics: the line ends at a NUL byte.
        let cstr = match chunk.iter().position(|&b| b == 0) {
            Some(n) => &chunk[..n],
            None => chunk,
        };
        if !cstr.contains(&b'\n') {
            return Err(err(
                "The AOF manifest file contains too long line",
                Some(linenum),
                None,
            ));
        }
        let line = trim(cstr);
        if line.is_empty() {
            return Err(err(
                "Invalid AOF manifest file format",
                Some(linenum),
                Some(line),
            ));
        }
        let invalid = || {
            err(
                "Invalid AOF manifest file format",
                Some(linenum),
                Some(line),
            )
        };
        let args = split_args(line).ok_or_else(invalid)?;
        if args.len() < 6 || args.len() % 2 != 0 {
            return Err(invalid());
        }
        let (mut name, mut seq, mut ty): (Option<&[u8]>, i64, u8) = (None, 0, 0);
        let mut unknown_keys = Vec::new();
        for kv in args.chunks(2) {
            let (k, v) = (&kv[0][..], &kv[1][..]);
            // C strcmp semantics: a value with a NUL byte ends there.
            let v = match v.iter().position(|&b| b == 0) {
                Some(n) => &v[..n],
                None => v,
            };
            if k.eq_ignore_ascii_case(b"file") {
                if v.contains(&b'/') || v.contains(&b'\\') {
                    return Err(err(
                        "File can't be a path, just a filename",
                        Some(linenum),
                        Some(line),
                    ));
                }
                name = Some(v);
            } else if k.eq_ignore_ascii_case(b"seq") {
                seq = atoll(v);
            } else if k.eq_ignore_ascii_case(b"type") {
                ty = v.first().copied().unwrap_or(0);
            } else {
                unknown_keys.push(k.to_vec());
            }
        }
        let Some(name) = name.filter(|_| seq != 0 && ty != 0) else {
            return Err(invalid());
        };
        let file_type = match ty {
            b'b' => FileType::Base,
            b'h' => FileType::History,
            b'i' => FileType::Incr,
            _ => return Err(err("Unknown AOF file type", Some(linenum), Some(line))),
        };
        let entry = Entry {
            name: name.to_vec(),
            seq,
            file_type,
            line: linenum,
            unknown_keys,
        };
        match file_type {
            FileType::Base => {
                if m.base.is_some() {
                    return Err(err(
                        "Found duplicate base file information",
                        Some(linenum),
                        Some(line),
                    ));
                }
                m.base = Some(entry);
            }
            FileType::History => m.history.push(entry),
            FileType::Incr => {
                if seq <= max_incr_seq {
                    return Err(err(
                        "Found a non-monotonic sequence number",
                        Some(linenum),
                        Some(line),
                    ));
                }
                max_incr_seq = seq;
                m.incrs.push(entry);
            }
        }
    }
    if linenum == 0 {
        return Err(err("Found an empty AOF manifest", None, None));
    }
    Ok(m)
}

/// Writes a name the way the server does: bare when it needs no quoting,
/// else double-quoted with C escapes (`sdscatrepr`). A single quote is
/// quoted too (the server writes it bare): the splitter opens a quoted
/// section at a quote anywhere in a bare token, so `it's` would not read
/// back.
pub fn quote_name(name: &[u8], out: &mut Vec<u8>) {
    let needs = name.is_empty()
        || name.iter().any(|&b| {
            b == b'\\' || b == b'"' || b == b'\'' || is_space(b) || !(0x21..0x7f).contains(&b)
        });
    if !needs {
        out.extend_from_slice(name);
        return;
    }
    out.push(b'"');
    for &b in name {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// Renders a manifest line `file <name> seq <n> type <c>\n`.
pub fn format_entry(name: &[u8], seq: i64, file_type: FileType, out: &mut Vec<u8>) {
    out.extend_from_slice(b"file ");
    quote_name(name, out);
    let c = match file_type {
        FileType::Base => 'b',
        FileType::History => 'h',
        FileType::Incr => 'i',
    };
    out.extend_from_slice(format!(" seq {seq} type {c}\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_names_round_trip() {
        let m = parse(b"file \"my\\x41 incr.aof\" seq 1 type i\n").unwrap();
        assert_eq!(m.incrs[0].name, b"myA incr.aof");
        let mut out = Vec::new();
        format_entry(&m.incrs[0].name, 1, FileType::Incr, &mut out);
        assert_eq!(out, b"file \"myA incr.aof\" seq 1 type i\n");
        assert_eq!(parse(&out).unwrap().incrs[0].name, b"myA incr.aof");
    }

    #[test]
    fn server_rules() {
        let e = |d: &[u8]| parse(d).unwrap_err().message;
        assert_eq!(e(b""), "Found an empty AOF manifest");
        assert_eq!(
            e(b"file a seq 1 type i\n\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            e(b"file a seq 1 type i"),
            "The AOF manifest file contains too long line"
        );
        assert_eq!(
            e(b"file a seq 0 type i\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            e(b"file a/b seq 1 type i\n"),
            "File can't be a path, just a filename"
        );
        assert_eq!(
            e(b"file a seq 2 type i\nfile b seq 2 type i\n"),
            "Found a non-monotonic sequence number"
        );
        assert_eq!(
            e(b"file 'a'b seq 1 type i\n"),
            "Invalid AOF manifest file format"
        );
        let m =
            parse(b"# c\r\nfile a seq 1 type b x y\r\nfile h seq 9 type h\nfile c seq 3 type i\n")
                .unwrap();
        assert_eq!(m.base.as_ref().unwrap().unknown_keys, vec![b"x".to_vec()]);
        assert_eq!(m.load_order().count(), 2);
        assert_eq!(m.comments, 1);
    }
}
