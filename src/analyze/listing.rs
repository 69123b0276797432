//! The per-key memory listing of `rdbtool memory`: one line per key (db,
//! slot, type, encoding, modelled bytes, overhead, elements, largest
//! element, expiry, key) as aligned text, JSON lines or redis-rdb-tools'
//! memory CSV. On the chunked pass each chunk's lines are rendered into a
//! buffer of their own by a worker and written in file order.

use std::io::Write;

use super::facts::{Analysis, FileFacts, KeyFacts};
use super::report::{iso_ms, target_name};
use crate::cluster::slot::key_slot;
use crate::error::{Error, Result};
use crate::export::json::write_bytes;

/// Listing formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingFormat {
    /// Aligned columns, with a header line and a total.
    Table,
    /// One JSON object per key.
    Jsonl,
    /// redis-rdb-tools' memory CSV columns.
    Csv,
}

/// Chunk buffers kept for reuse (fresh ones cost a page fault per 4 KiB).
const SPARE_BUFFERS: usize = 16;

/// Expiry the way redis-rdb-tools prints it (Python `isoformat()`).
fn rdbtools_expiry(ms: i64) -> String {
    let mut s = iso_ms(ms);
    s.pop(); // 'Z'
    if ms.rem_euclid(1000) != 0 {
        s.push_str(&format!(".{:03}000", ms.rem_euclid(1000)));
    }
    s
}

/// Printable key text: UTF-8 as is, other bytes as `\xNN`.
fn key_text(k: &[u8]) -> String {
    match std::str::from_utf8(k) {
        Ok(s) => s.to_string(),
        Err(_) => k
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    (b as char).to_string()
                } else {
                    format!("\\x{b:02x}")
                }
            })
            .collect(),
    }
}

fn csv_err(e: csv::Error) -> Error {
    Error::sink(e.to_string())
}

/// Where lines go: a plain writer, or a CSV writer over one.
enum Lines<W: Write> {
    Text(ListingFormat, W),
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> Lines<W> {
    fn new(format: ListingFormat, out: W) -> Self {
        match format {
            ListingFormat::Csv => Lines::Csv(Box::new(csv::Writer::from_writer(out))),
            f => Lines::Text(f, out),
        }
    }

    fn header(&mut self) -> Result<()> {
        match self {
            Lines::Text(ListingFormat::Table, out) => writeln!(
                out,
                "{:>3} {:>5} {:<6} {:<10} {:>12} {:>9} {:>10} {:>10} {:<20} key",
                "db",
                "slot",
                "type",
                "encoding",
                "bytes",
                "overhead",
                "elements",
                "largest",
                "expiry"
            )?,
            Lines::Text(..) => {}
            Lines::Csv(w) => w
                .write_record([
                    "database",
                    "type",
                    "key",
                    "size_in_bytes",
                    "encoding",
                    "num_elements",
                    "len_largest_element",
                    "expiry",
                    "slot",
                ])
                .map_err(csv_err)?,
        }
        Ok(())
    }

    fn key(&mut self, k: &KeyFacts<'_>) -> Result<()> {
        let m = &k.mem;
        let slot = key_slot(&k.key);
        match self {
            Lines::Text(ListingFormat::Jsonl, out) => {
                write!(out, "{{\"db\":{},\"key\":", k.db)?;
                write_bytes(out, &k.key)?;
                write!(
                    out,
                    ",\"slot\":{slot},\"type\":\"{}\",\"encoding\":\"{}\",\"bytes\":{},\"overhead\":{},\"elements\":{},\"largest_element\":{},\"expire_at_ms\":",
                    k.dtype.name(),
                    m.encoding.name(),
                    m.bytes,
                    m.overhead,
                    m.elements,
                    m.largest_element
                )?;
                match k.expire_ms {
                    Some(e) => writeln!(out, "{e}}}")?,
                    None => writeln!(out, "null}}")?,
                }
            }
            Lines::Text(_, out) => {
                writeln!(
                    out,
                    "{:>3} {:>5} {:<6} {:<10} {:>12} {:>9} {:>10} {:>10} {:<20} {}",
                    k.db,
                    slot,
                    k.dtype.name(),
                    m.encoding.name(),
                    m.bytes,
                    m.overhead,
                    m.elements,
                    m.largest_element,
                    k.expire_ms.map(iso_ms).unwrap_or_default(),
                    key_text(&k.key)
                )?;
            }
            Lines::Csv(w) => {
                w.write_record([
                    itoa::Buffer::new().format(k.db).as_bytes(),
                    k.dtype.name().as_bytes(),
                    &k.key,
                    itoa::Buffer::new().format(m.bytes).as_bytes(),
                    m.encoding.name().as_bytes(),
                    itoa::Buffer::new().format(m.elements).as_bytes(),
                    itoa::Buffer::new().format(m.largest_element).as_bytes(),
                    k.expire_ms
                        .map(rdbtools_expiry)
                        .unwrap_or_default()
                        .as_bytes(),
                    itoa::Buffer::new().format(slot).as_bytes(),
                ])
                .map_err(csv_err)?;
            }
        }
        Ok(())
    }

    fn into_inner(self) -> Result<W> {
        match self {
            Lines::Text(_, out) => Ok(out),
            Lines::Csv(w) => w.into_inner().map_err(|e| Error::sink(e.to_string())),
        }
    }
}

/// Bytes of lines rendered before they go to the output.
const FLUSH_AT: usize = 64 << 10;

/// The listing: lines to `W`, with the totals the table ends with.
pub struct Listing<W: Write> {
    format: ListingFormat,
    out: W,
    /// Lines of the sequential pass not yet written.
    pending: Option<Lines<Vec<u8>>>,
    keys: u64,
    bytes: u64,
    spare: Vec<Vec<u8>>,
}

/// A chunk's lines and totals.
pub struct ListingChunk {
    lines: Lines<Vec<u8>>,
    keys: u64,
    bytes: u64,
}

impl<W: Write> Listing<W> {
    /// A listing into `out`; writes the header line, if the format has one.
    pub fn new(out: W, format: ListingFormat) -> Result<Self> {
        let mut lines = Lines::new(format, Vec::new());
        lines.header()?;
        Ok(Listing {
            format,
            out,
            pending: Some(lines),
            keys: 0,
            bytes: 0,
            spare: Vec::new(),
        })
    }

