//! Values: which layout a target gets ([`choose_layout`]: the encodings the
//! loading server expects, or the source's layout when the target accepts
//! it) and the bytes of that layout ([`ValueEncoder`]), the mirror of
//! [`crate::rdb::read::value`].

use super::intset;
use super::listpack::ListpackBuilder;
use super::prim::{StrEncoder, put_len, put_string_double, score_text};
use super::stream::{self, StreamProblem};
use super::version::RdbVersion;
use super::ziplist::ZiplistBuilder;
use crate::model::RdbLayout;
use crate::model::owned::{HashField, OwnedValue};
use crate::rdb::read::prim::parse_canonical_i64;

/// Elements at least this large get a PLAIN quicklist node (Redis'
/// `packed_threshold`, 1 GiB by default).
const PACKED_THRESHOLD: usize = 1 << 30;
/// Redis' per-element overestimate when deciding whether a quicklist node
/// takes one more element (`SIZE_ESTIMATE_OVERHEAD`).
const SIZE_ESTIMATE_OVERHEAD: usize = 8;
/// Largest hash field expiry servers accept (`EB_EXPIRE_TIME_MAX`).
const FIELD_TTL_MAX: i64 = (1 << 48) - 1;
/// `list-max-ziplist-entries`/`-value` of Redis ≤ 3.0 (RDB 6 lists).
const LIST_ZIPLIST_ENTRIES: usize = 512;
const LIST_ZIPLIST_VALUE: usize = 64;

/// Why a value cannot be written in the layout asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum EncodeProblem {
    /// A zset score is NaN, which no server loads.
    NanScore,
    /// A stream is inconsistent.
    Stream(StreamProblem),
    /// The value's type has no layout in the target.
    Unsupported(&'static str),
}

impl std::fmt::Display for EncodeProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeProblem::NanScore => write!(f, "zset score is NaN"),
            EncodeProblem::Stream(p) => write!(f, "{p}"),
            EncodeProblem::Unsupported(what) => write!(f, "{what}"),
        }
    }
}

fn all_ints(items: &[Vec<u8>]) -> bool {
    items.iter().all(|m| parse_canonical_i64(m).is_some())
}

fn hash_small(fields: &[HashField], entries: u64, value: u64) -> bool {
    fields.len() as u64 <= entries
        && fields
            .iter()
            .all(|f| f.field.len() as u64 <= value && f.value.len() as u64 <= value)
}

