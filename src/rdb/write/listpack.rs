//! Listpack encoder, the mirror of [`crate::rdb::read::listpack`]: integer
//! entries for canonical decimal strings, the shortest string headers, and
//! backlens with Redis' exact size thresholds.

use crate::model::Elem;
use crate::rdb::read::listpack::backlen_size;
use crate::rdb::read::prim::parse_canonical_i64;

/// Builds one listpack into a reused buffer.
#[derive(Debug, Default)]
pub struct ListpackBuilder {
    buf: Vec<u8>,
    count: u64,
}

impl ListpackBuilder {
    /// Starts an empty listpack (reusing the buffer).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 6]);
        self.count = 0;
    }

    /// A new, empty listpack.
    pub fn new() -> Self {
        let mut b = ListpackBuilder::default();
        b.reset();
        b
    }

    /// Elements appended so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Bytes the listpack will take once finished.
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// Appends bytes, stored as an integer entry when they are canonical
    /// decimal (what `lpAppend` does).
    pub fn push(&mut self, b: &[u8]) {
        match parse_canonical_i64(b) {
            Some(v) => self.push_int(v),
            None => self.push_str(b),
        }
    }

    /// Appends an element in its logical form.
    pub fn push_elem(&mut self, e: Elem<'_>) {
        match e {
            Elem::Int(v) => self.push_int(v),
            Elem::Bytes(b) => self.push(b),
        }
    }

    /// Appends an integer entry in its smallest form.
    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        let b = &mut self.buf;
        if (0..=127).contains(&v) {
            b.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u16) & 0x1fff;
            b.push(0xc0 | (u >> 8) as u8);
            b.push(u as u8);
        } else if let Ok(h) = i16::try_from(v) {
            b.push(0xf1);
            b.extend_from_slice(&h.to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            b.push(0xf2);
            b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if let Ok(w) = i32::try_from(v) {
            b.push(0xf3);
            b.extend_from_slice(&w.to_le_bytes());
        } else {
            b.push(0xf4);
            b.extend_from_slice(&v.to_le_bytes());
        }
        self.end_elem(start);
    }

    /// Appends a string entry (never converted to an integer).
    pub fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let b = &mut self.buf;
        let n = s.len();
        if n < 64 {
            b.push(0x80 | n as u8);
        } else if n < 4096 {
            b.push(0xe0 | (n >> 8) as u8);
            b.push(n as u8);
        } else {
            b.push(0xf0);
            b.extend_from_slice(&(n as u32).to_le_bytes());
        }
        b.extend_from_slice(s);
        self.end_elem(start);
    }

    fn end_elem(&mut self, start: usize) {
        let l = self.buf.len() - start;
        put_backlen(&mut self.buf, l);
        self.count += 1;
    }

    /// Terminates the listpack, fills in the header and returns its bytes.
    /// Call [`reset`](Self::reset) before reusing the builder.
    pub fn finish(&mut self) -> &[u8] {
        self.buf.push(0xff);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let n = u16::try_from(self.count).unwrap_or(u16::MAX);
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
        &self.buf
    }
}

/// Appends the backlen of an element whose encoding+data take `l` bytes:
/// 7-bit groups, most significant first, continuation bit on later bytes.
pub fn put_backlen(out: &mut Vec<u8>, l: usize) {
    let n = backlen_size(l);
    for i in (0..n).rev() {
        let group = ((l >> (7 * i)) & 127) as u8;
        out.push(if i == n - 1 { group } else { group | 128 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::read::listpack::Listpack;

    #[test]
    fn backlen_thresholds_match_redis() {
        let enc = |l| {
            let mut b = Vec::new();
            put_backlen(&mut b, l);
            b
        };
        assert_eq!(enc(5), [5]);
        assert_eq!(enc(127), [127]);
        assert_eq!(enc(128), [1, 128]);
        assert_eq!(enc(16382), [0x7f, 0xfe]);
        assert_eq!(enc(16383), [0x00, 0xff, 0xff]);
    }

    #[test]
    fn elements_read_back() {
        let ints = [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8388607,
            -8388608,
            8388608,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ];
        let strs: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"-0".to_vec(),
            b"007".to_vec(),
            vec![b'a'; 63],
            vec![b'b'; 64],
            vec![b'c'; 4095],
            vec![b'd'; 4096],
            vec![b'e'; 16380],
            vec![b'f'; 20000],
        ];
        let mut lp = ListpackBuilder::new();
        for v in ints {
            lp.push(v.to_string().as_bytes());
        }
        for s in &strs {
            lp.push(s);
        }
        let blob = lp.finish().to_vec();
        let parsed = Listpack::parse(&blob).unwrap();
        assert_eq!(parsed.count().unwrap(), (ints.len() + strs.len()) as u64);
        let got: Vec<Elem<'_>> = parsed.iter().map(|e| e.unwrap()).collect();
        for (i, v) in ints.iter().enumerate() {
            assert_eq!(got[i], Elem::Int(*v));
        }
        for (i, s) in strs.iter().enumerate() {
            assert_eq!(got[ints.len() + i].to_vec(), *s);
        }
    }
}
