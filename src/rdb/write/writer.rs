//! The RDB writer: streams records into a file of a chosen version —
//! header, AUX fields, functions, SELECTDB + RESIZEDB, keys with their
//! EXPIRETIME_MS / IDLE / FREQ prefixes, EOF and the CRC-64 trailer. The
//! mirror of [`crate::rdb::read::reader`].

use std::io::Write;

use super::prim::{put_len, put_ms};
use super::value::{ValueEncoder, choose_layout, type_byte};
use super::version::RdbVersion;
use crate::crc::Crc64;
use crate::error::{Error, Result};
use crate::model::RdbLayout;
use crate::model::owned::OwnedKey;

const OP_AUX: u8 = 0xfa;
const OP_RESIZEDB: u8 = 0xfb;
const OP_EXPIRETIME_MS: u8 = 0xfc;
const OP_SELECTDB: u8 = 0xfe;
const OP_EOF: u8 = 0xff;
const OP_IDLE: u8 = 0xf8;
const OP_FREQ: u8 = 0xf9;
const OP_FUNCTION2: u8 = 0xf5;
const OP_MODULE_AUX: u8 = 0xf7;

/// Per-key metadata that travels outside the value.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyMeta {
    /// Database.
    pub db: u64,
    /// Absolute expiry, Unix ms.
    pub expire_ms: Option<i64>,
    /// LRU idle seconds (written for RDB 9+).
    pub idle_s: Option<u64>,
    /// LFU counter (written for RDB 9+).
    pub freq: Option<u8>,
}

/// True when a value stored in `layout` can be copied byte for byte into a
/// file of version `t`: the target loads that type byte with the same
/// meaning (not a pre-release, vendor or other-flavor layout).
pub fn copies_verbatim(layout: RdbLayout, t: RdbVersion) -> bool {
    use RdbLayout::*;
    !matches!(
        layout,
        HashMetadataPreGa
            | HashListpackExPreGa
            | DragonflyHashWithExpiry
            | DragonflySetWithExpiry
            | KeydbCron
            | Array
    ) && (layout != ValkeyHash2 || t.has_valkey_hfe())
        && t.accepts_type(type_byte(layout))
}

/// Streams an RDB file into `W`, computing the CRC-64 as it goes.
pub struct RdbWriter<W: Write> {
    out: W,
    crc: Crc64,
    version: RdbVersion,
    enc: ValueEncoder,
    buf: Vec<u8>,
    db: Option<u64>,
    keys: u64,
    bytes: u64,
}

impl<W: Write> RdbWriter<W> {
    /// Starts a file of `version`, writing its magic. `compress` enables
    /// LZF for strings over 20 bytes (`rdbcompression yes`).
    pub fn new(out: W, version: RdbVersion, compress: bool) -> Result<Self> {
        let mut w = RdbWriter {
            out,
            crc: Crc64::default(),
            version,
            enc: ValueEncoder::new(compress),
            buf: Vec::with_capacity(1 << 16),
            db: None,
            keys: 0,
            bytes: 0,
        };
        w.buf.extend_from_slice(version.magic().as_bytes());
        w.flush_buf()?;
        Ok(w)
    }

    /// The version being written.
    pub fn version(&self) -> RdbVersion {
        self.version
    }

