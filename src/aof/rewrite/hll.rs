//! HyperLogLog values as the server holds them, byte for byte: what PFADD,
//! PFMERGE, PFCOUNT (which writes its cached cardinality back, and is
//! logged when it does) and PFDEBUG TODENSE/GETREG do to the string. It
//! follows Redis `src/hyperloglog.c` (7.0 and 8.x store the same bytes):
//! a 16-byte header (`HYLL`, encoding, 3 unused bytes, the cached
//! cardinality little-endian with bit 63 set when stale), then either the
//! sparse opcodes (ZERO, XZERO, VAL) or 16384 dense 6-bit registers. The
//! sparse form is edited in place the way `hllSparseSet` does (split the
//! covering opcode, merge equal VAL neighbours within five opcodes) and
//! promoted to dense when a register exceeds 32 or the string would pass
//! `hll-sparse-max-bytes` (default 3000), so DEBUG DIGEST matches the
//! server's. An HLL is a plain string value: nothing else in the keyspace
//! knows about it.

/// Header bytes: magic, encoding, unused, cached cardinality.
const HDR: usize = 16;
/// Registers (`HLL_REGISTERS`, P = 14).
const REGISTERS: usize = 1 << 14;
/// Bits of the hash left after the register index (`HLL_Q`).
const Q: u32 = 64 - 14;
/// Bits per dense register.
const BITS: usize = 6;
/// Length of a dense HLL string.
const DENSE_LEN: usize = HDR + (REGISTERS * BITS).div_ceil(8);
/// `hll-sparse-max-bytes` default: the largest sparse string.
pub const SPARSE_MAX_BYTES: usize = 3000;
/// Encoding byte values.
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
/// Largest value and run length a sparse VAL opcode holds.
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
/// Longest run a ZERO opcode holds (longer ones are XZERO).
const ZERO_MAX_LEN: usize = 64;
/// Longest run an XZERO opcode holds.
const XZERO_MAX_LEN: usize = 16384;

/// A sparse representation that does not cover exactly the 16384
/// registers: the server answers "INVALIDOBJ" and leaves it as it is.
#[derive(Debug)]
pub struct Invalid;

/// Whether a string is an HLL the server accepts (`isHLLObjectOrReply`):
/// long enough for the header, the magic, a known encoding, and the exact
/// length when dense.
pub fn is_hll(s: &[u8]) -> bool {
    s.len() >= HDR
        && s.starts_with(b"HYLL")
        && s[4] <= SPARSE
        && (s[4] != DENSE || s.len() == DENSE_LEN)
}

/// A new, empty HLL (`createHLLObject`): sparse, one XZERO opcode covering
/// every register, a zero cached cardinality.
pub fn new_sparse() -> Vec<u8> {
    let mut s = vec![0u8; HDR];
    s[..4].copy_from_slice(b"HYLL");
    s[4] = SPARSE;
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        s.extend_from_slice(&xzero(n));
        left -= n;
    }
    s
}

/// Marks the cached cardinality stale (`HLL_INVALIDATE_CACHE`): only the
/// top bit changes, the stale count stays in the other bytes.
pub fn invalidate(s: &mut [u8]) {
    s[HDR - 1] |= 0x80;
}

/// MurmurHash64A as the server uses it (little-endian 8-byte blocks).
fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut blocks = key.chunks_exact(8);
    for b in blocks.by_ref() {
        let mut k = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element falls in and its run length of zeroes plus one
/// (`hllPatLen`), at most Q + 1.
fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, 0xadc8_3b19);
    let index = (hash as usize) & (REGISTERS - 1);
    let rest = (hash >> 14) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let (byte, fb) = (i * BITS / 8, (i * BITS) & 7);
    let b0 = u16::from(regs[byte]);
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & 63) as u8
}

