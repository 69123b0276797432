//! Recovery of torn and damaged AOF directories written by
//! `rdbtool::persist`: the last INCR file cut at many offsets (inside
//! commands, inside `MULTI`/`EXEC`, after annotations) must recover to
//! exactly the commands that were complete, be truncated like
//! `aof-load-truncated yes` does and reported, and load in redis-server 7.0
//! with the same keyspace; damage that is not a torn tail is an error that
//! names the file and offset.

#[path = "common/persist_redis.rs"]
mod persist_redis;
#[path = "common/persist_state.rs"]
mod persist_state;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use persist_redis::{Rng, Server, TempDir, copy_dir};
use persist_state::{State, redis_state};
use rdbtool::model::owned::{OwnedKey, OwnedValue};
use rdbtool::persist::{AofDir, AofDirOptions, Fsync, PersistError};
use rdbtool::rdb::write::RdbVersion;

fn opts(fsync: Fsync, timestamps: bool) -> AofDirOptions {
    let mut o = AofDirOptions::new(RdbVersion::new(10).unwrap());
    o.appender.fsync = fsync;
    o.appender.timestamps = timestamps;
    o
}

/// A logged unit: one command or a transaction, in a db.
type Unit = (u64, Vec<Vec<Vec<u8>>>);

fn apply(st: &mut State, (db, cmds): &Unit) {
    for c in cmds {
        let a: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
        match &a[..] {
            [b"RPUSH", k, v] => st.rpush(*db, k, v).unwrap(),
            [b"HSET", k, f, v] => st.hset(*db, k, f, v).unwrap(),
            [b"SET", k, v] => st.set(*db, k, v),
            _ => unreachable!(),
        }
    }
}

fn random_unit(rng: &mut Rng, i: u64) -> Unit {
    let one = |rng: &mut Rng| -> Vec<Vec<u8>> {
        let n = i.to_string().into_bytes();
        match rng.below(3) {
            0 => vec![b"RPUSH".to_vec(), b"l".to_vec(), n],
            1 => vec![
                b"HSET".to_vec(),
                b"h".to_vec(),
                format!("f{}", rng.below(9)).into_bytes(),
                n,
            ],
            _ => vec![
                b"SET".to_vec(),
                format!("s{}", rng.below(9)).into_bytes(),
                n,
            ],
        }
    };
    let cmds = if rng.below(4) == 0 {
        (0..2 + rng.below(2)).map(|_| one(rng)).collect()
    } else {
        vec![one(rng)]
    };
    (rng.below(2), cmds)
}

/// Writes a BASE (through a rewrite) and then `units` into the INCR file;
/// returns the INCR path and the file length after each unit.
fn write_dir(dir: &Path, units: &[Unit], base: &[Unit]) -> (PathBuf, Vec<u64>) {
    let (mut aof, app, _) =
        AofDir::open(dir, &opts(Fsync::No, true), &mut State::default()).unwrap();
    let mut st = State::default();
    for u in base {
        apply(&mut st, u);
        let cmds: Vec<Vec<&[u8]>> =
            u.1.iter()
                .map(|c| c.iter().map(Vec::as_slice).collect())
                .collect();
        let cmds: Vec<&[&[u8]]> = cmds.iter().map(Vec::as_slice).collect();
        app.wait(app.enqueue_multi(u.0, &cmds).unwrap()).unwrap();
    }
    aof.rewrite(&app, || {
        st.0.iter()
            .map(|((db, k), v)| OwnedKey {
                db: *db,
                key: k.clone(),
                expire_ms: None,
                idle_s: None,
                freq: None,
                value: match v {
                    persist_state::V::S(s) => OwnedValue::String(s.clone()),
                    persist_state::V::L(l) => OwnedValue::List(l.clone()),
                    persist_state::V::H(h) => OwnedValue::Hash(
                        h.iter()
                            .map(|(f, v)| rdbtool::model::owned::HashField {
                                field: f.clone(),
                                value: v.clone(),
                                expire_ms: None,
                            })
                            .collect(),
                    ),
                },
                source_type: None,
            })
            .collect::<Vec<_>>()
    })
    .unwrap();
    let incr = app.path();
    let mut ends = Vec::new();
    for u in units {
        let cmds: Vec<Vec<&[u8]>> =
            u.1.iter()
                .map(|c| c.iter().map(Vec::as_slice).collect())
                .collect();
        let cmds: Vec<&[&[u8]]> = cmds.iter().map(Vec::as_slice).collect();
        app.wait(app.enqueue_multi(u.0, &cmds).unwrap()).unwrap();
        ends.push(std::fs::metadata(&incr).unwrap().len());
    }
    app.close().unwrap();
    (incr, ends)
}

