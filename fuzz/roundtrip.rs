//! Round-trip checks for the fuzz harness: a file's logical content
//! ([`content`]), read → RDB writer → read ([`rdb_roundtrip`]), and records
//! generated from fuzz bytes → writer at several target versions → reader
//! ([`records_roundtrip`]). A mismatch panics, so libFuzzer reports it as a
//! crash and the stable tests fail on it.

use arbitrary::Unstructured;

use rdbtool::model::owned::{HashField, OwnedKey, OwnedValue};
use rdbtool::rdb::read::stream::{Consumer, Group, PendingEntry, StreamEntry, StreamValue};
use rdbtool::rdb::read::{Header, ReadOptions, Record, Scratch, StreamId, read};
use rdbtool::rdb::write::prim::{put_len, put_raw_str};
use rdbtool::rdb::write::{RdbSink, RdbSinkOptions, RdbVersion, RdbWriter, Verdict, adapt};
use rdbtool::sink::{Flow, RecordSink};

/// One key's logical content: db, key, expiry, eviction hints and the value
/// in a canonical form (unordered collections sorted, NaN scores unified,
/// stream node layout, stored length and derived counters left out).
pub type KeyContent = (u64, Vec<u8>, Option<i64>, Option<u64>, Option<u8>, String);

/// A file's logical content: its keys in file order and its function
/// libraries (AUX fields and hints describe the writer, not the data).
#[derive(Debug, Default, PartialEq)]
pub struct Content {
    /// Keys in file order (empty aggregates left out: servers skip them).
    pub keys: Vec<KeyContent>,
    /// Function library sources.
    pub functions: Vec<Vec<u8>>,
}

fn canon_score(s: f64) -> u64 {
    if s.is_nan() {
        f64::NAN.to_bits()
    } else {
        s.to_bits()
    }
}

/// A group with its PELs in ID order (servers keep them in radix trees:
/// the order in a file carries no meaning).
fn canon_group(g: &Group) -> String {
    let mut pel: Vec<_> = g
        .pending
        .iter()
        .map(|p| {
            (
                (p.id.ms, p.id.seq),
                p.delivery_time_ms,
                p.delivery_count,
                &p.consumer,
            )
        })
        .collect();
    pel.sort();
    let cons: Vec<_> = g
        .consumers
        .iter()
        .map(|c| {
            let mut ids: Vec<_> = c.pending.iter().map(|i| (i.ms, i.seq)).collect();
            ids.sort();
            (&c.name, c.seen_time_ms, ids)
        })
        .collect();
    format!("{:?}{:?}{pel:?}{cons:?}", g.name, g.last_id)
}

/// The canonical text of a value (for comparison only, never shown).
pub fn canon_value(v: &OwnedValue) -> String {
    match v {
        OwnedValue::String(s) => format!("s{s:?}"),
        OwnedValue::List(l) => format!("l{l:?}"),
        OwnedValue::Set(s) => {
            // A member stored twice (a damaged intset) is one member: the
            // writer's intset encoding keeps one.
            let mut s = s.clone();
            s.sort();
            s.dedup();
            format!("S{s:?}")
        }
        OwnedValue::Zset(z) => {
            let mut z: Vec<_> = z.iter().map(|(m, s)| (m, canon_score(*s))).collect();
            z.sort();
            format!("z{z:?}")
        }
        OwnedValue::Hash(h) => {
            let mut h: Vec<_> = h
                .iter()
                .map(|f| (&f.field, &f.value, f.expire_ms))
                .collect();
            h.sort();
            format!("h{h:?}")
        }
        OwnedValue::Stream(s) => {
            let groups: Vec<_> = s.groups.iter().map(canon_group).collect();
            // The stored length is left out: old files with trimmed
            // streams disagree with their entries, and a re-encode writes
            // the count of the entries.
            format!("x{:?}{:?}{groups:?}", s.meta.last_id, s.entries)
        }
        OwnedValue::Module(m) => format!("m{m:?}"),
        OwnedValue::Opaque { type_byte, raw, .. } => format!("o{type_byte}{raw:?}"),
    }
}

/// Collects [`Content`]; the first value that does not decode is kept in
/// `failed` (the content is then incomplete and not compared).
#[derive(Default)]
struct Collect {
    content: Content,
    failed: bool,
    version: Option<(rdbtool::model::Flavor, u32)>,
    scratch: Scratch,
}

