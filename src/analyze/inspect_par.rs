//! `inspect` over a whole file in memory, on the rayon pool.
//!
//! The records are walked by several threads at once (see
//! [`crate::rdb::read::scan`]); each chunk of keys is counted by a fork of
//! the [`InspectSink`] (the encodings after loading need a look inside most
//! aggregates: LZF blobs decompressed and counted, hashtable layouts
//! walked), and the forks' counts are merged in file order. Records other
//! than keys (aux fields, functions, db hints) go to the main sink in file
//! order. The CRC runs as one more job. The report and the outcome are
//! those of [`InspectSink`] run through [`read`], errors included.

use super::inspect::{Inspect, InspectSink};
use crate::error::{Error, Result};
use crate::rdb::read::scan::{ChunkPass, key_error, read_chunked};
use crate::rdb::read::{Header, ReadOptions, Record, Trailer, read};
use crate::server::Target;
use crate::sink::RecordSink;

/// The chunked pass: the report, merged from forks in file order, and a
/// sink that sees the records other than keys in order, for the settings
/// (target, snapshot time) each fork starts with.
struct Pass {
    main: InspectSink,
    settings: InspectSink,
}

impl<'d> ChunkPass<'d> for Pass {
    type Snapshot = InspectSink;
    type Out = (InspectSink, Option<Error>);

    fn header(&mut self, h: &Header) -> Result<()> {
        self.main.header(h)?;
        self.settings.header(h)
    }

    fn observe(&mut self, r: &Record<'d>) -> Result<()> {
        self.settings.other_record(r);
        Ok(())
    }

    fn snapshot(&mut self) -> InspectSink {
        self.settings.fork()
    }

    fn process(mut part: InspectSink, records: &[Record<'d>]) -> Self::Out {
        for r in records {
            if let Err(e) = part.record(r) {
                let e = match r {
                    Record::Key(k) => key_error(k, e),
                    _ => e,
                };
                return (part, Some(e));
            }
        }
        (part, None)
    }

    fn absorb(&mut self, (part, err): Self::Out, _end: u64) -> Result<()> {
        self.main.absorb(part);
        err.map_or(Ok(()), Err)
    }

    fn finish(&mut self, t: &Trailer) -> Result<()> {
        self.main.finish(t)
    }
}

/// Inspects `data` (a whole RDB file) in parallel; returns the report (as
/// far as it got) and the read result, exactly as running an
/// [`InspectSink`] through [`read`] would. Salvage mode runs sequentially.
pub fn inspect(
    data: &[u8],
    opts: &ReadOptions,
    target: Option<Target>,
    now_ms: i64,
) -> (Inspect, Result<Trailer>) {
    if opts.salvage {
        return sequential(data, opts, target, now_ms);
    }
    let mut pass = Pass {
        main: InspectSink::new(data.len() as u64, target, now_ms),
        settings: InspectSink::new(data.len() as u64, target, now_ms),
    };
    let res = read_chunked(data, opts, &mut pass);
    (pass.main.report, res)
}

/// The single-threaded pass (also the authority on errors).
pub fn sequential(
    data: &[u8],
    opts: &ReadOptions,
    target: Option<Target>,
    now_ms: i64,
) -> (Inspect, Result<Trailer>) {
    let mut sink = InspectSink::new(data.len() as u64, target, now_ms);
    let res = read(data, opts, &mut sink);
    (sink.report, res)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same report and outcome as the sequential sink, on files of the
    /// corpus and on copies with bytes flipped.
    #[test]
    fn matches_the_sequential_sink() {
        let files = crate::testutil::for_each_flipped_corpus_file(
            0x9e37_79b9_7f4a_7c15,
            40,
            |path, round, d, opts| {
                let (want, wr) = sequential(d, opts, None, 1);
                let (got, gr) = inspect(d, opts, None, 1);
                // Ranges starting everywhere.
                let mut pass = Pass {
                    main: InspectSink::new(d.len() as u64, None, 1),
                    settings: InspectSink::new(d.len() as u64, None, 1),
                };
                let tr = crate::rdb::read::scan::read_in_chunks(d, opts, &mut pass, 61);
                assert_eq!(
                    serde_json::to_string(&pass.main.report).unwrap(),
                    serde_json::to_string(&want).unwrap(),
                    "{path:?} round {round}, small chunks"
                );
                assert_eq!(
                    tr.map_err(|e| e.to_string()).map(|t| t.end_offset),
                    wr.as_ref().map_err(|e| e.to_string()).map(|t| t.end_offset)
                );
                assert_eq!(
                    serde_json::to_string(&got).unwrap(),
                    serde_json::to_string(&want).unwrap(),
                    "{path:?} round {round}"
                );
                assert_eq!(
                    gr.map_err(|e| e.to_string()).map(|t| t.end_offset),
                    wr.map_err(|e| e.to_string()).map(|t| t.end_offset)
                );
            },
        );
        assert!(files >= 3, "corpus files not found");
    }
}
