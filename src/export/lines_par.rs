//! `export --format jsonl` on the rayon pool, byte for byte the output of
//! [`JsonExporter`] in [`JsonMode::Lines`].
//!
//! Rendering JSON (LZF, escaping, number formatting) is most of an export's
//! time, and every line depends only on its record and on the encoding
//! target the header settles. The file is walked in chunks by several
//! threads ([`crate::rdb::read::scan`]); each chunk's records are rendered
//! by an exporter of its own into a buffer (reused), and the buffers are
//! written in file order. Until the header line is written (it waits for
//! the aux fields, since `redis-ver` refines the target) the aux records
//! met so far travel with each chunk and are replayed, so the lines come
//! out exactly where the sequential exporter writes them. A failing record
//! stops the output after the lines before it, with the error the
//! sequential exporter gives (db, key, record offset).

use std::io::Write;

use super::json::{JsonExporter, JsonMode};
use crate::error::{Error, Result};
use crate::model::Flavor;
use crate::rdb::read::scan::{ChunkPass, Release, key_error, read_chunked};
use crate::rdb::read::{Header, ReadOptions, Record, Trailer};
use crate::server::Target;
use crate::sink::RecordSink;

/// Output buffers kept for reuse (fresh ones cost a page fault per 4 KiB).
const SPARE_BUFFERS: usize = 16;

/// Where a chunk's exporter starts from.
struct Start<'d> {
    header: Option<Header>,
    /// The encoding target once the header line is out ...
    resolved: Option<Target>,
    /// ... else the `--target` and the aux records held back so far.
    target: Option<Target>,
    held: Vec<Record<'d>>,
    buf: Vec<u8>,
}

/// The in-order side: what the header waits for, and the output.
struct Pass<'d, 'w, W: Write> {
    out: &'w mut W,
    header: Option<Header>,
    target: Option<Target>,
    resolved: Option<Target>,
    held: Vec<Record<'d>>,
    redis_ver: Option<Vec<u8>>,
    spare: Vec<Vec<u8>>,
}

/// An exporter into the chunk's buffer primed as the sequential one is at
/// the chunk's start; `true` when its first line (the header, already
/// written) is to be dropped.
fn primed<'d>(s: Start<'d>) -> Result<(JsonExporter<Vec<u8>>, bool)> {
    let Some(h) = s.header else {
        return Err(Error::sink("a record before the file header"));
    };
    let resolved = s.resolved.is_some();
    let mut ex = JsonExporter::new(s.buf, JsonMode::Lines, s.resolved.or(s.target));
    ex.header(&h)?;
    if resolved {
        ex.start_keys()?;
    } else {
        for r in &s.held {
            ex.record(r)?;
        }
    }
    Ok((ex, resolved))
}

/// Renders a chunk: its lines, and the error that stopped it (the lines
/// before it are kept).
fn render<'d>(s: Start<'d>, records: &[Record<'d>]) -> (Vec<u8>, usize, Option<Error>) {
    let (mut ex, skip_first) = match primed(s) {
        Ok(x) => x,
        Err(e) => return (Vec::new(), 0, Some(e)),
    };
    let mut failed = None;
    for r in records {
        if let Err(e) = ex.record(r) {
            failed = Some(match r {
                Record::Key(k) => key_error(k, e),
                _ => e,
            });
            break;
        }
    }
    let (buf, start) = output(ex, skip_first);
    (buf, start, failed)
}

/// The exporter's buffer, and where its own lines begin.
fn output(ex: JsonExporter<Vec<u8>>, skip_first: bool) -> (Vec<u8>, usize) {
    let buf = ex.into_inner();
    let start = if skip_first {
        buf.iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |p| p + 1)
    } else {
        0
    };
    (buf, start)
}

impl<'d, W: Write + Send> ChunkPass<'d> for Pass<'d, '_, W> {
    type Snapshot = Start<'d>;
    type Out = (Vec<u8>, usize, Option<Error>);

    fn header(&mut self, h: &Header) -> Result<()> {
        self.header = Some(*h);
        Ok(())
    }