#[test]
fn torn_tails_recover_to_the_complete_commands_and_load_in_redis() {
    let mut rng = Rng::seeded("torn");
    let t = TempDir::new("torn");
    let src = t.path().join("src");
    let base: Vec<Unit> = (1..=20).map(|i| random_unit(&mut rng, i)).collect();
    let units: Vec<Unit> = (21..=80).map(|i| random_unit(&mut rng, i)).collect();
    let (incr, ends) = write_dir(&src, &units, &base);
    let incr_name = incr.file_name().unwrap().to_owned();
    let size = *ends.last().unwrap();
    let mut base_state = State::default();
    base.iter().for_each(|u| apply(&mut base_state, u));

    // Every unit boundary and its neighbours, plus random offsets.
    let mut cuts: Vec<u64> = ends
        .iter()
        .flat_map(|&e| [e.saturating_sub(1), e, e + 1])
        .filter(|&c| c <= size)
        .collect();
    cuts.extend((0..150).map(|_| rng.below(size + 1)));
    cuts.push(0);
    cuts.sort_unstable();
    cuts.dedup();
    let (mut truncated, mut redis_checked) = (0, 0);
    for (n, &cut) in cuts.iter().enumerate() {
        let d = t.path().join("cut");
        let _ = std::fs::remove_dir_all(&d);
        copy_dir(&src, &d);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(d.join(&incr_name))
            .unwrap();
        f.set_len(cut).unwrap();
        drop(f);
        // A sample also goes to redis-server, as the cut left it.
        let redis_copy = (n % 12 == 0).then(|| {
            let r = t.path().join(format!("redis{n}"));
            copy_dir(&d, &r.join("appendonlydir"));
            r
        });

        let mut want = base_state.clone();
        units
            .iter()
            .zip(&ends)
            .filter(|(_, e)| **e <= cut)
            .for_each(|(u, _)| apply(&mut want, u));
        let complete = ends
            .iter()
            .filter(|e| **e <= cut)
            .max()
            .copied()
            .unwrap_or(0);

        let mut got = State::default();
        let (_, app, report) = AofDir::open(&d, &opts(Fsync::Always, false), &mut got).unwrap();
        drop(app);
        assert_eq!(got, want, "cut at {cut}");
        let len = std::fs::metadata(d.join(&incr_name)).unwrap().len();
        match &report.truncated {
            Some(tr) => {
                truncated += 1;
                assert_eq!(tr.from, cut);
                assert_eq!(
                    tr.to, len,
                    "cut at {cut}: the file is truncated where reported"
                );
                assert!(
                    tr.to >= complete && tr.to < cut,
                    "cut at {cut}: truncated to {}",
                    tr.to
                );
                assert_eq!(tr.path.file_name(), Some(incr_name.as_os_str()));
            }
            None => assert_eq!(
                len, cut,
                "cut at {cut}: no truncation reported, file unchanged"
            ),
        }
        // Idempotent: a second open finds nothing to cut and the same state.
        let mut again = State::default();
        let (_, app, report) = AofDir::open(&d, &opts(Fsync::Always, false), &mut again).unwrap();
        drop(app);
        assert!(
            report.truncated.is_none(),
            "cut at {cut}: second open truncated again"
        );
        assert_eq!(again, want);

        if let Some(r) = redis_copy {
            let s = Server::start(&r, &["--appendonly", "yes"])
                .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            assert_eq!(redis_state(&s), want, "cut at {cut}: redis-server state");
            redis_checked += 1;
        }
    }
    eprintln!(
        "{} cuts, {truncated} truncated, {redis_checked} loaded by redis-server",
        cuts.len()
    );
    assert!(truncated > 50 && redis_checked > 5);
}

#[test]
fn damage_that_is_not_a_torn_tail_is_an_error_naming_file_and_offset() {
    let mut rng = Rng::seeded("damage");
    let t = TempDir::new("damage");
    let units: Vec<Unit> = (1..=10).map(|i| random_unit(&mut rng, i)).collect();
    let (incr, ends) = write_dir(t.path(), &units, &[]);

    // A wrong byte at a record boundary in the last file: corruption.
    let mut data = std::fs::read(&incr).unwrap();
    let at = ends[4] as usize;
    data[at] = b'X';
    std::fs::write(&incr, &data).unwrap();
    let e = AofDir::open(t.path(), &opts(Fsync::Always, false), &mut State::default())
        .err()
        .expect("corruption is refused");
    match &e {
        PersistError::Damaged { path, offset, .. } => {
            assert_eq!(path, &incr);
            assert_eq!(*offset, Some(at as u64), "{e}");
        }
        other => panic!("unexpected error {other}"),
    }
    assert_eq!(
        std::fs::read(&incr).unwrap(),
        data,
        "a refused file is left as it is"
    );

    // An invalid manifest: the server's message.
    let m = t.path().join("appendonly.aof.manifest");
    std::fs::write(&m, b"file a seq 1 type i\n\n").unwrap();
    let e = AofDir::open(t.path(), &opts(Fsync::Always, false), &mut State::default())
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("Invalid AOF manifest file format"),
        "{e}"
    );

    // A torn INCR that is not the last one.
    let t2 = TempDir::new("damage2");
    let (incr1, _) = write_dir(t2.path(), &units, &[]);
    {
        let (mut aof, app, _) = AofDir::open(
            t2.path(),
            &opts(Fsync::Always, false),
            &mut State::default(),
        )
        .unwrap();
        let _start = aof.begin_rewrite(&app).unwrap();
        app.append(0, &[b"SET", b"x", b"1"]).unwrap();
    }
    let len = std::fs::metadata(&incr1).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&incr1)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let e = AofDir::open(
        t2.path(),
        &opts(Fsync::Always, false),
        &mut State::default(),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("not the last one"), "{e}");
    let listed = std::fs::read(t2.path().join("appendonly.aof.manifest")).unwrap();
    assert!(
        listed
            .windows(incr1.file_name().unwrap().len())
            .any(|w| OsStr::from_bytes(w) == incr1.file_name().unwrap())
    );
}
