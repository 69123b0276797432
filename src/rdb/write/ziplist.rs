//! Ziplist encoder (RDB ≤ 9 small aggregates and quicklist v1 nodes), the
//! mirror of [`crate::rdb::read::ziplist`]: 1- or 5-byte prevlens by the
//! 254 rule, integer entries for canonical decimal strings under 32 bytes.

use crate::model::Elem;
use crate::rdb::read::prim::parse_canonical_i64;

const HEADER: usize = 10;

/// Builds one ziplist into a reused buffer.
#[derive(Debug, Default)]
pub struct ZiplistBuilder {
    buf: Vec<u8>,
    count: u64,
    prev_len: usize,
    tail: usize,
}

impl ZiplistBuilder {
    /// Starts an empty ziplist (reusing the buffer).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; HEADER]);
        self.count = 0;
        self.prev_len = 0;
        self.tail = HEADER;
    }

    /// A new, empty ziplist.
    pub fn new() -> Self {
        let mut b = ZiplistBuilder::default();
        b.reset();
        b
    }

    /// Entries appended so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Bytes the ziplist will take once finished.
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// Appends an element in its logical form.
    pub fn push_elem(&mut self, e: Elem<'_>) {
        match e {
            Elem::Int(v) => self.push_int(v),
            Elem::Bytes(b) => self.push(b),
        }
    }

    /// Appends bytes, as an integer entry when Redis' `zipTryEncoding`
    /// would (canonical decimal, 1..=31 bytes).
    pub fn push(&mut self, b: &[u8]) {
        match (b.len() < 32).then(|| parse_canonical_i64(b)).flatten() {
            Some(v) => self.push_int(v),
            None => self.push_str(b),
        }
    }

    fn begin(&mut self) -> usize {
        let start = self.buf.len();
        if self.prev_len < 254 {
            self.buf.push(self.prev_len as u8);
        } else {
            self.buf.push(0xfe);
            self.buf
                .extend_from_slice(&(self.prev_len as u32).to_le_bytes());
        }
        start
    }

    fn end(&mut self, start: usize) {
        self.tail = start;
        self.prev_len = self.buf.len() - start;
        self.count += 1;
    }

    /// Appends an integer entry in its smallest form.
    pub fn push_int(&mut self, v: i64) {
        let start = self.begin();
        let b = &mut self.buf;
        if (0..=12).contains(&v) {
            b.push(0xf1 + v as u8);
        } else if let Ok(x) = i8::try_from(v) {
            b.push(0xfe);
            b.push(x as u8);
        } else if let Ok(x) = i16::try_from(v) {
            b.push(0xc0);
            b.extend_from_slice(&x.to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            b.push(0xf0);
            b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if let Ok(x) = i32::try_from(v) {
            b.push(0xd0);
            b.extend_from_slice(&x.to_le_bytes());
        } else {
            b.push(0xe0);
            b.extend_from_slice(&v.to_le_bytes());
        }
        self.end(start);
    }

    /// Appends a string entry.
    pub fn push_str(&mut self, s: &[u8]) {
        let start = self.begin();
        let b = &mut self.buf;
        let n = s.len();
        if n <= 63 {
            b.push(n as u8);
        } else if n <= 16383 {
            b.push(0x40 | (n >> 8) as u8);
            b.push(n as u8);
        } else {
            b.push(0x80);
            b.extend_from_slice(&(n as u32).to_be_bytes());
        }
        b.extend_from_slice(s);
        self.end(start);
    }

    /// Terminates the ziplist, fills in the header and returns its bytes.
    pub fn finish(&mut self) -> &[u8] {
        self.buf.push(0xff);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        self.buf[4..8].copy_from_slice(&(self.tail as u32).to_le_bytes());
        let n = u16::try_from(self.count).unwrap_or(u16::MAX);
        self.buf[8..10].copy_from_slice(&n.to_le_bytes());
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::read::ziplist::Ziplist;

    #[test]
    fn entries_read_back_with_prevlens() {
        let items: Vec<Vec<u8>> = vec![
            b"0".to_vec(),
            b"12".to_vec(),
            b"13".to_vec(),
            b"-128".to_vec(),
            b"300".to_vec(),
            b"8388607".to_vec(),
            b"-8388609".to_vec(),
            b"9223372036854775807".to_vec(),
            vec![b'x'; 300],
            b"after a long one".to_vec(),
            vec![b'y'; 17000],
            b"-0".to_vec(),
        ];
        let mut z = ZiplistBuilder::new();
        for i in &items {
            z.push(i);
        }
        let blob = z.finish().to_vec();
        let parsed = Ziplist::parse(&blob).unwrap();
        let got: Vec<Vec<u8>> = parsed.iter().map(|e| e.unwrap().to_vec()).collect();
        assert_eq!(got, items);
        assert_eq!(parsed.count().unwrap(), items.len() as u64);
    }
}
