//! Salvage on damaged files written by redis-server 7.0 and 8.2: random
//! byte ranges are overwritten with random bytes, and the records read
//! back from bytes outside the damaged ranges (and outside the keys those
//! ranges touch) must be exactly the keys the file holds there: same
//! extent, db, key and value, none missing, none false. (A key whose
//! db's SELECTDB was damaged counts as damaged: nothing tells its db.)
//! Files: `corpus/redis-{7.0,8.2}/encodings.rdb` (every encoding), larger
//! files the test has a fresh redis-server write from seeded data, and
//! the files a tool (redis-rdb-cli) wrote in `../shared/corpus`.
//!
//! Resynchronisation is a heuristic (RDB has no per-record checksum or
//! marker): the copies where it fails are listed with their damage and
//! skipped ranges, and their share is bounded by what was measured
//! (`RDBTOOL_SALVAGE_COPIES=N` measures over N copies per file,
//! `RDBTOOL_SALVAGE_FROM=M` only over those from copy M on,
//! `RDBTOOL_SALVAGE_DUMP=DIR` writes each failing copy there).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdbtool::rdb::read::{Checksum, ReadOptions, Record, Scratch, read, validate};
use rdbtool::sink::{Flow, FnSink};

/// A key record: its extent in the file, its db, its key and its
/// serialized value.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Key {
    start: usize,
    end: usize,
    db: u64,
    key: Vec<u8>,
    value: Vec<u8>,
}

impl Key {
    fn overlaps(&self, ranges: &[std::ops::Range<usize>]) -> bool {
        ranges
            .iter()
            .any(|r| r.start < self.end && self.start < r.end)
    }
}

fn keys_of(data: &[u8], salvage: bool) -> (Vec<Key>, Vec<String>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let opts = ReadOptions {
        salvage,
        ..ReadOptions::default()
    };
    read(
        data,
        &opts,
        &mut FnSink(|r: &Record<'_>| {
            match r {
                Record::Key(k) => out.push(Key {
                    start: k.offset as usize,
                    end: k.end as usize,
                    db: k.db,
                    key: k.key.to_vec().unwrap(),
                    value: k.value.raw.to_vec(),
                }),
                Record::Skipped {
                    start, end, error, ..
                } => {
                    // (An empty range is a failure: the test checks that
                    // every listed range is non-empty.)
                    skipped.push(format!("{start}..{end} ({error})"));
                }
                _ => {}
            }
            Ok(Flow::Continue)
        }),
    )
    .expect("reads (salvage never fails on damaged data after a good header)");
    (out, skipped)
}

/// For each key of an intact file (as [`keys_of`] lists them), where the
/// SELECTDB (and RESIZEDB) that selected its db lies: from the end of the
/// previous db's last key to the db's first key. `None` for the keys of
/// the file's first db, which a reader takes for db 0 with or without it
/// (in a server's file it is db 0).
fn db_selections(data: &[u8]) -> Vec<Option<std::ops::Range<usize>>> {
    let (mut out, mut last_end, mut pending, mut current) = (Vec::new(), None, None, None);
    read(
        data,
        &ReadOptions::default(),
        &mut FnSink(|r: &Record<'_>| {
            match r {
                Record::SelectDb { .. } => pending = last_end,
                Record::Key(k) => {
                    if let Some(from) = pending.take() {
                        current = Some(from..k.offset as usize);
                    }
                    out.push(current.clone());
                    last_end = Some(k.end as usize);
                }
                _ => {}
            }
            Ok(Flow::Continue)
        }),
    )
    .expect("an intact file reads");
    out
}

/// xorshift64*: a fixed, seeded sequence so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What the damaged copies of one file gave.
#[derive(Default, Debug)]
struct Tally {
    copies: usize,
    /// Keys wholly outside every damaged range, and how many came back.
    intact: usize,
    intact_recovered: usize,
    /// Every key of the copies, and how many came back with their value.
    all: usize,
    all_recovered: usize,
    /// Recovered records that overlap damaged territory (damaged ranges and
    /// the keys they touch): a damaged key whose damage left it
    /// self-consistent (same key, other value), or a false record read out
    /// of damaged bytes or of a damaged key's intact rest.
    damaged_changed: usize,
    damaged_phantom: usize,
    /// Failures: an intact key lost, or a record from intact bytes that is
    /// not the key the file holds there.
    failures: Vec<String>,
}

/// Damages `trials` copies of `data` (1-3 ranges of 1-64 bytes each, past
/// the 9-byte header) and salvages each. The records recovered from bytes
/// wholly outside the damaged ranges must be exactly the keys whose
/// records lie there (same extent, key and value).
fn damage_and_recover(name: &str, data: &[u8], trials: usize, seed: u64, t: &mut Tally) {
    damage_and_recover_some(name, data, trials, seed, |_| true, t);
}

