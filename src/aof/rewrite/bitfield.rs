//! BITFIELD on a string value, as Redis `src/bitops.c` (`bitfieldGeneric`)
//! does it: all operations are parsed first (an error changes nothing),
//! the string is grown with zero bytes to the farthest bit a SET or
//! INCRBY reaches, then the operations run in order, each with the
//! OVERFLOW mode in force where it appears (WRAP by default; SAT clamps;
//! FAIL skips the write). Widths are i1..i64 and u1..u63; an offset
//! `#n` means n times the width.

use super::replay::{Fail, int};

/// Overflow handling of the following SET/INCRBY operations.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// One SET or INCRBY (GETs change nothing and are only validated).
#[derive(Debug, Clone, Copy)]
struct Op {
    incr: bool,
    signed: bool,
    bits: u32,
    offset: u64,
    value: i64,
    overflow: Overflow,
}

/// A parsed BITFIELD: its writes in order.
#[derive(Debug, Default)]
pub struct Bitfield {
    ops: Vec<Op>,
    /// The highest bit a write reaches.
    highest: u64,
}

/// Offsets past the server's default `proto-max-bulk-len` (512 MB) are
/// refused, as SETBIT's are by this replay.
const MAX_BIT: u64 = 512 * 1024 * 1024 * 8;

fn type_arg(t: &[u8]) -> Result<(bool, u32), Fail> {
    let signed = match t.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(Fail::Err),
    };
    let bits = int(&t[1..])?;
    if bits < 1 || bits > if signed { 64 } else { 63 } {
        return Err(Fail::Err);
    }
    Ok((signed, bits as u32))
}

fn offset_arg(o: &[u8], bits: u32) -> Result<u64, Fail> {
    let (hash, digits) = match o.strip_prefix(b"#") {
        Some(d) => (true, d),
        None => (false, o),
    };
    let mut n = int(digits)?;
    if hash {
        n = n.checked_mul(i64::from(bits)).ok_or(Fail::Err)?;
    }
    let n = u64::try_from(n).map_err(|_| Fail::Err)?;
    if n + u64::from(bits) > MAX_BIT {
        return Err(Fail::Err);
    }
    Ok(n)
}

impl Bitfield {
    /// Parses the arguments after the key.
    pub fn parse(args: &[&[u8]]) -> Result<Bitfield, Fail> {
        let mut out = Bitfield::default();
        let mut overflow = Overflow::Wrap;
        let mut j = 0;
        while j < args.len() {
            let left = args.len() - j - 1;
            let sub = args[j].to_ascii_lowercase();
            let (write, incr) = match sub.as_slice() {
                b"get" if left >= 2 => (false, false),
                b"set" if left >= 3 => (true, false),
                b"incrby" if left >= 3 => (true, true),
                b"overflow" if left >= 1 => {
                    overflow = match args[j + 1].to_ascii_lowercase().as_slice() {
                        b"wrap" => Overflow::Wrap,
                        b"sat" => Overflow::Sat,
                        b"fail" => Overflow::Fail,
                        _ => return Err(Fail::Err),
                    };
                    j += 2;
                    continue;
                }
                _ => return Err(Fail::Err),
            };
            let (signed, bits) = type_arg(args[j + 1])?;
            let offset = offset_arg(args[j + 2], bits)?;
            if write {
                let value = int(args[j + 3])?;
                out.highest = out.highest.max(offset + u64::from(bits) - 1);
                out.ops.push(Op {
                    incr,
                    signed,
                    bits,
                    offset,
                    value,
                    overflow,
                });
                j += 4;
            } else {
                j += 3;
            }
        }
        Ok(out)
    }

    /// Whether it writes (else it is a read the server does not log).
    pub fn writes(&self) -> bool {
        !self.ops.is_empty()
    }

