//! `export --format jsonl` on the rayon pool, byte for byte the output of
//! [`JsonExporter`] in [`JsonMode::Lines`].
//!
//! Rendering JSON (LZF, escaping, number formatting) is most of an export's
//! time, and every key's line depends only on that key. The reader thread
//! cuts the keys into batches (re-borrowed from the input, see
//! [`rebase_key`]); pool workers render each batch with their own exporter
//! into a buffer; the reader writes the buffers in file order as they
//! complete, with non-key records (header, aux, functions, trailer) rendered
//! in between by its own exporter. At most [`MAX_QUEUED`] batches wait, so
//! memory stays bounded whatever the file size. A failing key stops the
//! output after the lines before it, with the error the sequential exporter
//! gives (db, key, record offset).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Write;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rayon::Scope;

use super::json::{JsonExporter, JsonMode};
use crate::error::{Error, Result};
use crate::rdb::read::{Header, KeyRecord, ReadOptions, Record, Trailer, read};
use crate::server::Target;
use crate::sink::{Flow, RecordSink, rebase_key};

/// A batch is sent to the pool at this many value bytes...
const BATCH_BYTES: usize = 128 << 10;
/// ... or this many keys, whichever comes first.
const BATCH_KEYS: usize = 512;
/// Batches rendered or in flight before the reader helps the pool instead
/// of reading on (bounds memory to a few MB of JSON).
const MAX_QUEUED: usize = 8;

/// A rendered batch: its lines (from `start`), or the lines before a key
/// that failed and the error.
type Rendered = std::result::Result<(Vec<u8>, usize), (Vec<u8>, usize, Error)>;

/// One piece of output, in file order.
enum Chunk {
    /// Lines rendered by the reader's own exporter.
    Ready(Vec<u8>),
    /// A batch handed to the pool.
    Pending(Arc<Mutex<Option<Rendered>>>),
}

/// What the reader and the workers share: output buffers for reuse (fresh
/// ones cost a page fault per 4 KiB), and a signal that a batch finished.
#[derive(Default)]
struct Pool {
    buffers: Mutex<Vec<Vec<u8>>>,
    done: Mutex<u64>,
    finished: Condvar,
}

impl Pool {
    fn take(&self) -> Vec<u8> {
        self.buffers
            .lock()
            .ok()
            .and_then(|mut b| b.pop())
            .unwrap_or_else(|| Vec::with_capacity(BATCH_BYTES * 2))
    }
    fn give(&self, mut b: Vec<u8>) {
        b.clear();
        // A big key's buffer is not kept: memory stays a few batches.
        if b.capacity() > BATCH_BYTES * 8 {
            return;
        }
        if let Ok(mut bs) = self.buffers.lock()
            && bs.len() <= MAX_QUEUED
        {
            bs.push(b);
        }
    }
    fn signal(&self) {
        if let Ok(mut d) = self.done.lock() {
            *d += 1;
        }
        self.finished.notify_all();
    }
    /// Waits a little for some batch to finish (a timeout covers a signal
    /// sent between the caller's check and this wait).
    fn wait(&self) {
        if let Ok(d) = self.done.lock() {
            let _ = self.finished.wait_timeout(d, Duration::from_millis(2));
        }
    }
}

/// The reader-side exporter writes into this shared buffer, from which the
/// sink takes the bytes after each non-key record.
#[derive(Clone, Default)]
struct FrontBuf(Rc<RefCell<Vec<u8>>>);

impl Write for FrontBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Renders the keys of a batch as an exporter primed with the file header
/// would; the header line it writes first is skipped by `start`.
fn render(
    header: &Header,
    target: Option<Target>,
    keys: &[KeyRecord<'_>],
    buf: Vec<u8>,
) -> Rendered {
    let mut ex = JsonExporter::new(buf, JsonMode::Lines, target);
    let mut failed = None;
    if let Err(e) = ex.header(header) {
        failed = Some(e);
    } else {
        for k in keys {
            if let Err(e) = ex.record(&Record::Key(*k)) {
                // As the reader does for a sink error on a key.
                let kb = k.key.to_vec().ok();
                failed = Some(e.with_key(k.db, kb.as_deref()).with_record_start(k.offset));
                break;
            }
        }
    }
    let buf = ex.into_inner();
    let start = buf
        .iter()
        .position(|&b| b == b'\n')
        .map_or(buf.len(), |p| p + 1);
    match failed {
        None => Ok((buf, start)),
        Some(e) => Err((buf, start, e)),
    }
}

/// The reader-side sink.
struct Splitter<'s, 'scope, W: Write> {
    scope: &'s Scope<'scope>,
    data: &'scope [u8],
    target: Option<Target>,
    /// The target the front exporter settled on, once the first key came.
    resolved: Option<Target>,
    header: Option<Header>,
    front: JsonExporter<FrontBuf>,
    front_buf: FrontBuf,
    batch: Vec<KeyRecord<'scope>>,
    batch_bytes: usize,
    queue: VecDeque<Chunk>,
    pool: Arc<Pool>,
    out: &'s mut W,
    /// The first failure met while writing: output stops there.
    failed: Option<Error>,
}

impl<'scope, W: Write> Splitter<'_, 'scope, W> {
    /// Hands the current batch to the pool.
    fn flush_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let keys = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        let slot = Arc::new(Mutex::new(None));
        let (target, header) = (self.resolved.or(self.target), self.header);
        let done = Arc::clone(&slot);
        let pool = Arc::clone(&self.pool);
        self.scope.spawn(move |_| {
            let r = match header {
                Some(h) => render(&h, target, &keys, pool.take()),
                None => Err((Vec::new(), 0, Error::sink("key before the file header"))),
            };
            if let Ok(mut d) = done.lock() {
                *d = Some(r);
            }
            pool.signal();
        });
        self.queue.push_back(Chunk::Pending(slot));
    }

    /// Takes what the reader's exporter wrote as a ready chunk.
    fn take_front(&mut self) {
        let bytes = std::mem::take(&mut *self.front_buf.0.borrow_mut());
        if !bytes.is_empty() {
            self.queue.push_back(Chunk::Ready(bytes));
        }
    }

    /// Writes finished chunks from the head of the queue; with `wait`, all
    /// of them (helping the pool while the head is still being rendered),
    /// else until the queue is short enough.
    fn drain(&mut self, wait: bool) -> Result<()> {
        while self.failed.is_none() {
            let Some(head) = self.queue.front() else {
                return Ok(());
            };
            let ready = match head {
                Chunk::Ready(_) => true,
                Chunk::Pending(slot) => slot.lock().map_or(true, |r| r.is_some()),
            };
            if !ready {
                if !wait && self.queue.len() <= MAX_QUEUED {
                    return Ok(());
                }
                // Run a queued job here, or wait for the worker on the head
                // (not spinning: on a busy machine it may not be running).
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    self.pool.wait();
                }
                continue;
            }
            match self.queue.pop_front() {
                Some(Chunk::Ready(b)) => self.out.write_all(&b)?,
                Some(Chunk::Pending(slot)) => match slot.lock().ok().and_then(|mut r| r.take()) {
                    Some(Ok((buf, start))) => {
                        self.out.write_all(&buf[start..])?;
                        self.pool.give(buf);
                    }
                    Some(Err((buf, start, e))) => {
                        self.out.write_all(&buf[start..])?;
                        self.failed = Some(e);
                    }
                    None => self.failed = Some(Error::sink("a rendered batch went missing")),
                },
                None => {}
            }
        }
        Ok(())
    }
}