/// [`damage_and_recover`] for the copies among the first `trials` that
/// `salvaged` selects (the others are damaged, so the random sequence
/// stays the same, but not read).
fn damage_and_recover_some(
    name: &str,
    data: &[u8],
    trials: usize,
    seed: u64,
    salvaged: impl Fn(usize) -> bool,
    t: &mut Tally,
) {
    let (copies_before, before, intact_before) = (t.copies, t.intact, t.intact_recovered);
    let (changed_before, phantom_before) = (t.damaged_changed, t.damaged_phantom);
    let (keys, _) = keys_of(data, false);
    let selections = db_selections(data);
    assert!(keys.len() > 50, "{name}: too few keys for the test");
    let mut rng = Rng(seed);
    for trial in 0..trials {
        let mut d = data.to_vec();
        let mut ranges = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let len = 1 + rng.below(64);
            let at = 9 + rng.below(d.len() - 9 - len);
            for b in &mut d[at..at + len] {
                *b = rng.next() as u8;
            }
            ranges.push(at..at + len);
        }
        if !salvaged(trial) {
            continue;
        }
        let (got, skipped) = keys_of(&d, true);
        // A key is intact when its record is, and the SELECTDB that
        // selected its db (damage there leaves its db unknown).
        let db_damaged = |i: usize| {
            selections[i]
                .as_ref()
                .is_some_and(|s| ranges.iter().any(|r| r.start < s.end && s.start < r.end))
        };
        let intact: HashSet<&Key> = keys
            .iter()
            .enumerate()
            .filter(|&(i, k)| !k.overlaps(&ranges) && !db_damaged(i))
            .map(|(_, k)| k)
            .collect();
        // Damaged territory: the damaged ranges and the whole records of
        // the keys they touch (the resync may read false records out of
        // the intact rest of a damaged key) or whose db they leave unknown.
        let mut damaged = ranges.clone();
        damaged.extend(
            keys.iter()
                .enumerate()
                .filter(|&(i, k)| k.overlaps(&ranges) || db_damaged(i))
                .map(|(_, k)| k.start..k.end),
        );
        let from_intact: HashSet<&Key> = got.iter().filter(|k| !k.overlaps(&damaged)).collect();
        let fmt = |k: &&Key| {
            let db = if k.db == 0 {
                String::new()
            } else {
                format!(" (db {})", k.db)
            };
            format!("{}{db} at {}..{}", k.key.escape_ascii(), k.start, k.end)
        };
        // Each lost key with what the salvage read over its bytes instead.
        let lost: Vec<String> = intact
            .difference(&from_intact)
            .map(|k| {
                let instead: Vec<String> = got
                    .iter()
                    .filter(|g| g.start < k.end && k.start < g.end)
                    .map(|g| fmt(&g))
                    .collect();
                format!("{} (read instead: {instead:?})", fmt(k))
            })
            .collect();
        let wrong: Vec<String> = from_intact.difference(&intact).map(fmt).collect();
        let empty: Vec<&String> = skipped
            .iter()
            .filter(|r| {
                let (a, b) = r.split_once(' ').unwrap().0.split_once("..").unwrap();
                a == b
            })
            .collect();
        if !lost.is_empty() || !wrong.is_empty() || !empty.is_empty() {
            if let Ok(dir) = std::env::var("RDBTOOL_SALVAGE_DUMP") {
                let dir = Path::new(&dir);
                let file = name.replace(['/', ' ', '#'], "_");
                std::fs::write(dir.join(format!("{file}.orig")), data).unwrap();
                std::fs::write(dir.join(format!("{file}.{trial}")), &d).unwrap();
            }
            t.failures.push(format!(
                "{name} copy {trial}: damaged {ranges:?}, skipped {skipped:?}, \
                 intact keys lost: {lost:?}, records from intact bytes not in the file: {wrong:?}"
            ));
        }
        let by_name: std::collections::HashMap<&[u8], &Key> =
            keys.iter().map(|k| (k.key.as_slice(), k)).collect();
        for k in got.iter().filter(|k| k.overlaps(&damaged)) {
            match by_name.get(k.key.as_slice()) {
                Some(o) if o.value == k.value => {}
                Some(_) => t.damaged_changed += 1,
                None => t.damaged_phantom += 1,
            }
        }
        let got_ids: HashSet<(&[u8], &[u8])> =
            got.iter().map(|k| (&k.key[..], &k.value[..])).collect();
        t.copies += 1;
        t.intact += intact.len();
        t.intact_recovered += intact.len() - lost.len();
        t.all += keys.len();
        t.all_recovered += keys
            .iter()
            .filter(|k| got_ids.contains(&(&k.key[..], &k.value[..])))
            .count();
    }
    eprintln!(
        "{name}: {} copies, intact keys recovered {}/{}, records overlapping damage: \
         {} with a changed value, {} not in the file",
        t.copies - copies_before,
        t.intact_recovered - intact_before,
        t.intact - before,
        t.damaged_changed - changed_before,
        t.damaged_phantom - phantom_before,
    );
}

/// Prints the tally and fails when more than `max_per_mille` ‰ of the
/// copies lost an intact key or read intact bytes wrong.
fn report(t: &Tally, max_per_mille: usize) {
    for f in &t.failures {
        eprintln!("{f}");
    }
    eprintln!(
        "{} damaged copies: intact keys recovered {}/{} ({:.4}%); all keys recovered {}/{} \
         ({:.2}%); records overlapping damage delivered: {} with a changed value, {} not in \
         the file",
        t.copies,
        t.intact_recovered,
        t.intact,
        100.0 * t.intact_recovered as f64 / t.intact.max(1) as f64,
        t.all_recovered,
        t.all,
        100.0 * t.all_recovered as f64 / t.all.max(1) as f64,
        t.damaged_changed,
        t.damaged_phantom,
    );
    assert!(
        t.failures.len() * 1000 <= t.copies * max_per_mille,
        "{} of {} copies lost an intact key or read intact bytes wrong",
        t.failures.len(),
        t.copies
    );
}

