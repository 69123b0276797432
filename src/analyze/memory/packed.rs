//! Byte sizes of the packed encodings a server builds in memory: listpack
//! entries (as `lpAppend` encodes an element) and intsets.

use crate::model::Elem;
use crate::rdb::read::listpack::backlen_size;

/// Header (total bytes + count) plus the end byte of a listpack.
pub const LP_EMPTY: u64 = 7;

/// Bytes of one listpack entry holding `e`: an integer encoding when the
/// element is canonical decimal text that fits an i64 (`lpStringToInt64`),
/// otherwise a string encoding; plus the back-length.
pub fn lp_entry(e: &Elem<'_>) -> u64 {
    match e.as_int() {
        Some(v) => lp_int_entry(v),
        None => lp_str_entry(e.len() as u64),
    }
}

/// Bytes of a listpack entry holding the integer `v`.
pub fn lp_int_entry(v: i64) -> u64 {
    let data = match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8_388_608..=8_388_607 => 4,
        -2_147_483_648..=2_147_483_647 => 5,
        _ => 9,
    };
    data + 1 // back-length of a ≤ 127-byte entry
}

/// Bytes of a listpack entry holding a `len`-byte string.
pub fn lp_str_entry(len: u64) -> u64 {
    let head = if len < 64 {
        1
    } else if len < 4096 {
        2
    } else {
        5
    };
    let body = head + len;
    body + backlen_size(usize::try_from(body).unwrap_or(usize::MAX)) as u64
}

/// Bytes of an intset holding values between `min` and `max` (`n` of them).
pub fn intset_bytes(n: u64, min: i64, max: i64) -> u64 {
    let width = if min >= i16::MIN as i64 && max <= i16::MAX as i64 {
        2
    } else if min >= i32::MIN as i64 && max <= i32::MAX as i64 {
        4
    } else {
        8
    };
    8 + n * width
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_sizes() {
        assert_eq!(lp_entry(&Elem::Bytes(b"12")), 2);
        assert_eq!(lp_entry(&Elem::Bytes(b"012")), 5);
        assert_eq!(lp_entry(&Elem::Int(1000)), 3);
        assert_eq!(lp_entry(&Elem::Int(100_000)), 5);
        assert_eq!(lp_str_entry(63), 65);
        assert_eq!(lp_str_entry(64), 67);
        assert_eq!(lp_str_entry(200), 204);
    }
}
