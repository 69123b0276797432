//! Parquet export: one row per key (db, key, type, encoding, TTL, the
//! memory model's estimate, element count, serialized size, LRU/LFU,
//! cluster slot, prefixes), so the keyspaces of many snapshots can be
//! queried together in DuckDB, Spark or ClickHouse. Schema and example
//! queries: `formats/parquet.md`.
//!
//! Rows come from [`scan`] (the analyzers' pass: memory estimated in
//! parallel, in file order) and are buffered column by column; every
//! `row_group_rows` rows become one row group, so memory stays bounded by
//! one row group per input whatever the keyspace size. Several inputs are
//! scanned in parallel (rayon) and their row groups share one file, told
//! apart by a `file` column.

use std::io::Write;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DataType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::parser::parse_message_type;
use rayon::prelude::*;

use crate::analyze::facts::{KeyFacts, ModelConfig, scan};
use crate::analyze::prefix::Splitter;
use crate::cluster::slot::key_slot;
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::rdb::read::{ReadOptions, Record, read};
use crate::sink::{Flow, FnSink};

/// How the export runs.
#[derive(Debug, Clone)]
pub struct ParquetOptions {
    /// Rows per row group (bounds memory: one group is buffered per input).
    pub row_group_rows: usize,
    /// How keys are cut into the `prefix1..prefixN` columns (N = depth).
    pub split: Splitter,
    /// The memory model's target and thresholds.
    pub model: ModelConfig,
    /// Reader options (checksum verification).
    pub read: ReadOptions,
    /// Key selection and database mapping.
    pub filter: Filter,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            row_group_rows: 65_536,
            split: Splitter::default(),
            model: ModelConfig::default(),
            read: ReadOptions::default(),
            filter: Filter::default(),
        }
    }
}

/// One input: its name (the `file` column) and its RDB bytes.
#[derive(Debug, Clone, Copy)]
pub struct ParquetInput<'a> {
    /// Shown in the `file` column (written when there are several inputs).
    pub name: &'a str,
    /// The RDB.
    pub data: &'a [u8],
}

/// What the export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParquetStats {
    /// Rows (keys) written.
    pub rows: u64,
    /// Row groups written.
    pub row_groups: u64,
    /// Keys the filter left out.
    pub filtered: u64,
}

fn pq(e: ParquetError) -> Error {
    Error::sink(format!("parquet: {e}"))
}

/// The Parquet schema for `prefixes` prefix columns, with or without the
/// `file` column. Integers are plain INT64/INT32 (no logical timestamp
/// type) so every engine reads them alike.
pub fn schema(with_file: bool, prefixes: usize) -> String {
    let mut s = String::from("message rdbtool_keys {\n");
    if with_file {
        s.push_str("  required binary file (STRING);\n");
    }
    s.push_str(
        "  required int64 db;
  required binary key;
  optional binary key_utf8 (STRING);
  required binary type (STRING);
  required binary encoding (STRING);
  optional int64 expire_at_ms;
  optional int64 ttl_ms;
  required int64 memory_bytes;
  required int64 elements;
  required int64 largest_element;
  required int64 serialized_bytes;
  optional int64 idle_s;
  optional int32 freq;
  required int32 slot;
",
    );
    for i in 1..=prefixes {
        s.push_str(&format!("  optional binary prefix{i} (STRING);\n"));
    }
    s.push('}');
    s
}

/// An optional column: values of the non-null rows and one definition
/// level per row (1 = present, 0 = null), as the column writer takes them.
#[derive(Default)]
struct Opt<T> {
    values: Vec<T>,
    defs: Vec<i16>,
}

impl<T> Opt<T> {
    fn push(&mut self, v: Option<T>) {
        self.defs.push(v.is_some() as i16);
        if let Some(v) = v {
            self.values.push(v);
        }
    }
    fn clear(&mut self) {
        self.values.clear();
        self.defs.clear();
    }
}

/// A row group being built, column by column.
#[derive(Default)]
struct Rows {
    db: Vec<i64>,
    key: Vec<ByteArray>,
    key_utf8: Opt<ByteArray>,
    dtype: Vec<ByteArray>,
    encoding: Vec<ByteArray>,
    expire_at_ms: Opt<i64>,
    ttl_ms: Opt<i64>,
    memory_bytes: Vec<i64>,
    elements: Vec<i64>,
    largest_element: Vec<i64>,
    serialized_bytes: Vec<i64>,
    idle_s: Opt<i64>,
    freq: Opt<i32>,
    slot: Vec<i32>,
    prefixes: Vec<Opt<ByteArray>>,
}

/// Saturating u64 → INT64 (counts and sizes never reach 2^63 in practice;
/// a hostile file must not wrap to negative).
fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn text(s: &str) -> ByteArray {
    ByteArray::from(s.as_bytes().to_vec())
}