    fn observe(&mut self, r: &Record<'d>) -> Result<()> {
        if self.resolved.is_some() {
            return Ok(());
        }
        // As the exporter does: aux fields wait with the header, anything
        // else writes it with the target they settle.
        if let Record::Aux { key, value } = r {
            let mut kb = Vec::new();
            if key.bytes(&mut kb).map_err(|p| Error::parse(p, 0))? == b"redis-ver" {
                self.redis_ver = Some(value.to_vec().map_err(|p| Error::parse(p, 0))?);
            }
            self.held.push(*r);
        } else if let Some(h) = self.header {
            self.resolved = Some(self.target.unwrap_or_else(|| {
                Target::for_writer(
                    h.version,
                    h.flavor == Flavor::Valkey,
                    self.redis_ver.as_deref(),
                )
            }));
            self.held.clear();
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Start<'d> {
        Start {
            header: self.header,
            resolved: self.resolved,
            target: self.target,
            held: if self.resolved.is_some() {
                Vec::new()
            } else {
                self.held.clone()
            },
            buf: self.spare.pop().unwrap_or_default(),
        }
    }

    fn process(s: Start<'d>, records: &[Record<'d>]) -> Self::Out {
        render(s, records)
    }

    fn absorb(&mut self, (mut buf, start, err): Self::Out, _end: u64) -> Result<()> {
        self.out.write_all(&buf[start..])?;
        if let Some(e) = err {
            return Err(e);
        }
        if self.spare.len() < SPARE_BUFFERS {
            buf.clear();
            self.spare.push(buf);
        }
        Ok(())
    }

    fn finish(&mut self, t: &Trailer) -> Result<()> {
        let s = self.snapshot();
        let (mut ex, skip_first) = primed(s)?;
        ex.finish(t)?;
        let (buf, start) = output(ex, skip_first);
        self.out.write_all(&buf[start..])?;
        self.out.flush()?;
        Ok(())
    }
}

/// Exports `data` (a whole RDB) as JSON lines to `out`, in parallel; the
/// bytes written and the result are those of [`JsonExporter`] run through
/// [`crate::rdb::read::read`] in [`JsonMode::Lines`] (salvage mode aside:
/// the caller runs that sequentially).
pub fn export_lines<W: Write + Send>(
    data: &[u8],
    opts: &ReadOptions,
    target: Option<Target>,
    out: &mut W,
    release: Option<Release<'_>>,
) -> Result<Trailer> {
    let mut pass = Pass {
        out,
        header: None,
        target,
        resolved: None,
        held: Vec::new(),
        redis_ver: None,
        spare: Vec::new(),
    };
    read_chunked(data, opts, &mut pass, release)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::read::read;

    fn sequential(data: &[u8], opts: &ReadOptions) -> (Vec<u8>, Result<Trailer>) {
        let mut out = Vec::new();
        let mut ex = JsonExporter::new(&mut out, JsonMode::Lines, None);
        let r = read(data, opts, &mut ex);
        drop(ex);
        (out, r)
    }

    /// Same bytes and same outcome as the sequential exporter, on files of
    /// the corpus and on copies with bytes flipped (errors mid-file), with
    /// chunks of every size.
    #[test]
    fn matches_the_sequential_exporter() {
        let files = crate::testutil::for_each_flipped_corpus_file(
            0x2545_f491_4f6c_dd1d,
            40,
            |path, round, d, opts| {
                let (want, wr) = sequential(d, opts);
                for chunk in [17, 500, 1 << 22] {
                    let mut got = Vec::new();
                    let mut pass = Pass {
                        out: &mut got,
                        header: None,
                        target: None,
                        resolved: None,
                        held: Vec::new(),
                        redis_ver: None,
                        spare: Vec::new(),
                    };
                    let gr =
                        crate::rdb::read::scan::read_in_chunks(d, opts, &mut pass, chunk, None);
                    assert_eq!(got, want, "{path:?} round {round} chunk {chunk}");
                    assert_eq!(
                        gr.map_err(|e| e.to_string()).map(|t| t.end_offset),
                        wr.as_ref().map_err(|e| e.to_string()).map(|t| t.end_offset)
                    );
                }
            },
        );
        assert!(files >= 3, "corpus files not found");
    }
}