/// The layout `v` gets in an RDB of version `t`: the source layout `hint`
/// when `t` accepts it and the value fits it, otherwise what the server
/// that writes `t` would use for this value after loading it.
pub fn choose_layout(
    v: &OwnedValue,
    t: RdbVersion,
    hint: Option<u8>,
) -> Result<RdbLayout, EncodeProblem> {
    use RdbLayout as L;
    let p = t.profile();
    // Type 6 is the one form of a pre-GA module value, whatever the target.
    let pre_ga_module = hint == Some(6);
    let hint = hint.filter(|&b| t.accepts_type(b));
    Ok(match v {
        OwnedValue::String(_) => L::String,
        OwnedValue::List(items) => match hint {
            Some(1) => L::ListLinked,
            Some(10) => L::ListZiplist,
            Some(14) if !t.has_listpacks() => L::ListQuicklist,
            _ if t.has_listpacks() => L::ListQuicklist2,
            _ if t.has_aux() => L::ListQuicklist,
            _ if items.len() <= LIST_ZIPLIST_ENTRIES
                && items.iter().all(|e| e.len() <= LIST_ZIPLIST_VALUE) =>
            {
                L::ListZiplist
            }
            _ => L::ListLinked,
        },
        OwnedValue::Set(items) => {
            let ints = all_ints(items);
            match hint {
                Some(11) if ints => L::SetIntset,
                Some(20) => L::SetListpack,
                Some(2) => L::SetHashtable,
                _ if ints && items.len() as u64 <= p.set_max_intset_entries => L::SetIntset,
                _ if t.has_set_listpack()
                    && items.len() as u64 <= p.set_max_listpack_entries
                    && items
                        .iter()
                        .all(|m| m.len() as u64 <= p.set_max_listpack_value) =>
                {
                    L::SetListpack
                }
                _ => L::SetHashtable,
            }
        }
        OwnedValue::Zset(items) => {
            if items.iter().any(|(_, s)| s.is_nan()) {
                return Err(EncodeProblem::NanScore);
            }
            let small = items.len() as u64 <= p.zset_max_listpack_entries
                && items
                    .iter()
                    .all(|(m, _)| m.len() as u64 <= p.zset_max_listpack_value);
            match hint {
                Some(3) => L::ZsetV1,
                Some(5) => L::ZsetV2,
                Some(12) => L::ZsetZiplist,
                Some(17) => L::ZsetListpack,
                _ if small && t.has_listpacks() => L::ZsetListpack,
                _ if small => L::ZsetZiplist,
                _ if t.has_rdb8() => L::ZsetV2,
                _ => L::ZsetV1,
            }
        }
        OwnedValue::Hash(fields) => {
            let ttl = fields.iter().any(|f| f.expire_ms.is_some());
            if fields
                .iter()
                .filter_map(|f| f.expire_ms)
                .any(|t| !(1..=FIELD_TTL_MAX).contains(&t))
            {
                return Err(EncodeProblem::Unsupported(
                    "hash field expiry outside 1..2^48-1 ms",
                ));
            }
            let small = hash_small(
                fields,
                p.hash_max_listpack_entries,
                p.hash_max_listpack_value,
            );
            if ttl {
                match hint {
                    Some(24) => L::HashMetadata,
                    Some(25) => L::HashListpackEx,
                    _ if t.has_redis_hfe() && small => L::HashListpackEx,
                    _ if t.has_redis_hfe() => L::HashMetadata,
                    _ if t.has_valkey_hfe() => L::ValkeyHash2,
                    _ => {
                        return Err(EncodeProblem::Unsupported(
                            "hash field TTLs need RDB 12 or Valkey 80",
                        ));
                    }
                }
            } else {
                match hint {
                    Some(4) => L::HashHashtable,
                    Some(13) => L::HashZiplist,
                    Some(16) => L::HashListpack,
                    Some(25) => L::HashListpackEx,
                    _ if small && t.has_listpacks() => L::HashListpack,
                    _ if small => L::HashZiplist,
                    _ => L::HashHashtable,
                }
            }
        }
        OwnedValue::Stream(_) => {
            let Some(max) = t.stream_version() else {
                return Err(EncodeProblem::Unsupported("streams need RDB 9"));
            };
            let from_hint = match hint {
                Some(15) => 1,
                Some(19) => 2,
                Some(21) => 3,
                _ => max,
            };
            L::Stream(from_hint.min(max))
        }
        OwnedValue::Module(_) => {
            if !t.has_rdb8() {
                return Err(EncodeProblem::Unsupported("module values need RDB 8"));
            }
            // A pre-GA module value (type 6) has no item annotations: its
            // bytes are only valid under its own type byte (type 7 would
            // make them a corrupt value).
            if pre_ga_module {
                L::ModulePreGa
            } else {
                L::Module2
            }
        }
        OwnedValue::Opaque {
            type_byte, layout, ..
        } => {
            if !t.accepts_type(*type_byte) {
                return Err(EncodeProblem::Unsupported(
                    "this value type is newer than the target version",
                ));
            }
            *layout
        }
    })
}

/// The type byte of a layout this writer produces.
pub fn type_byte(l: RdbLayout) -> u8 {
    use RdbLayout::*;
    match l {
        String => 0,
        ListLinked => 1,
        SetHashtable => 2,
        ZsetV1 => 3,
        HashHashtable => 4,
        ZsetV2 => 5,
        ModulePreGa => 6,
        Module2 => 7,
        HashZipmap => 9,
        ListZiplist => 10,
        SetIntset => 11,
        ZsetZiplist => 12,
        HashZiplist => 13,
        ListQuicklist => 14,
        Stream(1) => 15,
        HashListpack => 16,
        ZsetListpack => 17,
        ListQuicklist2 => 18,
        Stream(2) => 19,
        SetListpack => 20,
        Stream(3) => 21,
        ValkeyHash2 | HashMetadataPreGa => 22,
        HashListpackExPreGa => 23,
        HashMetadata => 24,
        HashListpackEx => 25,
        Stream(4) => 26,
        Stream(_) => 27,
        Array => 28,
        DragonflyHashWithExpiry => 31,
        DragonflySetWithExpiry => 32,
        KeydbCron => 64,
    }
}

/// Encodes values into layouts, reusing its buffers across calls.
pub struct ValueEncoder {
    /// String encoder (LZF on or off).
    pub strs: StrEncoder,
    lp: ListpackBuilder,
    zl: ZiplistBuilder,
    nodes: Vec<u8>,
    ints: Vec<i64>,
    text: Vec<u8>,
    /// Quicklist node byte budget (`list-max-listpack-size`).
    node_bytes: usize,
}