    /// Runs the writes on the string (created empty by the caller when
    /// the key was missing), first growing it to the farthest bit.
    pub fn apply(&self, s: &mut Vec<u8>) {
        let need = (self.highest >> 3) as usize + 1;
        if s.len() < need {
            s.resize(need, 0);
        }
        for op in &self.ops {
            let old = get(s, op.offset, op.bits);
            let (new, overflowed) = if op.signed {
                let old = sign_extend(old, op.bits);
                let (v, incr) = if op.incr {
                    (old, op.value)
                } else {
                    (op.value, 0)
                };
                match signed_overflow(v, incr, op.bits, op.overflow) {
                    Some(limit) => (limit as u64, true),
                    None => (v.wrapping_add(incr) as u64, false),
                }
            } else {
                let (v, incr) = if op.incr {
                    (old, op.value)
                } else {
                    (op.value as u64, 0)
                };
                match unsigned_overflow(v, incr, op.bits, op.overflow) {
                    Some(limit) => (limit, true),
                    None => (v.wrapping_add(incr as u64), false),
                }
            };
            if !(overflowed && op.overflow == Overflow::Fail) {
                put(s, op.offset, op.bits, new);
            }
        }
    }
}

fn get(s: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for j in 0..u64::from(bits) {
        let o = offset + j;
        let b = s.get((o >> 3) as usize).copied().unwrap_or(0);
        v = (v << 1) | u64::from((b >> (7 - (o & 7))) & 1);
    }
    v
}

fn put(s: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..u64::from(bits) {
        let o = offset + j;
        let bit = (value >> (u64::from(bits) - 1 - j)) & 1;
        if let Some(b) = s.get_mut((o >> 3) as usize) {
            let m = 1u8 << (7 - (o & 7));
            *b = (*b & !m) | if bit == 1 { m } else { 0 };
        }
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    if bits < 64 && v & (1 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

/// `checkUnsignedBitfieldOverflow`: the value to store when `value +
/// incr` leaves the width (wrapped, or clamped with SAT), else `None`.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, mode: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = 0u64.wrapping_sub(value) as i64;
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX << bits);
    if value > max || (incr > 0 && incr > maxincr) {
        Some(match mode {
            Overflow::Wrap => wrap(),
            _ => max,
        })
    } else if incr < 0 && incr < minincr {
        Some(match mode {
            Overflow::Wrap => wrap(),
            _ => 0,
        })
    } else {
        None
    }
}

/// `checkSignedBitfieldOverflow`, likewise.
fn signed_overflow(value: i64, incr: i64, bits: u32, mode: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1 << (bits - 1)) != 0 {
                (c | mask) as i64
            } else {
                (c & !mask) as i64
            }
        } else {
            c as i64
        }
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        Some(match mode {
            Overflow::Wrap => wrap(),
            _ => max,
        })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        Some(match mode {
            Overflow::Wrap => wrap(),
            _ => min,
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &mut Vec<u8>, args: &[&str]) {
        let a: Vec<&[u8]> = args.iter().map(|x| x.as_bytes()).collect();
        Bitfield::parse(&a).unwrap().apply(s);
    }

    #[test]
    fn overflow_modes_follow_the_server() {
        let mut s = Vec::new();
        run(
            &mut s,
            &["SET", "u8", "0", "250", "INCRBY", "u8", "0", "10"],
        );
        assert_eq!(s, [4]);
        run(&mut s, &["OVERFLOW", "SAT", "INCRBY", "u8", "0", "300"]);
        assert_eq!(s, [255]);
        run(&mut s, &["OVERFLOW", "FAIL", "INCRBY", "u8", "0", "1"]);
        assert_eq!(s, [255]);
        run(
            &mut s,
            &[
                "SET", "i8", "#1", "-3", "OVERFLOW", "SAT", "INCRBY", "i8", "#1", "-200",
            ],
        );
        assert_eq!(s, [255, 0x80]);
    }

    #[test]
    fn writes_grow_the_string_to_the_farthest_bit() {
        let mut s = Vec::new();
        run(&mut s, &["GET", "u8", "100", "SET", "i5", "20", "-1"]);
        assert_eq!(s, [0, 0, 0x0f, 0x80]);
    }
}