impl RecordSink for Collect {
    fn header(&mut self, h: &Header) -> rdbtool::Result<()> {
        self.version = Some((h.flavor, h.version));
        Ok(())
    }
    fn record(&mut self, r: &Record<'_>) -> rdbtool::Result<Flow> {
        match r {
            Record::Key(k) => {
                let (Ok(key), Ok(v)) = (
                    k.key.to_vec(),
                    OwnedValue::from_value(&k.value, &mut self.scratch),
                ) else {
                    self.failed = true;
                    return Ok(Flow::Stop);
                };
                if !v.is_empty() {
                    let c = canon_value(&v);
                    self.content
                        .keys
                        .push((k.db, key, k.expire_ms, k.idle_s, k.freq, c));
                }
            }
            Record::Function { code } => match code.to_vec() {
                Ok(c) => self.content.functions.push(c),
                Err(_) => self.failed = true,
            },
            // A release-candidate function is rewritten by the writer.
            Record::FunctionPreGa { .. } | Record::ModuleAux { .. } => self.failed = true,
            _ => {}
        }
        Ok(Flow::Continue)
    }
}

/// Reads `data` with `opts` and returns its content, or `None` when the
/// file does not read or a value does not decode.
pub fn content(data: &[u8], opts: &ReadOptions) -> Option<(Content, rdbtool::model::Flavor, u32)> {
    let mut c = Collect::default();
    let t = read(data, opts, &mut c).ok()?;
    let (f, v) = c.version?;
    (!c.failed && !t.stopped).then_some((c.content, f, v))
}

/// read → RDB writer (verbatim copies, then every value re-encoded) → read:
/// for an input that reads and decodes, at a version the writer produces,
/// the output must read back with the same content.
pub fn rdb_roundtrip(data: &[u8]) {
    let relaxed = ReadOptions {
        verify_checksum: false,
        relaxed_version: true,
        salvage: false,
    };
    let Some((before, _, version)) = content(data, &relaxed) else {
        return;
    };
    let Some(target) = RdbVersion::new(version) else {
        return;
    };
    for reencode in [false, true] {
        let opts = RdbSinkOptions {
            version: Some(target),
            reencode,
            ..RdbSinkOptions::default()
        };
        let mut sink = RdbSink::new(Vec::new(), opts);
        if read(data, &relaxed, &mut sink).is_err() {
            // Refused (a feature the version cannot hold in this layout) or
            // a value the writer cannot re-encode: nothing to compare.
            continue;
        }
        let out = sink.into_inner().unwrap_or_default();
        let after = content(&out, &ReadOptions::default());
        let Some((after, _, v)) = after else {
            panic!(
                "rdb_roundtrip: the writer's output (reencode {reencode}) does not read back: {}",
                read(&out, &ReadOptions::default(), &mut Collect::default())
                    .err()
                    .map_or("a value does not decode".into(), |e| e.to_string())
            );
        };
        assert_eq!(v, version, "rdb_roundtrip: version changed");
        if let Some(d) = first_difference(&before, &after) {
            panic!("rdb_roundtrip: content changed (reencode {reencode}): {d}");
        }
    }
}

/// The first key (or function list) that differs: its index and both
/// texts around the first differing character.
fn first_difference(a: &Content, b: &Content) -> Option<String> {
    let around = |x: &str, y: &str| {
        let at = x.bytes().zip(y.bytes()).take_while(|(p, q)| p == q).count();
        let w = |s: &str| {
            let b = s.as_bytes();
            String::from_utf8_lossy(&b[at.saturating_sub(200)..(at + 200).min(b.len())])
                .into_owned()
        };
        format!("at byte {at}:\n  {}\n  {}", w(x), w(y))
    };
    if a.functions != b.functions {
        return Some(around(
            &format!("{:?}", a.functions),
            &format!("{:?}", b.functions),
        ));
    }
    let n = a.keys.len().max(b.keys.len());
    (0..n).find_map(|i| {
        let (x, y) = (a.keys.get(i), b.keys.get(i));
        (x != y).then(|| {
            format!(
                "key #{i} of {}/{}, {}",
                a.keys.len(),
                b.keys.len(),
                around(&format!("{x:?}"), &format!("{y:?}"))
            )
        })
    })
}

/// Versions `records_roundtrip` writes: every Redis version the writer
/// produces and Valkey 9.
const VERSIONS: &[u32] = &[6, 7, 8, 9, 10, 11, 12, 80];

