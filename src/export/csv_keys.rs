//! CSV export of key contents in the layout `rdbtool import` reads
//! (`formats/csv-keys.md`): strings, hashes, lists, sets and zsets, one row
//! per element. Streams and module values have no row form; they are
//! counted in [`CsvKeys::skipped`] and reported by the caller.

use std::io::Write;

use crate::cluster::slot::key_slot;
use crate::error::{Error, Result};
use crate::model::DataType;
use crate::rdb::read::prim::RdbStr;
use crate::rdb::read::{Record, Scratch, Trailer};
use crate::rdb::write::prim::score_text;
use crate::sink::{Flow, RecordSink};

/// The CSV-writing sink.
pub struct CsvKeys<W: Write> {
    out: csv::Writer<W>,
    scratch: Scratch,
    kbuf: Vec<u8>,
    text: Vec<u8>,
    /// Keys that have no CSV form (streams, modules).
    pub skipped: u64,
    /// Keys written.
    pub keys: u64,
}

impl<W: Write> CsvKeys<W> {
    /// Writes the header row.
    pub fn new(out: W) -> Result<Self> {
        let mut out = csv::Writer::from_writer(out);
        out.write_record([
            "db",
            "key",
            "type",
            "field",
            "value",
            "expire_at_ms",
            "field_expire_at_ms",
            "slot",
        ])
        .map_err(csv_err)?;
        Ok(CsvKeys {
            out,
            scratch: Scratch::default(),
            kbuf: Vec::new(),
            text: Vec::new(),
            skipped: 0,
            keys: 0,
        })
    }

    /// Flushes and returns the writer.
    pub fn into_inner(self) -> Result<W> {
        self.out
            .into_inner()
            .map_err(|e| Error::from(e.into_error()))
    }
}

fn csv_err(e: csv::Error) -> Error {
    // The message is csv's own text, not a dump of its error value.
    let text = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::from(io),
        _ => Error::sink(format!("CSV: {text}")),
    }
}

impl<W: Write> RecordSink for CsvKeys<W> {
    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        let Record::Key(k) = r else {
            return Ok(Flow::Continue);
        };
        let t = k.value.data_type();
        if !matches!(
            t,
            DataType::String | DataType::List | DataType::Set | DataType::Zset | DataType::Hash
        ) {
            self.skipped += 1;
            return Ok(Flow::Continue);
        }
        let key = match k.key {
            RdbStr::Raw(b) => b.to_vec(),
            other => other.to_vec().map_err(|p| Error::parse(p, k.offset))?,
        };
        let db = itoa::Buffer::new().format(k.db).to_string();
        let exp = k.expire_ms.map(|e| e.to_string()).unwrap_or_default();
        let name = t.name().as_bytes();
        let slot = itoa::Buffer::new().format(key_slot(&key)).to_string();
        let out = &mut self.out;
        let mut row = |field: &[u8], value: &[u8], fexp: &[u8]| -> Result<()> {
            out.write_record([
                db.as_bytes(),
                &key,
                name,
                field,
                value,
                exp.as_bytes(),
                fexp,
                slot.as_bytes(),
            ])
            .map_err(csv_err)
        };
        match t {
            DataType::String => {
                let s = k.value.as_string()?;
                let b = s
                    .bytes(&mut self.kbuf)
                    .map_err(|p| Error::parse(p, k.offset))?;
                row(b"", b, b"")?;
            }
            DataType::List | DataType::Set => {
                k.value.for_each_elem(&mut self.scratch, |e, _| {
                    self.text.clear();
                    e.append_to(&mut self.text);
                    row(b"", &self.text, b"")
                })?;
            }
            DataType::Zset => {
                k.value.for_each_scored(&mut self.scratch, |m, s| {
                    self.text.clear();
                    score_text(&mut self.text, s);
                    row(&m.to_vec(), &self.text, b"")
                })?;
            }
            _ => {
                k.value.for_each_field(&mut self.scratch, |f, v, ttl| {
                    let fe = ttl.map(|t| t.to_string()).unwrap_or_default();
                    row(&f.to_vec(), &v.to_vec(), fe.as_bytes())
                })?;
            }
        }
        self.keys += 1;
        Ok(Flow::Continue)
    }

    fn finish(&mut self, _t: &Trailer) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}