    /// Keys written so far.
    pub fn keys(&self) -> u64 {
        self.keys
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The value encoder (e.g. to change the quicklist node budget).
    pub fn encoder(&mut self) -> &mut ValueEncoder {
        &mut self.enc
    }

    fn flush_buf(&mut self) -> Result<()> {
        self.crc.update(&self.buf);
        self.out.write_all(&self.buf)?;
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Writes an AUX field (RDB 7+; ignored for older versions, which have
    /// no AUX opcode).
    pub fn aux(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        if !self.version.has_aux() {
            return Ok(());
        }
        self.buf.push(OP_AUX);
        let mut b = std::mem::take(&mut self.buf);
        self.enc.strs.put(&mut b, key);
        self.enc.strs.put(&mut b, value);
        self.buf = b;
        self.flush_buf()
    }

    /// Writes the AUX fields a server writes: server version, bits, ctime,
    /// used memory (0: unknown).
    pub fn default_aux(&mut self, ctime_s: i64) -> Result<()> {
        let ver_key: &[u8] = if self.version.has_valkey_hfe() {
            b"valkey-ver"
        } else {
            b"redis-ver"
        };
        self.aux(ver_key, self.version.server_version().as_bytes())?;
        self.aux(b"redis-bits", b"64")?;
        self.aux(b"ctime", itoa::Buffer::new().format(ctime_s).as_bytes())?;
        self.aux(b"used-mem", b"0")
    }

    /// Writes a function library (FUNCTION2). RDB ≤ 9 cannot hold one; the
    /// caller decides (see [`super::version::Loss::Functions`]).
    pub fn function(&mut self, code: &[u8]) -> Result<()> {
        if !self.version.has_listpacks() {
            return Err(Error::sink(format!(
                "RDB {} cannot hold functions (RDB 10+)",
                self.version
            )));
        }
        self.buf.push(OP_FUNCTION2);
        let mut b = std::mem::take(&mut self.buf);
        self.enc.strs.put(&mut b, code);
        self.buf = b;
        self.flush_buf()
    }

    /// Writes a MODULE_AUX record from its bytes after the opcode.
    pub fn module_aux(&mut self, raw: &[u8]) -> Result<()> {
        if !self.version.has_rdb9() {
            return Err(Error::sink(format!(
                "RDB {} cannot hold module aux data (RDB 9+)",
                self.version
            )));
        }
        self.buf.push(OP_MODULE_AUX);
        self.buf.extend_from_slice(raw);
        self.flush_buf()
    }

    /// Switches to `db`, with RESIZEDB hints (keys, expires) when given.
    pub fn select_db(&mut self, db: u64, hints: Option<(u64, u64)>) -> Result<()> {
        self.buf.push(OP_SELECTDB);
        put_len(&mut self.buf, db);
        if let Some((keys, expires)) = hints
            && self.version.has_aux()
        {
            self.buf.push(OP_RESIZEDB);
            put_len(&mut self.buf, keys);
            put_len(&mut self.buf, expires);
        }
        self.db = Some(db);
        self.flush_buf()
    }

    fn prefix(&mut self, m: &KeyMeta) -> Result<()> {
        if self.db != Some(m.db) {
            self.select_db(m.db, None)?;
        }
        if let Some(ms) = m.expire_ms {
            self.buf.push(OP_EXPIRETIME_MS);
            put_ms(&mut self.buf, ms);
        }
        if self.version.has_rdb9() {
            if let Some(idle) = m.idle_s {
                self.buf.push(OP_IDLE);
                put_len(&mut self.buf, idle);
            }
            if let Some(f) = m.freq {
                self.buf.push(OP_FREQ);
                self.buf.push(f);
            }
        }
        Ok(())
    }

    /// Writes a key whose value is already serialized in a layout the target
    /// accepts (see [`copies_verbatim`]): the fast path of conversions.
    pub fn raw_key(&mut self, m: &KeyMeta, key: &[u8], type_byte: u8, raw: &[u8]) -> Result<()> {
        self.prefix(m)?;
        self.buf.push(type_byte);
        let mut b = std::mem::take(&mut self.buf);
        self.enc.strs.put(&mut b, key);
        self.buf = b;
        self.flush_buf()?;
        self.crc.update(raw);
        self.out.write_all(raw)?;
        self.bytes += raw.len() as u64;
        self.keys += 1;
        Ok(())
    }

    /// Writes a key, choosing the layout the target's server expects (or
    /// the key's source layout when the target accepts it). The key must
    /// fit the target (see [`super::downgrade::adapt`]).
    pub fn key(&mut self, k: &OwnedKey) -> Result<()> {
        let err = |msg: String| Error::sink(msg).with_key(k.db, Some(&k.key));
        if k.value.is_empty() {
            return Err(err("empty aggregate: servers refuse or skip it".into()));
        }
        let layout = choose_layout(&k.value, self.version, k.source_type)
            .map_err(|p| err(format!("cannot write for RDB {}: {p}", self.version)))?;
        let m = KeyMeta {
            db: k.db,
            expire_ms: k.expire_ms,
            idle_s: k.idle_s,
            freq: k.freq,
        };
        let mark = self.buf.len();
        self.prefix(&m)?;
        self.buf.push(type_byte(layout));
        let mut b = std::mem::take(&mut self.buf);
        self.enc.strs.put(&mut b, &k.key);
        let r = self.enc.encode(&k.value, layout, &mut b);
        self.buf = b;
        if let Err(p) = r {
            self.buf.truncate(mark);
            return Err(err(format!("cannot encode: {p}")));
        }
        self.keys += 1;
        self.flush_buf()
    }

    /// Gives up: returns the inner writer without EOF or checksum (the
    /// caller discards the partial output).
    pub fn abandon(self) -> W {
        self.out
    }

    /// Writes EOF and the checksum; returns the writer.
    pub fn finish(self) -> Result<W> {
        self.finish_with(true)
    }

    /// Writes EOF and the checksum, or a zero trailer when `checksum` is
    /// false (what a server with `rdbchecksum no` writes; loaders skip the
    /// check); returns the writer.
    pub fn finish_with(mut self, checksum: bool) -> Result<W> {
        self.buf.push(OP_EOF);
        self.flush_buf()?;
        let crc = if checksum { self.crc.value() } else { 0 };
        self.out.write_all(&crc.to_le_bytes())?;
        self.bytes += 8;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_worked_example() {
        // rdb.md §17: RDB 11, one db, key "a" = "b".
        let mut w = RdbWriter::new(Vec::new(), RdbVersion::new(11).unwrap(), true).unwrap();
        w.select_db(0, Some((1, 0))).unwrap();
        let k = OwnedKey {
            db: 0,
            key: b"a".to_vec(),
            expire_ms: None,
            idle_s: None,
            freq: None,
            value: crate::model::owned::OwnedValue::String(b"b".to_vec()),
            source_type: None,
        };
        w.key(&k).unwrap();
        let out = w.finish().unwrap();
        let want = [
            0x52, 0x45, 0x44, 0x49, 0x53, 0x30, 0x30, 0x31, 0x31, 0xfe, 0x00, 0xfb, 0x01, 0x00,
            0x00, 0x01, 0x61, 0x01, 0x62, 0xff, 0xa8, 0xae, 0x4b, 0x11, 0xd6, 0xd1, 0x8a, 0x75,
        ];
        assert_eq!(out, want);
    }
}