fn bytes(u: &mut Unstructured<'_>, max: usize) -> arbitrary::Result<Vec<u8>> {
    let n = u.int_in_range(0..=max)?;
    // Mostly short numeric-looking or repeated text (exercising integer
    // and LZF encodings), otherwise raw bytes.
    Ok(match u.int_in_range(0..=3u8)? {
        0 => u.int_in_range(-70000i64..=70000)?.to_string().into_bytes(),
        1 => vec![u.arbitrary::<u8>()?; n * 8],
        _ => u.bytes(n)?.to_vec(),
    })
}

fn unique(u: &mut Unstructured<'_>, max: usize) -> arbitrary::Result<Vec<Vec<u8>>> {
    let n = u.int_in_range(0..=max)?;
    let mut v: Vec<Vec<u8>> = Vec::with_capacity(n);
    for _ in 0..n {
        let b = bytes(u, 24)?;
        if !v.contains(&b) {
            v.push(b);
        }
    }
    Ok(v)
}

fn id(u: &mut Unstructured<'_>, after: StreamId) -> arbitrary::Result<StreamId> {
    let step = u.int_in_range(1..=1000u64)?;
    Ok(if u.arbitrary()? {
        StreamId {
            ms: after.ms + step,
            seq: u.int_in_range(0..=3)?,
        }
    } else {
        StreamId {
            ms: after.ms,
            seq: after.seq + step,
        }
    })
}

fn stream(u: &mut Unstructured<'_>) -> arbitrary::Result<StreamValue> {
    let mut s = StreamValue {
        meta: Default::default(),
        entries: Vec::new(),
        groups: Vec::new(),
    };
    let mut last = StreamId::default();
    for _ in 0..u.int_in_range(1..=6)? {
        last = id(u, last)?;
        let n = u.int_in_range(1..=3)?;
        let mut fields = Vec::new();
        for _ in 0..n {
            fields.push((bytes(u, 8)?, bytes(u, 8)?));
        }
        s.entries.push(StreamEntry { id: last, fields });
    }
    s.meta.length = s.entries.len() as u64;
    s.meta.last_id = last;
    s.meta.first_id = Some(s.entries[0].id);
    s.meta.max_deleted_id = Some(StreamId::default());
    s.meta.entries_added = Some(s.entries.len() as u64);
    for gi in 0..u.int_in_range(0..=2)? {
        let consumers: Vec<Vec<u8>> = (0..u.int_in_range(0..=2)?)
            .map(|c| format!("c{c}").into_bytes())
            .collect();
        let mut g = Group {
            name: format!("g{gi}").into_bytes(),
            last_id: last,
            entries_read: Some(s.entries.len() as u64),
            pending: Vec::new(),
            consumers: consumers
                .iter()
                .map(|n| Consumer {
                    name: n.clone(),
                    seen_time_ms: 1_700_000_000_000,
                    active_time_ms: Some(1_700_000_000_000),
                    pending: Vec::new(),
                })
                .collect(),
            nacked: Vec::new(),
        };
        if !consumers.is_empty() {
            for e in &s.entries {
                if u.arbitrary()? {
                    let c = u.choose_index(consumers.len())?;
                    g.pending.push(PendingEntry {
                        id: e.id,
                        delivery_time_ms: 1_700_000_000_000,
                        delivery_count: 1,
                        consumer: Some(consumers[c].clone()),
                    });
                    g.consumers[c].pending.push(e.id);
                }
            }
        }
        s.meta.groups += 1;
        s.groups.push(g);
    }
    Ok(s)
}

