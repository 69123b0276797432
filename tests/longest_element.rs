//! `Value::longest_element` (lengths from headers, nothing inflated) gives
//! what the element visitors give, for every key of every corpus RDB
//! written by a real server.

#[path = "common/corpus_files.rs"]
mod corpus_files;

use std::collections::BTreeMap;

use rdbtool::model::{DataType, RdbLayout};
use rdbtool::rdb::read::{ReadOptions, Record, Scratch, Value, read};
use rdbtool::sink::{Flow, RecordSink};

/// The longest element as the visitors find it (the reference).
fn visited(v: &Value<'_>, s: &mut Scratch) -> rdbtool::Result<u64> {
    let mut n = 0u64;
    match v.data_type() {
        DataType::List | DataType::Set => v.for_each_elem(s, |e, _| {
            n = n.max(e.len() as u64);
            Ok(())
        })?,
        DataType::Zset => v.for_each_scored(s, |m, _| {
            n = n.max(m.len() as u64);
            Ok(())
        })?,
        DataType::Hash => v.for_each_field(s, |f, x, _| {
            n = n.max(f.len().max(x.len()) as u64);
            Ok(())
        })?,
        _ => {}
    }
    Ok(n)
}

#[derive(Default)]
struct Compare {
    scratch: Scratch,
    /// Keys compared per layout.
    seen: BTreeMap<String, u64>,
    mismatches: Vec<String>,
}

impl RecordSink for Compare {
    fn record(&mut self, r: &Record<'_>) -> rdbtool::Result<Flow> {
        let Record::Key(k) = r else {
            return Ok(Flow::Continue);
        };
        let v = &k.value;
        if !matches!(
            v.data_type(),
            DataType::List | DataType::Set | DataType::Zset | DataType::Hash
        ) {
            return Ok(Flow::Continue);
        }
        // A value the visitors cannot walk is not this test's business.
        let Ok(want) = visited(v, &mut self.scratch) else {
            return Ok(Flow::Continue);
        };
        let got = v.longest_element(&mut self.scratch)?;
        *self.seen.entry(format!("{:?}", v.layout)).or_default() += 1;
        if got != want {
            self.mismatches.push(format!(
                "key at {} ({:?}): {got}, visitors {want}",
                k.offset, v.layout
            ));
        }
        Ok(Flow::Continue)
    }
}

#[test]
fn longest_element_matches_the_visitors_on_every_corpus_key() {
    let opts = ReadOptions {
        relaxed_version: true,
        ..ReadOptions::default()
    };
    let mut c = Compare::default();
    for f in corpus_files::corpus_rdbs() {
        let data = std::fs::read(&f).expect("corpus file");
        // Damaged and unsupported files stop where they fail; their keys
        // before that still count.
        let _ = read(&data, &opts, &mut c);
    }
    assert!(c.mismatches.is_empty(), "{:#?}", c.mismatches);
    // Every layout with a shortcut was met, so none is untested.
    for l in [
        RdbLayout::ListLinked,
        RdbLayout::SetHashtable,
        RdbLayout::HashHashtable,
        RdbLayout::ListZiplist,
        RdbLayout::HashZiplist,
        RdbLayout::ZsetZiplist,
        RdbLayout::SetListpack,
        RdbLayout::HashListpack,
        RdbLayout::ZsetListpack,
        RdbLayout::ListQuicklist2,
    ] {
        let n = c.seen.get(&format!("{l:?}")).copied().unwrap_or(0);
        assert!(n > 0, "no corpus key of layout {l:?}: {:?}", c.seen);
    }
}