impl ValueEncoder {
    /// A new encoder; `compress` enables LZF (`rdbcompression yes`).
    pub fn new(compress: bool) -> Self {
        ValueEncoder {
            strs: StrEncoder::new(compress),
            lp: ListpackBuilder::new(),
            zl: ZiplistBuilder::new(),
            nodes: Vec::new(),
            ints: Vec::new(),
            text: Vec::new(),
            node_bytes: 8192,
        }
    }

    /// Sets the quicklist node budget in bytes (default 8 KB, i.e.
    /// `list-max-listpack-size -2`).
    pub fn set_node_bytes(&mut self, n: usize) {
        self.node_bytes = n.max(64);
    }

    /// Appends the serialized value of `v` in layout `l` (as chosen by
    /// [`choose_layout`]) to `out`.
    pub fn encode(
        &mut self,
        v: &OwnedValue,
        l: RdbLayout,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeProblem> {
        use RdbLayout as L;
        match (v, l) {
            (OwnedValue::String(s), L::String) => self.strs.put(out, s),
            (OwnedValue::List(items), L::ListQuicklist2) => self.quicklist(items, true, out),
            (OwnedValue::List(items), L::ListQuicklist) => self.quicklist(items, false, out),
            (OwnedValue::List(items), L::ListZiplist) => {
                self.zl.reset();
                items.iter().for_each(|e| self.zl.push(e));
                self.strs.put(out, self.zl.finish());
            }
            (OwnedValue::List(items) | OwnedValue::Set(items), L::ListLinked | L::SetHashtable) => {
                put_len(out, items.len() as u64);
                for e in items {
                    self.strs.put(out, e);
                }
            }
            (OwnedValue::Set(items), L::SetIntset) => {
                self.ints.clear();
                self.ints
                    .extend(items.iter().filter_map(|m| parse_canonical_i64(m)));
                self.nodes.clear();
                intset::encode(&mut self.ints, &mut self.nodes);
                self.strs.put(out, &self.nodes);
            }
            (OwnedValue::Set(items), L::SetListpack) => {
                self.lp.reset();
                items.iter().for_each(|e| self.lp.push(e));
                self.strs.put(out, self.lp.finish());
            }
            (OwnedValue::Zset(items), _) => self.zset(items, l, out)?,
            (OwnedValue::Hash(fields), _) => self.hash(fields, l, out)?,
            (OwnedValue::Stream(s), L::Stream(ver)) => {
                stream::encode(s, ver, &mut self.strs, &mut self.lp, out)
                    .map_err(EncodeProblem::Stream)?;
            }
            (OwnedValue::Module(raw), L::Module2 | L::ModulePreGa) => out.extend_from_slice(raw),
            (OwnedValue::Opaque { raw, .. }, _) => out.extend_from_slice(raw),
            _ => return Err(EncodeProblem::Unsupported("value does not fit the layout")),
        }
        Ok(())
    }

    fn quicklist(&mut self, items: &[Vec<u8>], v2: bool, out: &mut Vec<u8>) {
        self.nodes.clear();
        let mut count = 0u64;
        let mut open = false;
        self.lp.reset();
        self.zl.reset();
        for e in items {
            if v2 && e.len() >= PACKED_THRESHOLD {
                if open {
                    self.flush_node(v2);
                    count += 1;
                    open = false;
                }
                put_len(&mut self.nodes, 1);
                self.strs.put(&mut self.nodes, e);
                count += 1;
                continue;
            }
            let cur = if v2 { self.lp.bytes() } else { self.zl.bytes() };
            if open && cur + e.len() + SIZE_ESTIMATE_OVERHEAD > self.node_bytes {
                self.flush_node(v2);
                count += 1;
            }
            open = true;
            if v2 {
                self.lp.push(e);
            } else {
                self.zl.push(e);
            }
        }
        if open {
            self.flush_node(v2);
            count += 1;
        }
        put_len(out, count);
        out.extend_from_slice(&self.nodes);
    }

    fn flush_node(&mut self, v2: bool) {
        if v2 {
            put_len(&mut self.nodes, 2);
            self.strs.put(&mut self.nodes, self.lp.finish());
            self.lp.reset();
        } else {
            self.strs.put(&mut self.nodes, self.zl.finish());
            self.zl.reset();
        }
    }

    fn zset(
        &mut self,
        items: &[(Vec<u8>, f64)],
        l: RdbLayout,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeProblem> {
        use RdbLayout as L;
        let mut sorted: Vec<&(Vec<u8>, f64)> = items.iter().collect();
        sorted.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        match l {
            L::ZsetListpack | L::ZsetZiplist => {
                let lp = l == L::ZsetListpack;
                self.lp.reset();
                self.zl.reset();
                for (m, s) in sorted {
                    self.text.clear();
                    score_text(&mut self.text, *s);
                    if lp {
                        self.lp.push(m);
                        self.lp.push(&self.text);
                    } else {
                        self.zl.push(m);
                        self.zl.push(&self.text);
                    }
                }
                let blob = if lp {
                    self.lp.finish()
                } else {
                    self.zl.finish()
                };
                self.strs.put(out, blob);
            }
            L::ZsetV2 | L::ZsetV1 => {
                put_len(out, sorted.len() as u64);
                // Skiplists are saved from the highest score down.
                for (m, s) in sorted.into_iter().rev() {
                    self.strs.put(out, m);
                    if l == L::ZsetV2 {
                        out.extend_from_slice(&s.to_le_bytes());
                    } else {
                        put_string_double(out, *s);
                    }
                }
            }
            _ => return Err(EncodeProblem::Unsupported("zset layout")),
        }
        Ok(())
    }

    fn hash(
        &mut self,
        fields: &[HashField],
        l: RdbLayout,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeProblem> {
        use RdbLayout as L;
        let min_ttl = fields.iter().filter_map(|f| f.expire_ms).min();
        match l {
            L::HashListpack | L::HashZiplist => {
                let lp = l == L::HashListpack;
                self.lp.reset();
                self.zl.reset();
                for f in fields {
                    if lp {
                        self.lp.push(&f.field);
                        self.lp.push(&f.value);
                    } else {
                        self.zl.push(&f.field);
                        self.zl.push(&f.value);
                    }
                }
                let blob = if lp {
                    self.lp.finish()
                } else {
                    self.zl.finish()
                };
                self.strs.put(out, blob);
            }
            L::HashHashtable => {
                put_len(out, fields.len() as u64);
                for f in fields {
                    self.strs.put(out, &f.field);
                    self.strs.put(out, &f.value);
                }
            }
            L::HashListpackEx => {
                // Triples ordered by expiry, fields without TTL last.
                let mut order: Vec<&HashField> = fields.iter().collect();
                order.sort_by_key(|f| f.expire_ms.map_or((1, 0), |t| (0, t)));
                out.extend_from_slice(&(min_ttl.unwrap_or(0) as u64).to_le_bytes());
                self.lp.reset();
                for f in order {
                    self.lp.push(&f.field);
                    self.lp.push(&f.value);
                    self.lp.push_int(f.expire_ms.unwrap_or(0));
                }
                self.strs.put(out, self.lp.finish());
            }
            L::HashMetadata => {
                let min = min_ttl.unwrap_or(0);
                out.extend_from_slice(&(min as u64).to_le_bytes());
                put_len(out, fields.len() as u64);
                for f in fields {
                    put_len(out, f.expire_ms.map_or(0, |t| (t - min) as u64 + 1));
                    self.strs.put(out, &f.field);
                    self.strs.put(out, &f.value);
                }
            }
            L::ValkeyHash2 => {
                put_len(out, fields.len() as u64);
                for f in fields {
                    self.strs.put(out, &f.field);
                    self.strs.put(out, &f.value);
                    out.extend_from_slice(&f.expire_ms.unwrap_or(-1).to_le_bytes());
                }
            }
            _ => return Err(EncodeProblem::Unsupported("hash layout")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::owned::OwnedKey;
    use crate::rdb::read::{ReadOptions, Record, Scratch, read};
    use crate::rdb::write::RdbWriter;
    use crate::sink::{Flow, FnSink};

    fn hash(ttls: &[Option<i64>]) -> OwnedValue {
        OwnedValue::Hash(
            ttls.iter()
                .enumerate()
                .map(|(i, t)| HashField {
                    field: format!("f{i}").into_bytes(),
                    value: format!("{}", i * 1000).into_bytes(),
                    expire_ms: *t,
                })
                .collect(),
        )
    }

    /// Writes `v` into a file of `version`, reads it back with the reader,
    /// returns the layout and the decoded value.
    fn round_trip(v: OwnedValue, version: u32) -> (RdbLayout, OwnedValue) {
        let t = RdbVersion::new(version).unwrap();
        let mut w = RdbWriter::new(Vec::new(), t, true).unwrap();
        w.key(&OwnedKey {
            db: 0,
            key: b"k".to_vec(),
            expire_ms: None,
            idle_s: None,
            freq: None,
            value: v,
            source_type: None,
        })
        .unwrap();
        let file = w.finish().unwrap();
        let mut got = None;
        let mut scratch = Scratch::default();
        read(
            &file,
            &ReadOptions::default(),
            &mut FnSink(|r: &Record<'_>| {
                if let Record::Key(k) = r {
                    got = Some((
                        k.value.layout,
                        OwnedValue::from_value(&k.value, &mut scratch)?,
                    ));
                }
                Ok(Flow::Continue)
            }),
        )
        .unwrap();
        got.unwrap()
    }

    #[test]
    fn field_ttls_per_target() {
        let small = hash(&[Some(5_000), None, Some(4_000)]);
        let (l, back) = round_trip(small.clone(), 12);
        assert_eq!(l, RdbLayout::HashListpackEx);
        let OwnedValue::Hash(f) = back else { panic!() };
        let mut f: Vec<_> = f.into_iter().map(|h| (h.field, h.expire_ms)).collect();
        f.sort();
        assert_eq!(
            f,
            [
                (b"f0".to_vec(), Some(5000)),
                (b"f1".to_vec(), None),
                (b"f2".to_vec(), Some(4000))
            ]
        );
        let big = hash(
            &(0..200)
                .map(|i| (i % 2 == 0).then_some(7_000 + i))
                .collect::<Vec<_>>(),
        );
        assert_eq!(round_trip(big.clone(), 12).0, RdbLayout::HashMetadata);
        let (l, back) = round_trip(big, 80);
        assert_eq!(l, RdbLayout::ValkeyHash2);
        let OwnedValue::Hash(f) = back else { panic!() };
        assert_eq!(f[2].expire_ms, Some(7_002));
        assert_eq!(f[1].expire_ms, None);
        assert!(choose_layout(&hash(&[Some(0)]), RdbVersion::new(12).unwrap(), None).is_err());
        assert!(
            choose_layout(&hash(&[Some(1 << 48)]), RdbVersion::new(12).unwrap(), None).is_err()
        );
    }

    #[test]
    fn old_versions_get_old_layouts() {
        let list = OwnedValue::List((0..3000).map(|i| format!("e{i}").into_bytes()).collect());
        assert_eq!(round_trip(list.clone(), 6).0, RdbLayout::ListLinked);
        assert_eq!(round_trip(list.clone(), 7).0, RdbLayout::ListQuicklist);
        let (l, back) = round_trip(list.clone(), 10);
        assert_eq!(l, RdbLayout::ListQuicklist2);
        let (OwnedValue::List(a), OwnedValue::List(b)) = (&list, &back) else {
            panic!()
        };
        assert_eq!(a, b);
        let zset = OwnedValue::Zset(vec![
            (b"a".to_vec(), -0.0),
            (b"b".to_vec(), 1.5),
            (b"c".to_vec(), f64::INFINITY),
        ]);
        assert_eq!(round_trip(zset.clone(), 6).0, RdbLayout::ZsetZiplist);
        let big: Vec<_> = (0..300)
            .map(|i| (format!("m{i}").into_bytes(), i as f64 / 3.0))
            .collect();
        assert_eq!(
            round_trip(OwnedValue::Zset(big.clone()), 7).0,
            RdbLayout::ZsetV1
        );
        let (l, back) = round_trip(OwnedValue::Zset(big.clone()), 8);
        assert_eq!(l, RdbLayout::ZsetV2);
        let OwnedValue::Zset(mut b) = back else {
            panic!()
        };
        b.sort_by(|x, y| x.1.total_cmp(&y.1));
        assert_eq!(
            b.iter().map(|x| x.1.to_bits()).collect::<Vec<_>>(),
            big.iter().map(|x| x.1.to_bits()).collect::<Vec<_>>()
        );
        let (_, back) = round_trip(zset, 10);
        let OwnedValue::Zset(z) = back else { panic!() };
        assert!(z[0].1 == 0.0 && z[0].1.is_sign_negative());
        let set = OwnedValue::Set(vec![b"1".to_vec(), b"x".to_vec()]);
        assert_eq!(round_trip(set.clone(), 10).0, RdbLayout::SetHashtable);
        assert_eq!(round_trip(set, 11).0, RdbLayout::SetListpack);
        let ints = OwnedValue::Set(vec![b"-5".to_vec(), b"70000".to_vec()]);
        assert_eq!(round_trip(ints, 6).0, RdbLayout::SetIntset);
        assert_eq!(round_trip(hash(&[None]), 9).0, RdbLayout::HashZiplist);
    }
}
