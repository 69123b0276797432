//! Micro-benchmarks of the hot inner decoders (`cargo bench`): listpack
//! iteration, LZF decompression and compression, CRC-64. Inputs are built
//! here with the crate's own encoders, so the figures do not depend on a
//! dataset; each reports throughput in bytes of its input.

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};

use rdbtool::rdb::read::listpack::Listpack;
use rdbtool::rdb::read::lzf::decompress_into;
use rdbtool::rdb::write::listpack::ListpackBuilder;
use rdbtool::rdb::write::lzf::Compressor;

/// A listpack of `n` entries, half small integers and half short strings
/// (the shape of a small hash or zset).
fn listpack(n: usize) -> Vec<u8> {
    let mut b = ListpackBuilder::new();
    for i in 0..n {
        if i % 2 == 0 {
            b.push_int(i as i64 * 37);
        } else {
            b.push_str(format!("field:{i}:value").as_bytes());
        }
    }
    b.finish().to_vec()
}

/// Text that compresses like a JSON-ish cache value (repeats at a distance).
fn text(len: usize) -> Vec<u8> {
    let words = [
        &b"user"[..],
        b"session",
        b"cart",
        b"\"id\":",
        b"42",
        b"price",
        b"true",
    ];
    let mut out = Vec::with_capacity(len);
    let mut i = 0usize;
    while out.len() < len {
        out.extend_from_slice(words[(i * 7 + i / 3) % words.len()]);
        out.push(if i.is_multiple_of(5) { b',' } else { b' ' });
        i += 1;
    }
    out.truncate(len);
    out
}

fn bench_listpack(c: &mut Criterion) {
    let lp = listpack(128);
    let mut g = c.benchmark_group("listpack");
    g.throughput(Throughput::Bytes(lp.len() as u64));
    g.bench_function("iterate 128 entries", |b| {
        b.iter(|| {
            let l = Listpack::parse(black_box(&lp)).expect("listpack");
            l.iter().filter(|e| e.is_ok()).count()
        })
    });
    g.finish();
}

fn bench_lzf(c: &mut Criterion) {
    let input = text(16 << 10);
    let mut packed = Vec::new();
    let n = Compressor::default()
        .compress(&input, &mut packed, input.len())
        .expect("compressible");
    packed.truncate(n);
    let mut g = c.benchmark_group("lzf");
    g.throughput(Throughput::Bytes(input.len() as u64));
    let mut out = Vec::with_capacity(input.len());
    g.bench_function("decompress 16 KiB", |b| {
        b.iter(|| {
            out.clear();
            decompress_into(black_box(&packed), input.len(), &mut out).expect("lzf");
            out.len()
        })
    });
    let mut comp = Compressor::default();
    let mut buf = Vec::new();
    g.bench_function("compress 16 KiB", |b| {
        b.iter(|| {
            buf.clear();
            comp.compress(black_box(&input), &mut buf, input.len())
        })
    });
    g.finish();
}

fn bench_crc(c: &mut Criterion) {
    let data = text(1 << 20);
    let mut g = c.benchmark_group("crc64");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("1 MiB", |b| {
        b.iter(|| rdbtool::crc::crc64(black_box(&data)))
    });
    g.finish();
}

criterion_group!(benches, bench_listpack, bench_lzf, bench_crc);
criterion_main!(benches);