#[test]
fn salvage_recovers_every_intact_key_of_the_corpus_encodings_files() {
    let mut t = Tally::default();
    for (i, f) in ["redis-7.0/encodings.rdb", "redis-8.2/encodings.rdb"]
        .iter()
        .enumerate()
    {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(f);
        let data = std::fs::read(p).unwrap();
        let from = first_copy();
        let seed = 0x5eed_0001 + i as u64;
        damage_and_recover_some(f, &data, copies(1000), seed, |c| c >= from, &mut t);
    }
    // Measured over these 2,000 copies: none fails. Over copies 0-29,999
    // of each file (used to tune the code): 3 of 60,000 copies lose an
    // intact key, 8 keys. Over copies 30,000-59,999 (held out until
    // 76e031c): 9 copies, 11 keys of 6.5M (668cc37: 18 and 18; c1fd106:
    // 26 and 28; 76e031c: 33 and 43; a45071b: 62 and 297). Over copies
    // 60,000-89,999 (held out until 668cc37, where 12 copies lost 12
    // keys; eight of them taught rules, see the test below): 3 copies, 3
    // keys. Over copies 90,000-119,999 (held out until 04ea76b, where 7
    // copies lost 7 keys and one delivered a false record from intact
    // bytes; two taught rules): 4 copies, 4 keys, and the false record.
    // Over copies 120,000-149,999 (held out until 514cc0a, where 17
    // copies lost 24 keys): 14 copies, 21 keys. Over copies
    // 150,000-179,999 (held out, measured once at 09c6c36): 6 copies, 7
    // keys, and one false record from intact bytes. Over copies
    // 240,000-269,999 (held out until 863164b: 4 copies, 6 keys; three
    // taught rules): 1 copy, 1 key. Over copies 270,000-299,999 (held
    // out, measured once at 761331d): 2 copies, 2 keys (one taught a
    // rule), and 3 false records read out of a damaged header's function
    // code. Since keys are compared with their db: at 8318e14, copies
    // 0-149,999 lost 6,672 keys in 152 copies, nearly all to a false
    // SELECTDB of a high db read out of damaged bytes; now 17 keys in 17
    // copies, the residue of before. Over copies 300,000-329,999 (held
    // out, measured at 8318e14: 32 copies, 1,684 keys with dbs, 6 copies
    // and 7 keys without): 6 copies, 7 keys. What is left are damaged
    // keys whose overrun is as plausible as the real records it covers
    // (a raw string landing on a boundary, short binary-keyed records), a
    // damaged length that took one byte of the next key, and keys with
    // binary or empty names next to more damage: RDB has no record
    // framing to tell.
    report(&t, 1);
    // Records delivered out of damaged keys (not keys of the file): over
    // these copies 12,994 (24,215 before a damaged hash with field TTLs
    // was walked to its damage, whose entries before it read as string
    // keys: `Entries`), nearly all entries of the 8.2 file's `hfe:big`
    // after its damage. The bound fails a rule that lets them back in.
    if copies(1000) == 1000 && first_copy() == 0 {
        assert!(
            t.damaged_phantom <= 14_000,
            "{} false records delivered",
            t.damaged_phantom
        );
    }
    report(&t, 1);
}