impl Rows {
    fn new(prefixes: usize) -> Self {
        Rows {
            prefixes: (0..prefixes).map(|_| Opt::default()).collect(),
            ..Rows::default()
        }
    }

    fn len(&self) -> usize {
        self.db.len()
    }

    /// Appends one key; `path`/`cuts` are scratch for the splitter.
    fn push(
        &mut self,
        f: &KeyFacts<'_>,
        db: u64,
        ctime_ms: Option<i64>,
        split: &Splitter,
        path: &mut Vec<u8>,
        cuts: &mut Vec<usize>,
    ) {
        let key: &[u8] = &f.key;
        self.db.push(i64_of(db));
        self.key.push(ByteArray::from(key.to_vec()));
        self.key_utf8.push(
            std::str::from_utf8(key)
                .ok()
                .map(|s| ByteArray::from(s.as_bytes().to_vec())),
        );
        self.dtype.push(text(f.dtype.name()));
        self.encoding.push(text(f.mem.encoding.name()));
        self.expire_at_ms.push(f.expire_ms);
        self.ttl_ms
            .push(f.expire_ms.zip(ctime_ms).map(|(e, c)| e.saturating_sub(c)));
        self.memory_bytes.push(i64_of(f.mem.bytes));
        self.elements.push(i64_of(f.mem.elements));
        self.largest_element.push(i64_of(f.mem.largest_element));
        self.serialized_bytes.push(i64_of(f.rdb_bytes));
        self.idle_s.push(f.idle_s.map(i64_of));
        self.freq.push(f.freq.map(i32::from));
        self.slot.push(i32::from(key_slot(key)));
        split.path(key, path, cuts);
        for (i, col) in self.prefixes.iter_mut().enumerate() {
            // Prefix paths are labels for grouping: lossy UTF-8 is enough
            // (the exact bytes stay in `key`).
            col.push(
                cuts.get(i)
                    .map(|&c| text(&String::from_utf8_lossy(&path[..c]))),
            );
        }
    }

    fn clear(&mut self) {
        self.db.clear();
        self.key.clear();
        self.key_utf8.clear();
        self.dtype.clear();
        self.encoding.clear();
        self.expire_at_ms.clear();
        self.ttl_ms.clear();
        self.memory_bytes.clear();
        self.elements.clear();
        self.largest_element.clear();
        self.serialized_bytes.clear();
        self.idle_s.clear();
        self.freq.clear();
        self.slot.clear();
        self.prefixes.iter_mut().for_each(Opt::clear);
    }

    /// Writes the buffered rows as one row group (in schema order).
    fn write<W: Write + Send>(
        &self,
        w: &mut SerializedFileWriter<W>,
        file: Option<&str>,
    ) -> Result<()> {
        let mut g = w.next_row_group().map_err(pq)?;
        if let Some(name) = file {
            let names = vec![text(name); self.len()];
            column::<_, ByteArrayType>(&mut g, &names, None)?;
        }
        column::<_, Int64Type>(&mut g, &self.db, None)?;
        column::<_, ByteArrayType>(&mut g, &self.key, None)?;
        opt_column::<_, ByteArrayType>(&mut g, &self.key_utf8)?;
        column::<_, ByteArrayType>(&mut g, &self.dtype, None)?;
        column::<_, ByteArrayType>(&mut g, &self.encoding, None)?;
        opt_column::<_, Int64Type>(&mut g, &self.expire_at_ms)?;
        opt_column::<_, Int64Type>(&mut g, &self.ttl_ms)?;
        column::<_, Int64Type>(&mut g, &self.memory_bytes, None)?;
        column::<_, Int64Type>(&mut g, &self.elements, None)?;
        column::<_, Int64Type>(&mut g, &self.largest_element, None)?;
        column::<_, Int64Type>(&mut g, &self.serialized_bytes, None)?;
        opt_column::<_, Int64Type>(&mut g, &self.idle_s)?;
        opt_column::<_, Int32Type>(&mut g, &self.freq)?;
        column::<_, Int32Type>(&mut g, &self.slot, None)?;
        for p in &self.prefixes {
            opt_column::<_, ByteArrayType>(&mut g, p)?;
        }
        g.close().map_err(pq)?;
        Ok(())
    }
}

/// Writes the next column of `g`: `values` of the non-null rows, `defs`
/// the definition levels of an optional column.
fn column<W: Write + Send, T: DataType>(
    g: &mut SerializedRowGroupWriter<'_, W>,
    values: &[T::T],
    defs: Option<&[i16]>,
) -> Result<()> {
    let mut c = g
        .next_column()
        .map_err(pq)?
        .ok_or_else(|| Error::sink("parquet: more columns than the schema"))?;
    c.typed::<T>().write_batch(values, defs, None).map_err(pq)?;
    c.close().map_err(pq)
}