/// A module value: its id, then typed items, then EOF (module.rs's walk).
fn module(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<u8>> {
    let mut m = Vec::new();
    put_len(&mut m, u.int_in_range(1..=(1u64 << 50))? << 10);
    for _ in 0..u.int_in_range(0..=4)? {
        match u.int_in_range(1..=5u8)? {
            1 | 2 => {
                put_len(&mut m, 2);
                put_len(&mut m, u.arbitrary::<u32>()?.into());
            }
            3 => {
                put_len(&mut m, 3);
                m.extend_from_slice(&u.arbitrary::<f32>()?.to_le_bytes());
            }
            4 => {
                put_len(&mut m, 4);
                m.extend_from_slice(&u.arbitrary::<f64>()?.to_le_bytes());
            }
            _ => {
                put_len(&mut m, 5);
                put_raw_str(&mut m, &bytes(u, 16)?);
            }
        }
    }
    put_len(&mut m, 0);
    Ok(m)
}

fn value(u: &mut Unstructured<'_>) -> arbitrary::Result<OwnedValue> {
    Ok(match u.int_in_range(0..=6u8)? {
        0 => OwnedValue::String(bytes(u, 64)?),
        1 => OwnedValue::List(
            (0..u.int_in_range(1..=12)?)
                .map(|_| bytes(u, 24))
                .collect::<arbitrary::Result<_>>()?,
        ),
        2 => OwnedValue::Set(unique(u, 12)?),
        3 => OwnedValue::Zset(
            unique(u, 12)?
                .into_iter()
                .map(|m| {
                    let s: f64 = u.arbitrary()?;
                    Ok((m, if s.is_nan() { 0.5 } else { s }))
                })
                .collect::<arbitrary::Result<_>>()?,
        ),
        4 => OwnedValue::Hash(
            unique(u, 12)?
                .into_iter()
                .map(|field| {
                    let expire_ms = if u.int_in_range(0..=3u8)? == 0 {
                        Some(u.int_in_range(1_700_000_000_000i64..=1_900_000_000_000)?)
                    } else {
                        None
                    };
                    Ok(HashField {
                        field,
                        value: bytes(u, 24)?,
                        expire_ms,
                    })
                })
                .collect::<arbitrary::Result<_>>()?,
        ),
        5 => OwnedValue::Stream(Box::new(stream(u)?)),
        _ => OwnedValue::Module(module(u)?),
    })
}

fn key(u: &mut Unstructured<'_>) -> arbitrary::Result<OwnedKey> {
    let hint = u.int_in_range(0..=2u8)?;
    Ok(OwnedKey {
        db: u.int_in_range(0..=3)?,
        key: bytes(u, 16)?,
        expire_ms: if u.arbitrary()? {
            Some(u.arbitrary()?)
        } else {
            None
        },
        idle_s: (hint == 1).then_some(12345),
        freq: (hint == 2).then_some(7),
        value: value(u)?,
        source_type: None,
    })
}

struct Empty;
impl RecordSink for Empty {
    fn record(&mut self, _: &Record<'_>) -> rdbtool::Result<Flow> {
        Ok(Flow::Continue)
    }
}

/// Keys generated from `data` → writer at each target version (compressed
/// or not, as the input says) → reader: the content read back is the
/// content written (after adaptation to the version; keys the version
/// cannot hold without a loss are left out).
pub fn records_roundtrip(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(compress) = u.arbitrary::<bool>() else {
        return;
    };
    let mut keys = Vec::new();
    while keys.len() < 16 && !u.is_empty() {
        match key(&mut u) {
            Ok(k) => keys.push(k),
            Err(_) => break,
        }
    }
    for &n in VERSIONS {
        let Some(t) = RdbVersion::new(n) else {
            continue;
        };
        let mut w = RdbWriter::new(Vec::new(), t, compress).expect("writer into a Vec");
        let mut expected = Content::default();
        for k in &keys {
            let mut k = k.clone();
            if adapt(&mut k, t, &[]) != Ok(Verdict::Keep) || k.value.is_empty() {
                continue;
            }
            if let OwnedValue::Module(_) = k.value
                && !t.has_rdb8()
            {
                continue;
            }
            expected.keys.push((
                k.db,
                k.key.clone(),
                k.expire_ms,
                k.idle_s,
                k.freq,
                canon_value(&k.value),
            ));
            w.key(&k).unwrap_or_else(|e| {
                panic!("records_roundtrip: RDB {n} refused an adapted key: {e}")
            });
        }
        let out = w.finish().expect("finish into a Vec");
        let got = content(&out, &ReadOptions::default());
        let Some((got, _, v)) = got else {
            let e = read(&out, &ReadOptions::default(), &mut Empty).err();
            panic!(
                "records_roundtrip: RDB {n} output does not read back: {}",
                e.map_or("a value does not decode".into(), |e| e.to_string())
            );
        };
        assert_eq!(v, n, "records_roundtrip: header version");
        if let Some(d) = first_difference(&expected, &got) {
            panic!("records_roundtrip: RDB {n} content differs: {d}");
        }
    }
}