/// Copies beyond the 1,000 of the test above that code before a rule lost
/// an intact key in, each case of what the rule catches: a set whose walk
/// landed on a record boundary after swallowing a binary-named string
/// record (8.2 copies 38104, 42366, 51704, 55257), a binary-named
/// damaged key whose value runs over a record and stops inside the next
/// one's head (41915, 55193), a key whose value runs over a record and
/// into a quicklist that checks itself but has damage after it (31856), a
/// false record of a pre-release hash type (not written by 8.2) read out
/// of a damaged set (44002); a big skiplist zset right before more damage,
/// taken on its descending scores (7.0 copy 77203); a string key right
/// before more damage, taken on its name's prefix (7.0 copies 60164,
/// 81048, 85150; 8.2 copy 66473); a damaged key whose value runs over a
/// named record and stops on the head of the next (8.2 copies 61628,
/// 85093); a key before a damaged one that swallowed the longer chain
/// (8.2 copies 88523, 97197); a hash with field TTLs right before more
/// damage, taken on its name although its entries read as a longer chain
/// (8.2 copy 96687); keys right before more damage named `word:rest`
/// though no key read before shares the word, one with binary bytes
/// after it (`bin:\x00\xff\xfekey`, 8.2 copy 28257; `db1:list`,
/// 8.2 copy 44154); a binary-named key that chains exactly into the
/// longer chain a false candidate's record holds (8.2 copy 130058); a
/// damaged key whose value runs over `db5:\x00`, a binary name under a
/// `word:` prefix that opens the real chain (7.0 copy 137454; 8.2 copies
/// 129225, 142740); binary-named keys under a known prefix between a
/// damaged set and a damaged hash with field TTLs, whose entries read as
/// the longer chain (8.2 copies 25908, 53985); a damaged hash with field
/// TTLs whose walk ran over three keys and a damaged zset and landed on a
/// boundary (8.2 copy 17130); a key with an empty name whose value was
/// read as the name of a record that crossed the damage after it (7.0
/// copy 45921, 8.2 copy 118765), or swallowed by the damaged key before it (7.0 copy
/// 81684); a RESIZEDB whose damaged length took a longer form and the
/// next key's type byte (7.0 copy 127838); a binary-named damaged key
/// whose value ends on a binary-named false record, over a real key (7.0
/// copy 262558; 8.2 copies 98449, 143200); a damaged zset that ran over
/// three keys into a fourth, cut by more damage (7.0 copy 264630); a
/// damaged key ending inside the expiry of the next key, whose zero top
/// byte reads as a string record (8.2 copies 124090, 260152); a damaged
/// key whose length landed among the entries of a hash with field TTLs,
/// which read as its successors (8.2 copy 128883); an intact integer
/// string whose payload byte opens a false record across the damage
/// after it (7.0 copy 63199); a RESIZEDB whose damaged expiry count, more
/// than its key count, took a longer form and the next key's type byte
/// (8.2 copy 297886); a false SELECTDB of a high db read out of damaged
/// bytes, which moved every key after it there and refused the real
/// SELECTDBs below it: followed by a read error (7.0 copy 4924), or as a
/// resync candidate with a RESIZEDB that checks (7.0 copies 84426,
/// 92992; 8.2 copies 16558, 43840); a real SELECTDB and RESIZEDB whose
/// db's first key is damaged (8.2 copy 149694, the keys after it stay in
/// its db); a FREQ prefix read out of damage before an expiry, the order
/// no server writes (8.2 copy 348136); a false key read on from a damaged
/// function or AUX field, before any SELECTDB, or with a RESIZEDB that no
/// SELECTDB opens after it (7.0 copies 112707, 144592, 343255); a false
/// record with a damaged AUX field or function after it, which a chain
/// that does not remember it follows a key allowed (8.2 copies 33428,
/// 38518, 356271); a hash whose last value's damaged length swallowed
/// one named string record (7.0 copy 345139); a damaged stream whose
/// swallowed records run on past the damage where the chain after it
/// stops (8.2 copies 38083, 347198); a damaged string whose length runs
/// it across a named key, the chain after which more damage cuts short
/// (7.0 copies 35383, 147777; 8.2 copies 118177, 386053, 388826); a
/// false hash read out of damage whose last pair and the empty value
/// before it are a named string record (7.0 copy 402320); a false
/// string with a binary name read out of damage, whose binary-named
/// successor and the named records it swallowed end at one offset (8.2
/// copy 342503); an intact key named `db5:\x00` whose name's last byte
/// and value read as a string record across the damage after it (7.0
/// copy 436235); a false string with a binary name whose value holds a
/// whole named hash, with damage after both (7.0 copy 425930); a false
/// string found by a resync, or a damaged set, whose value holds a record
/// that ends on the head of a named key that more damage cut (7.0 copies
/// 52749, 142802; 8.2 copy 51624); a false record whose long value jumps
/// to a longer chain over two real keys, `bin:\x00\xff\xfekey` first,
/// that end on a named key more damage cut (8.2 copy 5009); an intact
/// stream right before damage, whose last bytes read as a record that
/// jumps the damage onto a real boundary (7.0 copy 40838), or inside
/// which a resync found a longer false chain than its own (8.2 copy
/// 44032); an expiry opcode read out of damage before an intact key, with
/// a time years before the file was saved (7.0 copy 93839); an intact
/// set whose empty last member and the damage after it read as a string
/// record that lands on one plausible record (7.0 copy 52471); a set whose
/// damaged member swallowed `bin:\x00\xff\xfekey` whole, with damage
/// after the key it lands on (8.2 copies 518390, 564746); a damaged zset
/// that ran over three named keys into a fourth that more damage cut (8.2
/// copy 527759); a string whose length byte alone was damaged to cover an
/// empty-named key exactly, which its checksum sets back (7.0 copy
/// 520922); an integer string whose damaged encoding byte ran it one byte
/// into a named key (7.0 copy 595810); a damaged string that ran over
/// four named keys into a fifth, ending on a record a set's members read
/// as, which more damage follows (8.2 copy 572848); a damaged hash whose
/// swallowed named record ends on the head of another named key that
/// reads on, not cut by damage (8.2 copies 581426, 597439); a damaged
/// integer string that swallowed a key with an expiry and a name, cut by
/// more damage (8.2 copy 486292); a damaged function whose compressed code
/// no longer decompresses, which had run into the expiry of the first key
/// (8.2 copy 506331) or whose bytes read as false keys, with the records
/// after it intact or damaged (8.2 copies 500211; 148631, 492193); a false
/// first record after a resync whose raw string value swallowed a real key
/// that ends where it ends (8.2 copies 684038, 755320), but not over the
/// head of a hash with field TTLs whose entries follow (8.2 copy 541419);
/// a damaged hash whose walk ran one named record past its end, with no
/// plausible record after (7.0 copy 670890); a false key of a type newer
/// than the file whose "entries" were real keys (7.0 copy 671944); a false
/// stream that counts entries without a node (7.0 copy 687214); an intact
/// LZF string that damage follows, with a false record inside its
/// compressed bytes (7.0 copy 719625); an expiry read before a SELECTDB
/// (7.0 copy 758775); the real hash with field TTLs whose entries a false
/// candidate's first record covered (8.2 copy 690597); an AUX field after
/// a function (8.2 copy 711324); a named intset a damaged hash's walk ran
/// over, cut by more damage (8.2 copy 718096); a named string inside a
/// binary-named key with damage right after both (8.2 copy 734181); a
/// list's damaged plain node that swallowed a named string (8.2 copy
/// 743555); an idle time read out of damage before the first key, which
/// the key after it lacks (7.0 copy 647912); a key with an empty name that
/// a false candidate ends one byte into (8.2 copy 706921); a string whose
/// damaged length ran over the SELECTDB and RESIZEDB of the next db (8.2
/// copy 800687); a set whose damaged walk ran into a named key with an
/// integer value or a stream, cut by more damage (7.0 copy 941860; 8.2
/// copy 1041577); a zset whose last member's damaged length swallowed a
/// named string (8.2 copy 1051665); an empty-named key a damaged key ran
/// into, vouched for by two records and a named head (7.0 copy 985937);
/// a false record with a 7,708-byte name read out of an LZF value, whose
/// name began with an intact key's it had convicted (8.2 copy 1021984);
/// an empty-named key that ends on the head of a named key more damage
/// cut (7.0 copy 1065852; 8.2 copies 934048, 1076432); a false candidate
/// whose long value reached the entries of a hash with field TTLs, read
/// as its records (8.2 copy 1117116); a false SELECTDB 9 forged by damage,
/// which moved the keys after it to db 9 and refused the real SELECTDBs
/// (7.0 copy 1029152; 8.2 copy 1029335); a hash with field TTLs whose
/// damaged field length ran its last entry over a named string, leaving
/// no field at its minimum expiry (8.2 copy 1186737); a hashtable hash of
/// a packed hash's size whose damaged field length made its last pair a
/// named string record (7.0 copies 728810, 902237, 1356784), or, in a
/// hash with field TTLs, its last entry (8.2 copy 136003), or in a set
/// of integers, its last two members (8.2 copy 120442); a string
/// whose damaged length ran over a named integer string onto the head of
/// a named key that more damage cut (7.0 copy 1266105); the first key
/// after a damaged SELECTDB, read on from the function before it, which
/// the resync scan after its refusal passed over for its name without
/// the expiry before it (8.2 copy 1449856).
#[test]
fn salvage_recovers_the_copies_that_taught_its_rules() {
    let mut t = Tally::default();
    let cases: [(&str, u64, &[usize]); 2] = [
        (
            "redis-7.0/encodings.rdb",
            0x5eed_0001,
            &[
                4924, 35383, 40838, 45921, 52471, 52749, 60164, 63199, 77203, 81048, 81684, 84426,
                85150, 92992, 93839, 112707, 127838, 137454, 142802, 144592, 147777, 262558,
                264630, 343255, 345139, 402320, 425930, 436235, 520922, 595810, 647912, 670890,
                671944, 687214, 719625, 728810, 758775, 902237, 941860, 985937, 1029152, 1065852,
                1266105, 1356784,
            ],
        ),
        (
            "redis-8.2/encodings.rdb",
            0x5eed_0002,
            &[
                5009, 16558, 17130, 25908, 28257, 31856, 33428, 38083, 38104, 38518, 41915, 42366,
                43840, 44002, 44032, 44154, 51624, 51704, 53985, 55193, 55257, 61628, 66473, 85093,
                88523, 96687, 97197, 98449, 118177, 118765, 120442, 124090, 128883, 129225, 130058,
                136003, 142740, 143200, 148631, 149694, 260152, 297886, 342503, 347198, 348136,
                356271, 386053, 388826, 486292, 492193, 500211, 506331, 518390, 527759, 541419,
                564746, 572848, 581426, 597439, 684038, 690597, 706921, 711324, 718096, 734181,
                743555, 755320, 800687, 934048, 1021984, 1029335, 1041577, 1051665, 1076432,
                1117116, 1186737, 1449856,
            ],
        ),
    ];
    // Every listed copy was made and read.
    let listed: usize = cases.iter().map(|(_, _, c)| c.len()).sum();
    for (f, seed, copies) in cases {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(f);
        let data = std::fs::read(p).unwrap();
        let last = copies.iter().max().map_or(0, |c| c + 1);
        damage_and_recover_some(f, &data, last, seed, |c| copies.contains(&c), &mut t);
    }
    assert_eq!(t.copies, listed);
    report(&t, 0);
}