fn dense_put(regs: &mut [u8], i: usize, v: u8) {
    let (byte, fb) = (i * BITS / 8, (i * BITS) & 7);
    let v = u16::from(v);
    regs[byte] &= !((63u16 << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if let Some(next) = regs.get_mut(byte + 1) {
        *next &= !((63u16 >> (8 - fb)) as u8);
        *next |= (v >> (8 - fb)) as u8;
    }
}

/// Raises a dense register to `count` (`hllDenseSet`); whether it changed.
fn dense_set(s: &mut [u8], i: usize, count: u8) -> bool {
    let regs = &mut s[HDR..];
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

/// One sparse opcode: (registers covered, value, bytes).
fn opcode(s: &[u8], p: usize) -> (usize, u8, usize) {
    let b = s[p];
    if b & 0xc0 == 0 {
        (usize::from(b & 0x3f) + 1, 0, 1)
    } else if b & 0x80 == 0 {
        let lo = usize::from(s.get(p + 1).copied().unwrap_or(0));
        (((usize::from(b & 0x3f) << 8) | lo) + 1, 0, 2)
    } else {
        (usize::from(b & 0x3) + 1, ((b >> 2) & 0x1f) + 1, 1)
    }
}

fn is_val(b: u8) -> bool {
    b & 0x80 != 0
}

fn val(v: u8, len: usize) -> u8 {
    (((v - 1) << 2) | (len as u8 - 1)) | 0x80
}

fn zero(len: usize) -> u8 {
    (len - 1) as u8
}

fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [((l >> 8) as u8) | 0x40, (l & 0xff) as u8]
}

/// A run of `len` zero registers as ZERO or XZERO.
fn zeros(out: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        out.extend_from_slice(&xzero(len));
    } else {
        out.push(zero(len));
    }
}

/// Calls `f` with each run of non-zero registers of a sparse HLL (as
/// `hllSparseToDense` and `hllMerge` walk it: a run past the last
/// register stops the walk); invalid unless the opcodes cover exactly
/// the 16384 registers.
fn for_each_val(s: &[u8], mut f: impl FnMut(std::ops::Range<usize>, u8)) -> Result<(), Invalid> {
    let (mut p, mut idx) = (HDR, 0usize);
    while p < s.len() {
        let (run, v, len) = opcode(s, p);
        if v > 0 {
            if run + idx > REGISTERS {
                break;
            }
            f(idx..idx + run, v);
        }
        idx += run;
        p += len;
    }
    if idx != REGISTERS {
        return Err(Invalid);
    }
    Ok(())
}

/// The dense form of a sparse HLL (`hllSparseToDense`): the header is kept
/// (cached cardinality included), the encoding byte becomes dense.
fn to_dense(s: &mut Vec<u8>) -> Result<(), Invalid> {
    if s[4] == DENSE {
        return Ok(());
    }
    let mut d = vec![0u8; DENSE_LEN];
    d[..HDR].copy_from_slice(&s[..HDR]);
    d[4] = DENSE;
    for_each_val(s, |regs, v| {
        for i in regs {
            dense_put(&mut d[HDR..], i, v);
        }
    })?;
    *s = d;
    Ok(())
}

/// Raises register `index` to `count` in a sparse HLL (`hllSparseSet`),
/// promoting it to dense when needed. Whether it changed.
fn sparse_set(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Invalid> {
    if count > VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Step 1: the opcode covering the register.
    let (mut p, mut first, mut prev, mut found) = (HDR, 0usize, None, None);
    while p < s.len() {
        let (span, v, len) = opcode(s, p);
        if index < first + span {
            found = Some((span, v, len));
            break;
        }
        prev = Some(p);
        p += len;
        first += span;
    }
    let Some((span, cur, oplen)) = found else {
        return Err(Invalid);
    };
    let is_val_op = is_val(s[p]);
    // Step 2: the trivial cases, updated in place.
    let in_place = if is_val_op {
        if cur >= count {
            return Ok(false);
        }
        span == 1
    } else {
        oplen == 1 && span == 1
    };
    if in_place {
        s[p] = val(count, 1);
    } else {
        // The general case: split the opcode around the register.
        let last = first + span - 1;
        let mut seq = Vec::with_capacity(5);
        if is_val_op {
            if index != first {
                seq.push(val(cur, index - first));
            }
            seq.push(val(count, 1));
            if index != last {
                seq.push(val(cur, last - index));
            }
        } else {
            if index != first {
                zeros(&mut seq, index - first);
            }
            seq.push(val(count, 1));
            if index != last {
                zeros(&mut seq, last - index);
            }
        }
        // Step 3: put it in place of the old opcode, unless that makes
        // the string too long for a sparse HLL.
        if seq.len() > oplen && s.len() + seq.len() - oplen > SPARSE_MAX_BYTES {
            return promote(s, index, count);
        }
        let old_end = (p + oplen).min(s.len());
        s.splice(p..old_end, seq);
    }
    // Step 4: merge adjacent equal VAL opcodes, scanning five opcodes
    // from the one before.
    let mut q = prev.unwrap_or(HDR);
    let mut scan = 5;
    while q < s.len() && scan > 0 {
        scan -= 1;
        let b = s[q];
        if !is_val(b) {
            q += if b & 0xc0 == 0x40 { 2 } else { 1 };
            continue;
        }
        if q + 1 < s.len() && is_val(s[q + 1]) {
            let (l1, v1, _) = opcode(s, q);
            let (l2, v2, _) = opcode(s, q + 1);
            if v1 == v2 && l1 + l2 <= VAL_MAX_LEN {
                s[q + 1] = val(v1, l1 + l2);
                s.remove(q);
                continue;
            }
        }
        q += 1;
    }
    invalidate(s);
    Ok(true)
}

/// Sparse to dense, then the register update (which must change it).
fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Invalid> {
    to_dense(s)?;
    dense_set(s, index, count);
    Ok(true)
}

/// Raises one register in either encoding.
fn set(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Invalid> {
    if s[4] == DENSE {
        Ok(dense_set(s, index, count))
    } else {
        sparse_set(s, index, count)
    }
}

/// Adds one element (`hllAdd`); whether a register changed. `s` must pass
/// [`is_hll`].
pub fn add(s: &mut Vec<u8>, ele: &[u8]) -> Result<bool, Invalid> {
    let (index, count) = pat_len(ele);
    set(s, index, count)
}

/// Raises `max` to the registers of `s` (`hllMerge`).
pub fn merge_into(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), Invalid> {
    if s[4] == DENSE {
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(&s[HDR..], i));
        }
        return Ok(());
    }
    for_each_val(s, |regs, v| {
        for m in &mut max[regs] {
            *m = (*m).max(v);
        }
    })
}

/// Empty registers for [`merge_into`].
pub fn empty_registers() -> Box<[u8; REGISTERS]> {
    Box::new([0u8; REGISTERS])
}

/// Whether at least one of the sources was dense decides PFMERGE's target
/// encoding.
pub fn is_dense(s: &[u8]) -> bool {
    s[4] == DENSE
}

/// PFMERGE's write into the destination (`dst` already holds an HLL, a
/// new one when the key was missing): to dense first when a source was,
/// then every non-zero register in index order, then the cache marked
/// stale.
pub fn store_merged(dst: &mut Vec<u8>, max: &[u8; REGISTERS], dense: bool) -> Result<(), Invalid> {
    if dense {
        to_dense(dst)?;
    }
    for (j, &m) in max.iter().enumerate() {
        if m > 0 {
            // An invalid sparse destination was rejected by the merge.
            set(dst, j, m)?;
        }
    }
    invalidate(dst);
    Ok(())
}

/// Ertl's sigma (`hllSigma`).
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let zp = z;
        z += x * y;
        y += y;
        if zp == z {
            return z;
        }
    }
}