impl<W: Write> RecordSink for Splitter<'_, '_, W> {
    fn header(&mut self, h: &Header) -> Result<()> {
        self.header = Some(*h);
        self.front.header(h)?;
        self.take_front();
        self.drain(false)
    }

    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        if let Record::Key(k) = r {
            if self.resolved.is_none() {
                // The header (held back for `redis-ver`) goes out before the
                // first key, and fixes the target the workers render with.
                self.resolved = Some(self.front.start_keys()?);
                self.take_front();
            }
            let Some(k) = rebase_key(self.data, k) else {
                return Err(Error::sink("a key record outside the input"));
            };
            self.batch_bytes += k.value.raw.len() + k.key.len() as usize;
            self.batch.push(k);
            if self.batch.len() >= BATCH_KEYS || self.batch_bytes >= BATCH_BYTES {
                self.flush_batch();
                self.drain(false)?;
            }
        } else {
            // Keep file order: the keys before this record go first.
            self.flush_batch();
            self.front.record(r)?;
            self.take_front();
            self.drain(false)?;
        }
        Ok(if self.failed.is_some() {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }

    fn finish(&mut self, t: &Trailer) -> Result<()> {
        self.flush_batch();
        if self.failed.is_none() && !t.stopped {
            self.front.finish(t)?;
            self.take_front();
        }
        self.drain(true)
    }
}

/// Exports `data` (a whole RDB) as JSON lines to `out`, in parallel; the
/// bytes written and the result are those of [`JsonExporter`] run through
/// [`read`] in [`JsonMode::Lines`].
pub fn export_lines<W: Write + Send>(
    data: &[u8],
    opts: &ReadOptions,
    target: Option<Target>,
    out: &mut W,
) -> Result<Trailer> {
    rayon::scope(|s| {
        let front_buf = FrontBuf::default();
        let mut sink = Splitter {
            scope: s,
            data,
            target,
            resolved: None,
            header: None,
            front: JsonExporter::new(front_buf.clone(), JsonMode::Lines, target),
            front_buf,
            batch: Vec::new(),
            batch_bytes: 0,
            queue: VecDeque::new(),
            pool: Arc::new(Pool::default()),
            out,
            failed: None,
        };
        let res = read(data, opts, &mut sink);
        // On a read error `finish` did not run: write the keys before it.
        sink.flush_batch();
        let drained = sink.drain(true);
        if let Some(e) = sink.failed.take() {
            return Err(e);
        }
        let t = res?;
        drained?;
        sink.out.flush()?;
        Ok(t)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequential(data: &[u8], opts: &ReadOptions) -> (Vec<u8>, Result<Trailer>) {
        let mut out = Vec::new();
        let mut ex = JsonExporter::new(&mut out, JsonMode::Lines, None);
        let r = read(data, opts, &mut ex);
        drop(ex);
        (out, r)
    }

    /// Same bytes and same outcome as the sequential exporter, on files of
    /// the corpus and on copies with bytes flipped (errors mid-file).
    #[test]
    fn matches_the_sequential_exporter() {
        let files = crate::testutil::for_each_flipped_corpus_file(
            0x2545_f491_4f6c_dd1d,
            40,
            |path, round, d, opts| {
                let (want, wr) = sequential(d, opts);
                let mut got = Vec::new();
                let gr = export_lines(d, opts, None, &mut got);
                assert_eq!(got, want, "{path:?} round {round}");
                assert_eq!(
                    gr.map_err(|e| e.to_string()).map(|t| t.end_offset),
                    wr.map_err(|e| e.to_string()).map(|t| t.end_offset)
                );
            },
        );
        assert!(files >= 3, "corpus files not found");
    }
}
