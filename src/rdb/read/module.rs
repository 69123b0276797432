//! Module values (type 7) and MODULE_AUX records: walked item by item so
//! they can be skipped and reported without the module.

use nom::number::complete::{le_f32, le_f64};

use super::prim::{length, skip_string};
use crate::error::{PErr, PResult};

/// Walks an annotated module item stream up to and including its EOF item
/// (`len 0`); returns the number of items.
pub fn walk_items(i: &[u8]) -> PResult<'_, u64> {
    let mut r = i;
    let mut n = 0u64;
    loop {
        match item(r)? {
            (rest, None) => return Ok((rest, n)),
            (rest, Some(_)) => r = rest,
        }
        n += 1;
    }
}

/// Reads one item of an annotated module item stream: its opcode (1
/// signed, 2 unsigned, 3 float, 4 double, 5 string) and the bytes of its
/// operand (for a string, its length and data as stored), or `None` for
/// the EOF item.
pub fn item(i: &[u8]) -> PResult<'_, Option<(u64, &[u8])>> {
    let (r2, op) = length(i)?;
    let r = match op {
        0 => return Ok((r2, None)),
        1 | 2 => length(r2)?.0,
        3 => le_f32(r2)?.0,
        4 => le_f64(r2)?.0,
        5 => skip_string(r2)?.0,
        other => {
            return Err(nom::Err::Error(PErr::invalid(
                i,
                "module item",
                "an item opcode 0-5",
                other,
            )));
        }
    };
    Ok((r, Some((op, &r2[..r2.len() - r.len()]))))
}

/// Reads a MODULE_2 value: the module type id, then the item stream.
pub fn module_value(i: &[u8]) -> PResult<'_, u64> {
    let (r, id) = length(i)?;
    let (r, _) = walk_items(r)?;
    Ok((r, id))
}

/// A MODULE_AUX record's header: module id and `when` (1 before keys,
/// 2 after keys).
pub fn module_aux(i: &[u8]) -> PResult<'_, (u64, u64)> {
    let (r, id) = length(i)?;
    let (r2, op) = length(r)?;
    if op != 2 {
        return Err(nom::Err::Error(PErr::invalid(
            r,
            "MODULE_AUX",
            "the UINT opcode 2 before `when`",
            op,
        )));
    }
    let (r, when) = length(r2)?;
    let (r, _) = walk_items(r)?;
    Ok((r, (id, when)))
}
