//! Hostile input: mutated corpus AOFs and manifests (bit flips, cuts,
//! inserted bytes, huge counts) go through every AOF code path — both
//! framing dialects, check, repair plans, point-in-time cuts, key history
//! and replay — which may reject them but must never panic or hang.

use std::path::Path;

use rdbtool::aof::history::History;
use rdbtool::aof::read::reader::{AofSink, Command, ReadOptions, ScanState, scan_file};
use rdbtool::aof::read::{Dialect, manifest};
use rdbtool::aof::repair::{find_cut, plan_fix, plan_salvage};
use rdbtool::aof::rewrite::replay::Replayer;
use rdbtool::sink::Flow;

struct Replay(Replayer);
impl<'a> AofSink<'a> for Replay {
    fn command(&mut self, c: &Command<'a>) -> rdbtool::Result<Flow> {
        let args: Vec<&[u8]> = c.argv.iter().collect();
        // Unmodelled commands are errors by design; only panics matter here.
        let _ = self.0.apply(c.db, &args);
        Ok(Flow::Continue)
    }
}

fn exercise(data: &[u8]) {
    let rdb = rdbtool::rdb::read::ReadOptions::default();
    for dialect in [Dialect::Checker, Dialect::Server] {
        let opts = ReadOptions {
            dialect,
            inline: dialect == Dialect::Server,
            ..ReadOptions::default()
        };
        let mut r = Replay(Replayer::new(0));
        let _ = scan_file(data, 0, &opts, &mut ScanState::default(), &mut r);
        let mut h = History::new(b"k1", None, |_| Ok(()));
        let _ = scan_file(data, 0, &opts, &mut ScanState::default(), &mut h);
    }
    let _ = plan_fix(data, &rdb);
    let _ = plan_salvage(data, &rdb);
    let _ = find_cut(data, Some(1_643_690_000), None, &rdb);
    let _ = find_cut(data, None, Some(data.len() as u64 / 2), &rdb);
    let _ = manifest::parse(data);
}

#[test]
fn mutated_aofs_never_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/aof");
    let files = [
        "redis/rdb-preamble.aof",
        "replicator/appendonly-with-ts.aof",
        "replicator/appendonly1.aof",
        "hdt3213/memory.aof",
        "redis-tests/mp_unknown_extra_kv_ok/appendonlydir/appendonly.aof.manifest",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut cases = 0;
    for f in files {
        let orig = std::fs::read(root.join(f)).unwrap();
        exercise(&orig);
        for _ in 0..300 {
            let mut d = orig.clone();
            match next() % 5 {
                0 => {
                    let i = (next() as usize) % d.len();
                    d[i] ^= 1 << (next() % 8);
                }
                1 => d.truncate((next() as usize) % d.len()),
                2 => {
                    let i = (next() as usize) % d.len();
                    let junk: &[u8] = [&b"*99999999999\r\n"[..], b"$-5\r\n", b"\r\n", b"#TS:x\r\n", b"\"", b"*2\r\n$4\r\nLPOP\r\n$1\r\nk\r\n*3\r\n$4\r\nLPOP\r\n$1\r\nk\r\n$19\r\n9223372036854775807\r\n"][(next() % 6) as usize];
                    d.splice(i..i, junk.iter().copied());
                }
                3 => {
                    let i = (next() as usize) % d.len();
                    d[i] = b"*$\r\n#0"[(next() % 6) as usize];
                }
                _ => {
                    let i = (next() as usize) % d.len();
                    let j = (i + (next() as usize) % 64).min(d.len());
                    d.drain(i..j);
                }
            }
            exercise(&d);
            cases += 1;
        }
    }
    assert_eq!(cases, 1500);
}