fn opt_column<W: Write + Send, T: DataType>(
    g: &mut SerializedRowGroupWriter<'_, W>,
    col: &Opt<T::T>,
) -> Result<()> {
    column::<W, T>(g, &col.values, Some(&col.defs))
}

/// The snapshot time (`ctime` aux field, Unix ms), read from the aux
/// fields before the first key; `ttl_ms` is measured from it.
pub fn snapshot_ctime_ms(data: &[u8]) -> Option<i64> {
    let mut ctime = None;
    let mut buf = Vec::new();
    let mut sink = FnSink(|r: &Record<'_>| {
        Ok(match r {
            Record::Aux { key, value } => {
                if key.bytes(&mut buf).ok() == Some(b"ctime".as_slice()) {
                    ctime = value
                        .bytes(&mut buf)
                        .ok()
                        .and_then(|v| std::str::from_utf8(v).ok())
                        .and_then(|v| v.parse::<i64>().ok())
                        .map(|s| s.saturating_mul(1000));
                }
                Flow::Continue
            }
            Record::ModuleAux { .. } | Record::Vendor { .. } => Flow::Continue,
            _ => Flow::Stop,
        })
    });
    let opts = ReadOptions {
        verify_checksum: false,
        ..ReadOptions::default()
    };
    // A damaged file fails later, in the real pass, with its error.
    let _ = read(data, &opts, &mut sink);
    ctime
}

/// Scans one input into row groups of `w`.
fn export_one<W: Write + Send>(
    input: &ParquetInput<'_>,
    with_file: bool,
    opts: &ParquetOptions,
    w: &Mutex<SerializedFileWriter<W>>,
    stats: &Stats,
) -> Result<()> {
    let ctime_ms = snapshot_ctime_ms(input.data);
    let split = &opts.split;
    let mut rows = Rows::new(split.depth);
    let (mut path, mut cuts) = (Vec::new(), Vec::new());
    let file = with_file.then_some(input.name);
    let flush = |rows: &mut Rows| -> Result<()> {
        if rows.len() == 0 {
            return Ok(());
        }
        let mut w = w
            .lock()
            .map_err(|_| Error::sink("parquet: a writer thread failed"))?;
        rows.write(&mut w, file)?;
        stats.rows.fetch_add(rows.len() as u64, Ordering::Relaxed);
        stats.groups.fetch_add(1, Ordering::Relaxed);
        rows.clear();
        Ok(())
    };
    let f = &opts.filter;
    scan(input.data, &opts.read, &opts.model, None, |k| {
        if !f.selects(k.db, &k.key, k.dtype, k.expire_ms) {
            stats.filtered.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        rows.push(k, f.map_db(k.db), ctime_ms, split, &mut path, &mut cuts);
        if rows.len() >= opts.row_group_rows.max(1) {
            flush(&mut rows)?;
        }
        Ok(())
    })?;
    flush(&mut rows)
}

#[derive(Default)]
struct Stats {
    rows: AtomicU64,
    groups: AtomicU64,
    filtered: AtomicU64,
}

/// Writes one Parquet file of every key of `inputs` into `out` (pass
/// `&mut` to keep the writer, e.g. to commit or abort it). With several inputs, they are
/// scanned in parallel and a `file` column names each row's input; the
/// first failing input aborts the export (its error names the input).
pub fn export<W: Write + Send>(
    out: W,
    inputs: &[ParquetInput<'_>],
    opts: &ParquetOptions,
) -> Result<ParquetStats> {
    let with_file = inputs.len() > 1;
    let schema = parse_message_type(&schema(with_file, opts.split.depth)).map_err(pq)?;
    // Snappy: fast, pure Rust, read by every engine; dictionaries pay off
    // on the repetitive text columns (type, encoding, prefixes, file).
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("rdbtool {}", env!("CARGO_PKG_VERSION")))
        .build();
    let w = SerializedFileWriter::new(out, Arc::new(schema), Arc::new(props)).map_err(pq)?;
    let w = Mutex::new(w);
    let stats = Stats::default();
    inputs.par_iter().with_max_len(1).try_for_each(|i| {
        export_one(i, with_file, opts, &w, &stats).map_err(|e| e.with_path(i.name))
    })?;
    let w = w
        .into_inner()
        .map_err(|_| Error::sink("parquet: a writer thread failed"))?;
    w.into_inner().map_err(pq)?.flush()?;
    Ok(ParquetStats {
        rows: stats.rows.into_inner(),
        row_groups: stats.groups.into_inner(),
        filtered: stats.filtered.into_inner(),
    })
}