    /// Lists one key (the sequential pass).
    pub fn key(&mut self, k: &KeyFacts<'_>) -> Result<()> {
        self.keys += 1;
        self.bytes += k.mem.bytes;
        let format = self.format;
        let lines = self
            .pending
            .get_or_insert_with(|| Lines::new(format, Vec::new()));
        lines.key(k)?;
        let held = match lines {
            Lines::Text(_, b) => b.len(),
            Lines::Csv(w) => w.get_ref().len(),
        };
        if held < FLUSH_AT {
            return Ok(());
        }
        self.write_pending()
    }

    /// Writes the lines rendered so far.
    fn write_pending(&mut self) -> Result<()> {
        if let Some(lines) = self.pending.take() {
            let mut buf = lines.into_inner()?;
            self.out.write_all(&buf)?;
            buf.clear();
            self.pending = Some(Lines::new(self.format, buf));
        }
        Ok(())
    }

    /// Writes the total line (table) and flushes.
    pub fn finish(mut self, file: &FileFacts) -> Result<()> {
        self.write_pending()?;
        if self.format == ListingFormat::Table {
            writeln!(
                self.out,
                "total: {} keys, {} bytes (target {})",
                self.keys,
                self.bytes,
                target_name(file.target)
            )?;
        }
        self.out.flush()?;
        Ok(())
    }
}

impl<'a, W: Write> Analysis<'a> for Listing<W> {
    type Chunk = ListingChunk;

    fn chunk(&mut self) -> ListingChunk {
        ListingChunk {
            lines: Lines::new(self.format, self.spare.pop().unwrap_or_default()),
            keys: 0,
            bytes: 0,
        }
    }

    fn add(c: &mut ListingChunk, k: &KeyFacts<'a>) -> Result<()> {
        c.keys += 1;
        c.bytes += k.mem.bytes;
        c.lines.key(k)
    }

    fn merge(&mut self, c: ListingChunk) -> Result<()> {
        // The header goes first.
        self.write_pending()?;
        let mut buf = c.lines.into_inner()?;
        self.keys += c.keys;
        self.bytes += c.bytes;
        self.out.write_all(&buf)?;
        if self.spare.len() < SPARE_BUFFERS {
            buf.clear();
            self.spare.push(buf);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::facts::{ModelConfig, scan, scan_in_chunks};
    use super::*;
    use crate::analyze::facts::ANALYSIS_CHUNK as CHUNK;
    use crate::rdb::read::ReadOptions;

    /// The listing of the chunked pass is byte for byte the sequential
    /// one, in every format, on every RDB of both corpora (or both fail
    /// alike).
    #[test]
    fn chunked_listing_is_the_sequential_one() {
        let files = crate::testutil::corpus_rdb_files();
        assert!(files.len() >= 10, "corpus files not found");
        let (opts, cfg) = (ReadOptions::default(), ModelConfig::default());
        for f in &files {
            let data = std::fs::read(f).unwrap();
            for format in [
                ListingFormat::Table,
                ListingFormat::Jsonl,
                ListingFormat::Csv,
            ] {
                let mut want = Vec::new();
                let mut w = Listing::new(&mut want, format).unwrap();
                let wr = scan(&data, &opts, &cfg, None, |k| w.key(k))
                    .and_then(|ff| w.finish(&ff))
                    .map_err(|e| e.to_string());
                for chunk in [61, 1000, CHUNK] {
                    let mut got = Vec::new();
                    let mut w = Listing::new(&mut got, format).unwrap();
                    let gr = scan_in_chunks(&data, &opts, &cfg, None, &mut w, chunk, None)
                        .and_then(|ff| w.finish(&ff))
                        .map_err(|e| e.to_string());
                    assert_eq!(gr, wr, "{f:?} {format:?} chunk {chunk}");
                    if wr.is_ok() {
                        assert!(
                            got == want,
                            "{f:?} {format:?} chunk {chunk}: listings differ"
                        );
                    }
                }
            }
        }
    }
}
