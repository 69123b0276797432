//! Seed extractor: `seeds OUT_DIR FILE...` reads RDB files and writes, per
//! fuzz target, the structures found in them (`OUT_DIR/<target>/<hash>`):
//! whole values for `rdb_value`, decompressed listpacks, ziplists, intsets
//! and zipmaps, LZF strings, stream nodes and module item streams; DUMP
//! payloads of every value (`dump_payload`), and one-key JSONL and CSV
//! exports (`import_jsonl`, `import_csv`). Run by
//! `run-all.sh` so the inner targets start from real server output instead
//! of from nothing. Nothing it writes is committed.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use rdbtool::export::csv_keys::CsvKeys;
use rdbtool::export::json::{JsonExporter, JsonMode};
use rdbtool::model::RdbLayout;
use rdbtool::rdb::read::prim::{length, string};
use rdbtool::rdb::read::stream::{self, StreamVisitor};
use rdbtool::rdb::read::{Header, RdbStr, ReadOptions, Record, read};
use rdbtool::sink::{Flow, RecordSink};

/// Seeds kept per target and input file: big files hold thousands of
/// values of the same shape, which only slow the fuzzer down.
const PER_FILE: usize = 300;

struct Out {
    dir: PathBuf,
    written: usize,
    /// Seeds written per target for the current file.
    this_file: std::collections::HashMap<&'static str, usize>,
}

impl Out {
    fn put(&mut self, target: &'static str, data: &[u8]) {
        let n = self.this_file.entry(target).or_default();
        if data.is_empty() || data.len() > 1 << 16 || *n >= PER_FILE {
            return;
        }
        *n += 1;
        let mut h = DefaultHasher::new();
        data.hash(&mut h);
        let d = self.dir.join(target);
        let _ = std::fs::create_dir_all(&d);
        let p = d.join(format!("{:016x}", h.finish()));
        if !p.exists() && std::fs::write(&p, data).is_ok() {
            self.written += 1;
        }
    }

    /// An RDB string: its LZF form as an `lzf` seed, its bytes to `then`.
    fn string(&mut self, s: &RdbStr<'_>, then: Option<&'static str>) {
        if let RdbStr::Lzf { packed, len } = *s
            && let Ok(l) = u16::try_from(len)
        {
            let mut v = l.to_le_bytes().to_vec();
            v.extend_from_slice(packed);
            self.put("lzf", &v);
        }
        if let Some(t) = then {
            let mut buf = Vec::new();
            if let Ok(b) = s.bytes(&mut buf) {
                let b = b.to_vec();
                self.put(t, &b);
            }
        }
    }
}

struct Nodes<'a>(Vec<RdbStr<'a>>);
impl<'a> StreamVisitor<'a> for Nodes<'a> {
    fn node(&mut self, _key: RdbStr<'a>, lp: RdbStr<'a>) {
        self.0.push(lp);
    }
}

struct Sink<'o> {
    out: &'o mut Out,
    sel: u8,
    header: Option<Header>,
    version: u16,
}

impl Sink<'_> {
    /// The key as a one-key JSONL export (header line first) and CSV table.
    fn exports(&mut self, r: &Record<'_>) {
        let Some(h) = self.header else { return };
        let mut j = JsonExporter::new(Vec::new(), JsonMode::Lines, None);
        if j.header(&h).is_ok() && j.record(r).is_ok() {
            self.out.put("import_jsonl", &j.into_inner());
        }
        if let Ok(mut c) = CsvKeys::new(Vec::new())
            && c.record(r).is_ok()
            && let Ok(b) = c.into_inner()
        {
            self.out.put("import_csv", &b);
        }
    }
}

impl RecordSink for Sink<'_> {
    fn header(&mut self, h: &Header) -> rdbtool::Result<()> {
        self.sel = rdbtool_fuzz::selector(h.flavor, h.version);
        self.header = Some(*h);
        self.version = h.version as u16;
        Ok(())
    }

    fn record(&mut self, r: &Record<'_>) -> rdbtool::Result<Flow> {
        let Record::Key(k) = r else {
            if let Record::ModuleAux { raw, .. } = r {
                self.out.put("module_items", raw);
            }
            return Ok(Flow::Continue);
        };
        let v = &k.value;
        let mut seed = vec![v.type_byte, self.sel];
        seed.extend_from_slice(v.raw);
        self.out.put("rdb_value", &seed);
        let mut payload = Vec::new();
        rdbtool::dump::write::from_raw(&mut payload, v.type_byte, v.raw, self.version);
        self.out.put("dump_payload", &payload);
        self.exports(r);
        use RdbLayout::*;
        let blob_target = match v.layout {
            HashZipmap => Some("zipmap"),
            ListZiplist | ZsetZiplist | HashZiplist => Some("ziplist"),
            SetIntset => Some("intset"),
            HashListpack | ZsetListpack | SetListpack | HashListpackEx | HashListpackExPreGa => {
                Some("listpack")
            }
            _ => None,
        };
        let raw = if v.layout == HashListpackEx {
            v.raw.get(8..).unwrap_or_default()
        } else {
            v.raw
        };
        match v.layout {
            _ if blob_target.is_some() => {
                if let Ok((_, s)) = string(raw) {
                    self.out.string(&s, blob_target);
                }
            }
            String => {
                if let Ok((_, s)) = string(raw) {
                    self.out.string(&s, None);
                }
            }
            ListQuicklist | ListQuicklist2 => {
                let v2 = v.layout == ListQuicklist2;
                if let Ok((mut r, n)) = length(raw) {
                    for _ in 0..n {
                        if v2 {
                            match length(r) {
                                Ok((r2, _)) => r = r2,
                                Err(_) => break,
                            }
                        }
                        let Ok((r2, s)) = string(r) else { break };
                        self.out
                            .string(&s, Some(if v2 { "listpack" } else { "ziplist" }));
                        r = r2;
                    }
                }
            }
            Stream(ver) => {
                let mut nodes = Nodes(Vec::new());
                if stream::walk(raw, ver, &mut nodes).is_ok() {
                    for lp in &nodes.0 {
                        self.out.string(lp, Some("stream_node"));
                        self.out.string(lp, Some("listpack"));
                    }
                }
            }
            Module2 => self.out.put("module_items", raw),
            _ => {}
        }
        Ok(Flow::Continue)
    }
}

fn walk(p: &Path, files: &mut Vec<PathBuf>) {
    if p.is_dir() {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                walk(&e.path(), files);
            }
        }
    } else {
        files.push(p.to_path_buf());
    }
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: seeds OUT_DIR FILE_OR_DIR...");
        std::process::exit(2);
    };
    let mut out = Out {
        dir: PathBuf::from(dir),
        written: 0,
        this_file: Default::default(),
    };
    let mut files = Vec::new();
    for a in args {
        walk(Path::new(&a), &mut files);
    }
    let opts = ReadOptions {
        verify_checksum: false,
        relaxed_version: true,
        salvage: false,
    };
    for f in &files {
        let Ok(data) = std::fs::read(f) else { continue };
        out.this_file.clear();
        // Only files with an RDB header (DUMP payloads and AOFs are skipped).
        if data.starts_with(b"REDIS") || data.starts_with(b"VALKEY") {
            let _ = read(
                &data,
                &opts,
                &mut Sink {
                    out: &mut out,
                    sel: 0,
                    header: None,
                    version: 0,
                },
            );
        }
    }
    println!("{} seeds from {} files", out.written, files.len());
}