/// Every `.rdb` file under `dir`, recursively, sorted.
fn rdb_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let rd = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for e in rd {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rdb_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rdb") {
            out.push(p);
        }
    }
    out.sort();
}

/// Salvage reads an intact file as the normal reader does: every file of
/// `../shared/corpus` and `corpus/` that reads without error gives the same
/// keys, at the same offsets, with the same values, and no skipped range,
/// as it is (a matching checksum tells salvage nothing was damaged) and
/// with its checksum zeroed (as `rdbchecksum no` writes it), where only
/// the plausibility checks can tell. Among them are files a tool wrote the
/// way no server does (redis-rdb-cli: SELECTDB repeated or going back to
/// db 0, IDLE or FREQ prefixes on some keys only, RESIZEDB lengths in
/// their 9-byte form), which salvage tells by their missing AUX fields.
#[test]
fn salvage_reads_every_intact_corpus_file_as_the_reader_does() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rdb_files(&repo.join("../shared/corpus/rdb"), &mut files);
    rdb_files(&repo.join("corpus"), &mut files);
    let (mut read_ok, mut checksummed) = (0, 0);
    let (mut differ, mut differ_unchecked) = (Vec::new(), Vec::new());
    for f in &files {
        let data = std::fs::read(f).unwrap();
        // The reader decodes values lazily; salvage decodes each in full
        // (a corrupt ziplist is damage to skip there), so the values are
        // validated here too.
        let (mut normal, mut scratch) = (Vec::new(), Scratch::default());
        let ok = read(
            &data,
            &ReadOptions::default(),
            &mut FnSink(|r: &Record<'_>| {
                if let Record::Key(k) = r {
                    validate(&k.value, &mut scratch)?;
                    normal.push((k.offset, k.end, k.db, k.key.to_vec(), k.value.raw.to_vec()));
                }
                Ok(Flow::Continue)
            }),
        );
        let Ok(trailer) = ok else {
            continue;
        };
        read_ok += 1;
        let same = |data: &[u8]| {
            let (keys, skipped) = keys_of(data, true);
            let salvaged: Vec<_> = keys
                .into_iter()
                .map(|k| (k.start as u64, k.end as u64, k.db, Ok(k.key), k.value))
                .collect();
            salvaged == normal && skipped.is_empty()
        };
        let rel = f
            .strip_prefix(repo.join("../shared/corpus/rdb"))
            .unwrap_or(f)
            .display()
            .to_string();
        if !same(&data) {
            differ.push(rel.clone());
        }
        let mut unchecked = data.clone();
        if let Checksum::Ok { .. } = trailer.checksum {
            checksummed += 1;
            let at = trailer.end_offset as usize - 8;
            unchecked[at..at + 8].fill(0);
        }
        if !same(&unchecked) {
            differ_unchecked.push(rel);
        }
    }
    assert!(read_ok > 100, "only {read_ok} corpus files read");
    assert!(checksummed > 80, "only {checksummed} files with a checksum");
    assert_eq!(
        differ,
        Vec::<String>::new(),
        "files salvage reads otherwise than the reader"
    );
    assert_eq!(
        differ_unchecked,
        Vec::<String>::new(),
        "files salvage reads otherwise than the reader once their checksum is zeroed"
    );
}

