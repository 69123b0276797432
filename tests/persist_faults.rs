//! Disk full and read-only directories: `rdbtool::persist` reports clear
//! errors (the operation, the file, the OS error) and leaves no corrupt or
//! temporary file behind; what was acknowledged before the failure is
//! recovered and loads in redis-server 7.0.
//!
//! A small tmpfs is mounted when the test may (root); otherwise disk-full
//! is simulated with a file-size limit (`RLIMIT_FSIZE`) on the
//! `mini_server` example, and read-only with a `chmod 0555` directory.

#[path = "common/persist_redis.rs"]
mod persist_redis;
#[path = "common/persist_state.rs"]
mod persist_state;

use std::io::{BufReader, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use persist_redis::{Reply, Server, TempDir, copy_dir, encode, mini_server_bin, read_reply};
use persist_state::{State, redis_state};
use rdbtool::model::owned::{OwnedKey, OwnedValue};
use rdbtool::persist::{AofDir, AofDirOptions, Fsync, PersistError, Snapshot, SnapshotOptions};
use rdbtool::rdb::write::RdbVersion;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `PERSIST_NO_MOUNT=1` forces the fallbacks (to test them as root).
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        if std::env::var_os("PERSIST_NO_MOUNT").is_some() {
            return None;
        }
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
    fn remount(&self, mode: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success(), "remount {mode}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn opts() -> AofDirOptions {
    let mut o = AofDirOptions::new(RdbVersion::new(10).unwrap());
    o.appender.fsync = Fsync::Always;
    o
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn string_keys(n: usize, len: usize) -> Vec<OwnedKey> {
    (0..n)
        .map(|i| OwnedKey {
            db: 0,
            key: format!("big{i}").into_bytes(),
            expire_ms: None,
            idle_s: None,
            freq: None,
            // Incompressible, so the snapshot really is large.
            value: OwnedValue::String({
                let mut rng = persist_redis::Rng(i as u64 * 2 + 1);
                (0..len).map(|_| (rng.next() >> 32) as u8).collect()
            }),
            source_type: None,
        })
        .collect()
}

/// Free bytes on the file system holding `p` (from `df`).
fn fs2_free(p: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df output")
}

/// Recovers `dir` (on a copy, so the failed directory stays as it was) and
/// loads another copy in redis-server; both must hold `want`.
fn check_loads(t: &TempDir, dir: &Path, want: &State) {
    let c = t.path().join("recover");
    let _ = std::fs::remove_dir_all(&c);
    copy_dir(dir, &c);
    let mut got = State::default();
    let (_, app, report) = AofDir::open(&c, &opts(), &mut got).expect("recovery after the failure");
    drop(app);
    assert!(
        report.truncated.is_none(),
        "a failed write left a torn record: {report:?}"
    );
    assert_eq!(&got, want);
    let r = t.path().join("redis");
    let _ = std::fs::remove_dir_all(&r);
    copy_dir(dir, &r.join("appendonlydir"));
    let s = Server::start(&r, &["--appendonly", "yes"]).expect("redis-server loads the directory");
    assert_eq!(&redis_state(&s), want);
}

#[test]
fn disk_full() {
    let t = TempDir::new("full");
    let Some(fs) = Tmpfs::mount(&t.path().join("mnt"), "384k") else {
        eprintln!("disk_full: cannot mount a tmpfs here; using RLIMIT_FSIZE");
        return disk_full_by_rlimit(&t);
    };
    let dir = fs.0.join("appendonlydir");
    let (aof, app, _) = AofDir::open(&dir, &opts(), &mut State::default()).unwrap();
    let mut want = State::default();
    let value = vec![b'v'; 1000];
    // Append until the disk is full: the error names the file and ENOSPC.
    let err = (0..10_000)
        .find_map(|i| {
            let k = format!("k{i}");
            match app.append(0, &[b"SET", k.as_bytes(), &value]) {
                Ok(()) => {
                    want.set(0, k.as_bytes(), &value);
                    None
                }
                Err(e) => Some(e),
            }
        })
        .expect("the disk fills up");
    assert_eq!(err.io_kind(), Some(ErrorKind::StorageFull), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("write") && msg.contains("appendonly.aof.1.incr.aof"),
        "{msg}"
    );
    // Refused from now on, with the original cause.
    let again = app.append(0, &[b"SET", b"x", b"1"]).unwrap_err();
    assert!(
        matches!(
            again,
            PersistError::Stopped {
                kind: ErrorKind::StorageFull,
                ..
            }
        ),
        "{again}"
    );
    drop(app);
    assert_eq!(
        names(&dir)
            .iter()
            .filter(|n| n.starts_with("temp-"))
            .count(),
        0
    );
    check_loads(&t, &dir, &want);

    // A rewrite that does not fit: the BASE fails, nothing half-written
    // stays, the directory loads as before (with the extra INCR Redis also
    // keeps after a failed rewrite). Start over with ~100 KiB free.
    drop(aof);
    std::fs::remove_dir_all(&dir).unwrap();
    let (mut aof, app, _) = AofDir::open(&dir, &opts(), &mut State::default()).unwrap();
    app.append(0, &[b"SET", b"a", b"1"]).unwrap();
    let free = fs2_free(&fs.0);
    std::fs::write(fs.0.join("filler"), vec![0u8; (free - 100 * 1024) as usize]).unwrap();
    let before = names(&dir);
    let e = aof.rewrite(&app, || string_keys(400, 1000)).unwrap_err();
    assert_eq!(e.io_kind(), Some(ErrorKind::StorageFull), "{e}");
    assert!(
        e.to_string().contains("temp-"),
        "the error names the snapshot being written: {e}"
    );
    let after = names(&dir);
    assert!(after.iter().all(|n| !n.starts_with("temp-")), "{after:?}");
    assert!(after.len() <= before.len() + 1, "{before:?} -> {after:?}");
    app.append(0, &[b"SET", b"b", b"2"]).unwrap();
    drop(app);
    let mut want2 = State::default();
    want2.set(0, b"a", b"1");
    want2.set(0, b"b", b"2");
    check_loads(&t, &dir, &want2);

    // A snapshot that does not fit leaves the previous one intact.
    std::fs::remove_file(fs.0.join("filler")).unwrap();
    let dump = fs.0.join("dump.rdb");
    let opts = SnapshotOptions::new(RdbVersion::new(10).unwrap());
    Snapshot::write(&dump, &opts, string_keys(2, 100)).unwrap();
    let old = std::fs::read(&dump).unwrap();
    let e = Snapshot::write(&dump, &opts, string_keys(400, 1000)).unwrap_err();
    assert_eq!(e.io_kind(), Some(ErrorKind::StorageFull), "{e}");
    assert_eq!(std::fs::read(&dump).unwrap(), old);
    assert!(names(&fs.0).iter().all(|n| !n.starts_with("temp-")));
}

/// Without mount rights: the mini_server example under a 64 KiB file-size
/// limit (SIGXFSZ ignored, so writes fail with EFBIG).
fn disk_full_by_rlimit(t: &TempDir) {
    let srv = t.path().join("srv");
    let mut child = Command::new("bash")
        .args(["-c", "trap '' XFSZ; ulimit -f 64; exec \"$0\" \"$@\""])
        .arg(mini_server_bin())
        .arg("--dir")
        .arg(&srv)
        .args(["--fsync", "always"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = child.stdin.take().unwrap();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut want = State::default();
    let value = vec![b'v'; 1000];
    for i in 0..1000 {
        let k = format!("k{i}");
        let mut b = Vec::new();
        encode(&[b"SET", k.as_bytes(), &value], &mut b);
        if w.write_all(&b).is_err() {
            break;
        }
        match read_reply(&mut r) {
            Ok(Reply::Status(_)) => want.set(0, k.as_bytes(), &value),
            _ => break,
        }
    }
    drop(w);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("File too large") && err.contains("incr.aof"),
        "{err}"
    );
    check_loads(t, &srv.join("appendonlydir"), &want);
}

#[test]
fn read_only_directory() {
    let t = TempDir::new("ro");
    let mnt = t.path().join("mnt");
    let fs = Tmpfs::mount(&mnt, "4m");
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if fs.is_none() && is_root {
        eprintln!(
            "read_only_directory: root without mount rights: permissions do not apply; skipped"
        );
        return;
    }
    let dir = mnt.join("appendonlydir");
    let mut want = State::default();
    {
        let (_, app, _) = AofDir::open(&dir, &opts(), &mut State::default()).unwrap();
        app.append(0, &[b"SET", b"a", b"1"]).unwrap();
        want.set(0, b"a", b"1");
    }
    let before: Vec<(String, Vec<u8>)> = names(&dir)
        .into_iter()
        .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
        .collect();
    let make_ro = |ro: bool| match &fs {
        Some(f) => f.remount(if ro { "ro" } else { "rw" }),
        None => {
            use std::os::unix::fs::PermissionsExt;
            let mode = if ro { 0o555 } else { 0o755 };
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
            for n in names(&dir) {
                std::fs::set_permissions(
                    dir.join(n),
                    std::fs::Permissions::from_mode(mode & 0o644),
                )
                .unwrap();
            }
        }
    };
    make_ro(true);
    let e = AofDir::open(&dir, &opts(), &mut State::default())
        .err()
        .expect("cannot append in a read-only directory");
    let kind = e.io_kind();
    assert!(
        matches!(
            kind,
            Some(ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied)
        ),
        "{e}"
    );
    assert!(e.to_string().contains("appendonly.aof.1.incr.aof"), "{e}");
    let e = Snapshot::write(
        &mnt.join("dump.rdb"),
        &SnapshotOptions::new(RdbVersion::new(10).unwrap()),
        string_keys(1, 10),
    )
    .unwrap_err();
    assert!(e.to_string().contains("dump.rdb"), "{e}");
    // Nothing changed.
    let now: Vec<(String, Vec<u8>)> = names(&dir)
        .into_iter()
        .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
        .collect();
    assert_eq!(before, now);
    make_ro(false);
    check_loads(&t, &dir, &want);
}