/// Ertl's tau (`hllTau`). `pow(1 - x, 2)` is a square, as the compilers
/// that build the server fold it.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let zp = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if zp == z {
            return z / 3.0;
        }
    }
}

/// The estimated cardinality (`hllCount`).
fn count(s: &[u8]) -> Result<u64, Invalid> {
    let mut histo = [0u32; 64];
    if s[4] == DENSE {
        for i in 0..REGISTERS {
            histo[usize::from(dense_get(&s[HDR..], i))] += 1;
        }
    } else {
        let (mut p, mut idx) = (HDR, 0usize);
        while p < s.len() {
            let (run, v, len) = opcode(s, p);
            idx += run;
            histo[usize::from(v)] += run as u32;
            p += len;
        }
        if idx != REGISTERS {
            return Err(Invalid);
        }
    }
    let m = REGISTERS as f64;
    let q = Q as usize;
    let mut z = m * tau((m - f64::from(histo[q + 1])) / m);
    for j in (1..=q).rev() {
        z += f64::from(histo[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
    Ok((ALPHA_INF * m * m / z).round() as u64)
}

/// PFCOUNT of one key: when the cached cardinality is stale, computes it
/// and writes it into the header (the change the server logs).
pub fn refresh_cache(s: &mut [u8]) -> Result<(), Invalid> {
    if s[HDR - 1] & 0x80 == 0 {
        return Ok(());
    }
    let c = count(s)?;
    s[8..16].copy_from_slice(&c.to_le_bytes());
    Ok(())
}

/// PFDEBUG TODENSE / GETREG: a sparse HLL becomes dense.
pub fn make_dense(s: &mut Vec<u8>) -> Result<(), Invalid> {
    to_dense(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's own `PFDEBUG DECODE` of a sparse HLL, for checking
    /// the opcode stream against the server by eye in failures.
    fn decode(s: &[u8]) -> String {
        let mut out = Vec::new();
        let mut p = HDR;
        while p < s.len() {
            let (run, v, len) = opcode(s, p);
            out.push(match (v, len) {
                (0, 1) => format!("z:{run}"),
                (0, _) => format!("Z:{run}"),
                _ => format!("v:{v},{run}"),
            });
            p += len;
        }
        out.join(" ")
    }

    #[test]
    fn a_new_hll_is_one_xzero_and_counts_zero() {
        let mut s = new_sparse();
        assert!(is_hll(&s));
        assert_eq!(decode(&s), "Z:16384");
        invalidate(&mut s);
        refresh_cache(&mut s).unwrap();
        assert_eq!(&s[8..16], &[0u8; 8]);
    }

    #[test]
    fn sparse_and_dense_count_the_same() {
        let mut s = new_sparse();
        for i in 0..2000u32 {
            add(&mut s, format!("e{i}").as_bytes()).unwrap();
        }
        let mut d = s.clone();
        make_dense(&mut d).unwrap();
        assert_eq!(d.len(), DENSE_LEN);
        let (a, b) = (count(&s).unwrap(), count(&d).unwrap());
        assert_eq!(a, b);
        // Within the HLL's error for 2000 distinct elements.
        assert!((1900..2100).contains(&a), "{a}");
    }

    #[test]
    fn a_sparse_hll_never_passes_the_byte_limit() {
        let mut s = new_sparse();
        for i in 0..20_000u32 {
            add(&mut s, format!("{i}").as_bytes()).unwrap();
            assert!(s[4] == DENSE || s.len() <= SPARSE_MAX_BYTES);
        }
        assert_eq!(s[4], DENSE);
    }

    #[test]
    fn a_truncated_sparse_hll_is_invalid() {
        let mut s = new_sparse();
        s.truncate(HDR + 1);
        assert!(add(&mut s, b"x").is_err());
    }
}