/// Damaged copies per file: `n`, or `RDBTOOL_SALVAGE_COPIES` to measure
/// over more (the figures in the notes come from 1,000 and more).
fn copies(n: usize) -> usize {
    std::env::var("RDBTOOL_SALVAGE_COPIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
}

/// The first damaged copy salvaged: 0, or `RDBTOOL_SALVAGE_FROM` to
/// measure a held-out range of copies alone.
fn first_copy() -> usize {
    std::env::var("RDBTOOL_SALVAGE_FROM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A redis-server on a free 127.0.0.1 port, in its own temp dir.
struct Server {
    child: Child,
    dir: PathBuf,
    conn: BufReader<TcpStream>,
}

impl Server {
    fn start(bin: &Path, extra: &[&str]) -> Option<Server> {
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let dir =
            std::env::temp_dir().join(format!("rdbtool-salvage-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let child = Command::new(bin)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(extra)
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .ok()?;
        let t0 = Instant::now();
        let stream = loop {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                break s;
            }
            if t0.elapsed() > Duration::from_secs(10) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Some(Server {
            child,
            dir,
            conn: BufReader::new(stream),
        })
    }

    /// Sends commands pipelined and reads (and checks) one reply each.
    fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) {
        let mut buf = Vec::new();
        for c in cmds {
            write!(buf, "*{}\r\n", c.len()).unwrap();
            for a in c {
                write!(buf, "${}\r\n", a.len()).unwrap();
                buf.extend_from_slice(a);
                buf.extend_from_slice(b"\r\n");
            }
        }
        self.conn.get_mut().write_all(&buf).unwrap();
        for _ in cmds {
            self.reply();
        }
    }

    fn reply(&mut self) {
        let mut line = String::new();
        self.conn.read_line(&mut line).unwrap();
        match line.as_bytes().first() {
            Some(b'-') => panic!("redis error: {line}"),
            Some(b'$') => {
                let n: i64 = line[1..].trim().parse().unwrap();
                if n >= 0 {
                    let mut b = vec![0; n as usize + 2];
                    std::io::Read::read_exact(&mut self.conn, &mut b).unwrap();
                }
            }
            Some(b'*') => {
                let n: i64 = line[1..].trim().parse().unwrap();
                for _ in 0..n.max(0) {
                    self.reply();
                }
            }
            _ => {}
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn cmd(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// Keys of every type and encoding 7.0 writes: small and large aggregates,
/// integers, compressible (LZF) and binary strings, TTLs.
/// Writes 3,000 keys of every type, a fifth with a TTL; with `field_ttls`
/// (Redis 7.4 and later) a third of the hashes get a TTL on a field; with
/// `modules` (the server loaded [`test_module`]) 1,000 module values too.
fn populate(s: &mut Server, rng: &mut Rng, field_ttls: bool, modules: bool) {
    let mut cmds = Vec::new();
    for i in 0..3000usize {
        let k = format!(
            "k:{}:{i}",
            ["str", "list", "set", "zset", "hash", "stream"][i % 6]
        );
        let kb = k.as_bytes();
        let n = if rng.below(10) == 0 {
            200
        } else {
            1 + rng.below(20)
        };
        match i % 6 {
            0 => {
                let v: Vec<u8> = match rng.below(4) {
                    0 => rng.next().to_string().into_bytes(),
                    1 => vec![b'a' + (i % 26) as u8; 30 + rng.below(500)],
                    2 => (0..1 + rng.below(60)).map(|_| rng.next() as u8).collect(),
                    _ => format!("value-{i}").into_bytes(),
                };
                cmds.push(cmd(&[b"SET", kb, &v]));
            }
            1 => {
                for j in 0..n {
                    cmds.push(cmd(&[
                        b"RPUSH",
                        kb,
                        format!("e{j}-{}", rng.next() % 1000).as_bytes(),
                    ]));
                }
            }
            2 => {
                let ints = rng.below(2) == 0;
                for j in 0..n {
                    let m = if ints {
                        (rng.next() % 100_000).to_string()
                    } else {
                        format!("m{j}")
                    };
                    cmds.push(cmd(&[b"SADD", kb, m.as_bytes()]));
                }
            }
            3 => {
                for j in 0..n {
                    let sc = format!("{}", rng.next() % 1000) + ".5";
                    cmds.push(cmd(&[
                        b"ZADD",
                        kb,
                        sc.as_bytes(),
                        format!("m{j}").as_bytes(),
                    ]));
                }
            }
            4 => {
                for j in 0..n {
                    cmds.push(cmd(&[
                        b"HSET",
                        kb,
                        format!("f{j}").as_bytes(),
                        format!("v{}", rng.next() % 10_000).as_bytes(),
                    ]));
                }
                if field_ttls && rng.below(3) == 0 {
                    cmds.push(cmd(&[b"HPEXPIRE", kb, b"86400000", b"FIELDS", b"1", b"f0"]));
                    // More TTLs, and a minimum that moves when its field
                    // goes or persists: salvage takes a hash with field
                    // TTLs whose stated minimum no field holds for
                    // damaged, so the server must keep it exact.
                    let later = (86_400_000 + rng.below(1_000_000)).to_string();
                    cmds.push(cmd(&[
                        b"HPEXPIRE",
                        kb,
                        later.as_bytes(),
                        b"FIELDS",
                        b"2",
                        b"f1",
                        b"f2",
                    ]));
                    match rng.below(3) {
                        0 => cmds.push(cmd(&[b"HDEL", kb, b"f0"])),
                        1 => cmds.push(cmd(&[b"HPERSIST", kb, b"FIELDS", b"1", b"f0"])),
                        _ => {}
                    }
                }
            }
            _ => {
                for j in 0..n.min(30) {
                    // Explicit IDs: the file's bytes depend on the seed only.
                    let id = format!("{}-{j}", 1_700_000_000_000u64 + i as u64);
                    cmds.push(cmd(&[
                        b"XADD",
                        kb,
                        id.as_bytes(),
                        b"field",
                        format!("{j}").as_bytes(),
                    ]));
                }
            }
        }
        if rng.below(5) == 0 {
            cmds.push(cmd(&[b"PEXPIRE", kb, b"86400000"]));
        }
        if modules && i % 3 == 0 {
            cmds.push(module_value(&format!("k:mod:{i}"), rng));
        }
        if cmds.len() > 500 {
            s.pipeline(&cmds);
            cmds.clear();
        }
    }
    cmds.push(cmd(&[b"SAVE"]));
    s.pipeline(&cmds);
}

/// A `RDBTOOLT.SET` command of [`test_module`] for `key`: 1 to 12 operands
/// of every kind the module API saves (the unsigned, signed, double, float
/// and string opcodes of an RDB module value), strings up to 40 bytes,
/// binary or empty among them.
fn module_value(key: &str, rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut c = cmd(&[b"RDBTOOLT.SET", key.as_bytes()]);
    for _ in 0..1 + rng.below(12) {
        let (kind, arg): (&[u8], Vec<u8>) = match rng.below(5) {
            0 => (b"U", rng.next().to_string().into_bytes()),
            1 => (b"S", (rng.next() as i64).to_string().into_bytes()),
            2 => (b"D", format!("{}.25", rng.next() % 100_000).into_bytes()),
            3 => (b"F", format!("{}.5", rng.next() % 1000).into_bytes()),
            _ => (b"B", (0..rng.below(41)).map(|_| rng.next() as u8).collect()),
        };
        c.push(kind.to_vec());
        c.push(arg);
    }
    c
}

/// The test module (tests/modules/rdbtool_test_type.c), built with the C
/// compiler once per test run: a data type whose values redis-server
/// saves as RDB type-7 module values, and a module AUX record.
fn test_module() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let src =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/modules/rdbtool_test_type.c");
            let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rdbtool_test_type.so");
            let ok = Command::new("cc")
                .args(["-shared", "-fPIC", "-O1", "-o"])
                .arg(&out)
                .arg(&src)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "cc could not build {}", src.display());
            out
        })
        .clone()
}

/// The servers that write the fresh files.
#[derive(Clone, Copy)]
enum Fresh {
    /// redis-server 7.0 on PATH (Debian's package).
    Redis70,
    /// The same with [`test_module`] loaded: a third of the keys module
    /// values.
    Redis70Modules,
    /// redis-server 8.2 from scripts/install-redis.sh, whose hashes get
    /// field TTLs (RDB 12's hash metadata and listpack-ex encodings).
    Redis82,
}

impl Fresh {
    fn binary(self) -> PathBuf {
        match self {
            Fresh::Redis70 | Fresh::Redis70Modules => PathBuf::from("redis-server"),
            Fresh::Redis82 => {
                Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/redis82/redis-server")
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Fresh::Redis70 => "7.0",
            Fresh::Redis70Modules => "7.0 (module values)",
            Fresh::Redis82 => "8.2",
        }
    }
}

/// Fresh file `i` of `server`: written by a server the test starts, or,
/// to compare two versions of the code on the same files (the server
/// orders its keys differently on every start), read from
/// `$RDBTOOL_SALVAGE_FRESH/fresh-{i}.rdb` (`fresh82-{i}.rdb` for 8.2)
/// when it exists there (the file written is saved there when it does
/// not).
fn fresh_file(i: u64, server: Fresh) -> Vec<u8> {
    let file = match server {
        Fresh::Redis70 => format!("fresh-{i}.rdb"),
        Fresh::Redis70Modules => format!("freshmod-{i}.rdb"),
        Fresh::Redis82 => format!("fresh82-{i}.rdb"),
    };
    let saved = std::env::var_os("RDBTOOL_SALVAGE_FRESH").map(|d| Path::new(&d).join(file));
    if let Some(data) = saved.as_ref().and_then(|p| std::fs::read(p).ok()) {
        return data;
    }
    // 8.2 as built keeps hashes of up to 512 fields in a listpack: 128
    // (the setting's long-time default) makes the big ones hashtables,
    // written with their field TTLs as RDB 12's hash metadata.
    let module = test_module();
    let extra: &[&str] = match server {
        Fresh::Redis70 => &[],
        Fresh::Redis70Modules => &["--loadmodule", module.to_str().expect("UTF-8 path")],
        Fresh::Redis82 => &["--hash-max-listpack-entries", "128"],
    };
    let Some(mut s) = Server::start(&server.binary(), extra) else {
        panic!(
            "redis-server {} is needed (scripts/install-redis.sh installs it)",
            server.name()
        );
    };
    let (seed, field_ttls) = match server {
        Fresh::Redis70 => (0x5eed_0002, false),
        Fresh::Redis70Modules => (0x5eed_0202, false),
        Fresh::Redis82 => (0x5eed_0102, true),
    };
    let mut rng = Rng(seed + 2 * i);
    let modules = matches!(server, Fresh::Redis70Modules);
    populate(&mut s, &mut rng, field_ttls, modules);
    let data = std::fs::read(s.dir.join("dump.rdb")).unwrap();
    if let Some(p) = saved {
        std::fs::write(p, &data).unwrap();
    }
    data
}

/// Salvages 150 damaged copies (or `RDBTOOL_SALVAGE_COPIES`) of each of
/// two fresh files of `server`.
fn salvage_fresh_pair(server: Fresh) -> Tally {
    let mut t = Tally::default();
    let seed = match server {
        Fresh::Redis70 => 0x5eed_0003,
        Fresh::Redis70Modules => 0x5eed_0203,
        Fresh::Redis82 => 0x5eed_0103,
    };
    for i in 0..2u64 {
        let data = fresh_file(i, server);
        let name = format!("fresh {} dump.rdb #{i}", server.name());
        damage_and_recover(&name, &data, copies(150), seed + 2 * i, &mut t);
    }
    t
}

#[test]
fn salvage_recovers_every_intact_key_of_fresh_redis_files() {
    let t = salvage_fresh_pair(Fresh::Redis70);
    // The server writes its keys in a different order on every start, so
    // these files (unlike the corpus files) change from run to run.
    // Measured over 1,000 copies of each file of three pairs: 5,995,436 /
    // 5,995,436, 5,995,430 / 5,995,430 and 5,995,447 / 5,995,447 intact
    // keys, no copy failing (before: 3, 4 and 12 of 2,000, up to 18 in a
    // run); two more pairs at c6e6dfb: 5,995,419 and 5,995,430 of as
    // many, the same at f713122; with each key's db compared too (a false
    // SELECTDB moves the keys after it), 5,995,419 of as many. 1 % (3 of
    // 300) leaves room for a file layout this code has not met while a
    // regression (tens of copies) still fails.
    report(&t, 10);
}

/// The same on files redis-server 8.2 writes (RDB 12: listpack sets,
/// hashes with field TTLs). 8.2 is optional in scripts/install-redis.sh;
/// without it this test says so and checks nothing.
#[test]
fn salvage_recovers_every_intact_key_of_fresh_redis_8_2_files() {
    if !Fresh::Redis82.binary().exists() {
        eprintln!("skipping: no redis-server 8.2 (scripts/install-redis.sh)");
        return;
    }
    let t = salvage_fresh_pair(Fresh::Redis82);
    // Measured over 1,000 copies of each file of a pair: 5,995,483 /
    // 5,995,483 intact keys (before 8.2's files ruled out the pre-release
    // hash types 22 and 23: 5,995,482, one copy failing); with each key's
    // db compared too, 5,995,483 of as many. Bounded as the 7.0 files are.
    report(&t, 10);
}

/// The same on files with module values (RDB type 7, written by redis-server
/// 7.0 through the test module) among the keys, and the module's AUX record
/// after them.
#[test]
fn salvage_recovers_every_intact_key_of_fresh_redis_files_with_module_values() {
    let t = salvage_fresh_pair(Fresh::Redis70Modules);
    // Measured over 1,000 copies of each file of a pair: 7,995,368 /
    // 7,995,368 intact keys (another pair, each key's db compared too:
    // 7,995,396 / 7,995,396). Before chains were started inside a module
    // value's string operands only, every copy lost its intact module
    // keys (7,929,405), whose item opcodes read as record heads; with no
    // chains inside the value at all, one copy lost 10 keys that a
    // damaged string operand had run over.
    report(&t, 10);
}

/// A SELECTDB that damage forged in a file of one db (`fe`, a db, and
/// bytes that read as the RESIZEDB after it), found where reading resumes
/// after a damaged key: the keys after it stay in db 0. No later SELECTDB
/// contradicts it; the RESIZEDB of db 0 does, whose keys are not all read
/// and could not all lie in the few bytes skipped.
#[test]
fn salvage_keeps_the_db_when_damage_forges_a_select_db() {
    let data = fresh_file(0, Fresh::Redis70);
    let (keys, _) = keys_of(&data, false);
    assert!(keys.iter().all(|k| k.db == 0));
    // A key in the middle, long enough for the forged bytes.
    let hit = keys[keys.len() / 2..]
        .iter()
        .find(|k| k.end - k.start >= 16)
        .expect("a key of 16 bytes or more");
    let mut d = data.clone();
    // An unknown type byte; SELECTDB 9 with RESIZEDB 1 0; the head of a
    // string key whose name is longer than the file (a record that opens
    // where one may, as damage after a real SELECTDB leaves it); unknown
    // opcodes up to the next key.
    let forged = [0xee, 0xfe, 9, 0xfb, 1, 0, 0, 0x80, 0xff, 0xff, 0xff, 0xff];
    d[hit.start..hit.start + forged.len()].copy_from_slice(&forged);
    d[hit.start + forged.len()..hit.end].fill(0xee);
    let (got, skipped) = keys_of(&d, true);
    let want: Vec<&Key> = keys.iter().filter(|k| k.start != hit.start).collect();
    let got: Vec<&Key> = got.iter().collect();
    assert_eq!(got, want, "skipped: {skipped:?}");
    assert!(
        skipped.iter().any(|s| s.contains("SELECTDB")),
        "the forged SELECTDB is reported: {skipped:?}"
    );
}

/// The same on the files redis-rdb-cli wrote (its `rct` and `rdt`
/// commands, in `../shared/corpus/rdb/rdbcli`): a tool, not a server, so
/// they carry no AUX fields, repeat SELECTDB and go back to db 0 where
/// inputs were merged, write lengths in their 9-byte form and IDLE or
/// FREQ on some keys only, and types no server of their RDB version writes.
/// Salvage tells them by their missing AUX fields and drops the checks
/// that rest on a server's habits.
#[test]
fn salvage_recovers_every_intact_key_of_files_a_tool_wrote() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/rdb/rdbcli");
    let mut t = Tally::default();
    for (i, f) in [
        "rct_all.rdb",
        "rdt_12.rdb",
        "rdt_34.rdb",
        "rdt_89.rdb",
        "rdt_dump.rdb",
        "rdt_filter.rdb",
    ]
    .iter()
    .enumerate()
    {
        let data = std::fs::read(dir.join(f)).unwrap();
        let name = format!("rdbcli/{f}");
        damage_and_recover(&name, &data, copies(150), 0x5eed_0301 + i as u64, &mut t);
    }
    // Measured over 1,000 copies of each file: 983,456 / 983,488 intact
    // keys, 13 copies of 6,000 failing; with the server's checks (before
    // tool files were told apart) 431,163, every copy failing: a false
    // SELECTDB moved the keys after it into another db, and real ones
    // going back to db 0 were refused. 1 % leaves room, as for the fresh
    // files.
    report(&t, 10);
}

/// A file whose checksum matches but which does not read (damage, and the
/// CRC-64 recomputed, as a faulty writer would leave it): salvage trusts
/// the records before the first error, skips the key that fails, and reads
/// on with every check. The damage: a key's type byte changed to one no
/// server writes (the read error), and later a short string's value length
/// grown to cover the next two keys exactly, which reads without error:
/// only the checks (a chain of records inside the string) tell it.
#[test]
fn salvage_of_a_checksummed_file_that_fails_to_read_checks_after_the_error() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/redis-7.0/encodings.rdb");
    let data = std::fs::read(p).unwrap();
    let (keys, _) = keys_of(&data, false);
    // A key without prefixes (its first byte is its type byte).
    let victim = keys[keys.len() / 4..]
        .iter()
        .find(|k| data[k.start] < 0xf0)
        .expect("a key without prefixes");
    // A string record `00 klen key vlen value` (lengths of one byte) whose
    // next two keys follow it and are short enough for a one-byte length.
    let grown = (keys.len() / 2..keys.len() - 3)
        .find_map(|i| {
            let (a, b, c) = (&keys[i], &keys[i + 1], &keys[i + 2]);
            let klen = usize::from(data[a.start + 1]);
            let at = a.start + 2 + klen;
            let vlen = usize::from(data[at]);
            let len = vlen + (c.end - a.end);
            (data[a.start] == 0
                && klen < 64
                && vlen < 64
                && at + 1 + vlen == a.end
                && a.end == b.start
                && b.end == c.start
                && len < 64)
                .then_some((i, at, len as u8))
        })
        .expect("a short string before two short keys");
    let (i, at, len) = grown;
    let mut d = data.clone();
    d[victim.start] = 0x60;
    d[at] = len;
    let foot = d.len() - 8;
    let crc = crc64::crc64(0, &d[..foot]).to_le_bytes();
    d[foot..].copy_from_slice(&crc);
    let (got, skipped) = keys_of(&d, true);
    let damaged = [victim.start..victim.end, keys[i].start..keys[i].end];
    let expected: Vec<&Key> = keys.iter().filter(|k| !k.overlaps(&damaged)).collect();
    let outside: Vec<&Key> = got.iter().filter(|k| !k.overlaps(&damaged)).collect();
    let names = |a: &[&Key], b: &[&Key]| -> Vec<String> {
        a.iter()
            .filter(|k| !b.contains(k))
            .map(|k| format!("{} at {}", k.key.escape_ascii(), k.start))
            .collect()
    };
    assert!(
        outside == expected,
        "lost {:?}, read instead {:?}, skipped {skipped:?}",
        names(&expected, &outside),
        names(&outside, &expected)
    );
}
