//! Building DUMP payloads: the value in the layout the target expects (or
//! a value copied verbatim), the footer version, the CRC-64.

use crate::error::{Error, Result};
use crate::model::owned::OwnedValue;
use crate::rdb::write::{RdbVersion, ValueEncoder, choose_layout, type_byte};

/// Appends the footer (version, CRC-64 of everything in `out` from `start`).
pub fn seal(out: &mut Vec<u8>, start: usize, version: u16) {
    out.extend_from_slice(&version.to_le_bytes());
    let crc = crate::crc::crc64(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Appends a payload for a value already serialized as `type_byte` + `raw`.
pub fn from_raw(out: &mut Vec<u8>, type_byte: u8, raw: &[u8], version: u16) {
    let start = out.len();
    out.push(type_byte);
    out.extend_from_slice(raw);
    seal(out, start, version);
}

/// Appends a payload holding `v` for servers reading RDB `t`; `hint` is
/// the source layout to keep when `t` accepts it.
pub fn encode(
    v: &OwnedValue,
    t: RdbVersion,
    hint: Option<u8>,
    enc: &mut ValueEncoder,
    out: &mut Vec<u8>,
) -> Result<()> {
    if v.is_empty() {
        return Err(Error::sink("empty aggregate: RESTORE refuses it"));
    }
    let layout = choose_layout(v, t, hint).map_err(|p| Error::sink(p.to_string()))?;
    let start = out.len();
    out.push(type_byte(layout));
    if let Err(p) = enc.encode(v, layout, out) {
        out.truncate(start);
        return Err(Error::sink(p.to_string()));
    }
    seal(out, start, t.number() as u16);
    Ok(())
}
