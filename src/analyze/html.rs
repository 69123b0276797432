//! `--html report.html`: one self-contained page (inline SVG, CSS and a few
//! lines of JS, no network) with a prefix treemap, the TTL histogram, the
//! expiry-wave timeline and the top keys.

use std::fmt::Write as _;

use super::inspect::human_bytes;
use super::prefix::PrefixNode;
use super::report::{Report, iso_ms};
use super::ttl::BUCKETS;

/// Escapes text for HTML and SVG.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

const COLORS: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f",
];

/// Lays `items` (weights) out in the rectangle by slicing along the longer
/// side, alternating per level (slice-and-dice).
fn slice(weights: &[u64], x: f64, y: f64, w: f64, h: f64) -> Vec<(f64, f64, f64, f64)> {
    let total: u64 = weights.iter().sum();
    let mut out = Vec::new();
    let mut off = 0.0;
    for &wt in weights {
        let f = if total == 0 {
            0.0
        } else {
            wt as f64 / total as f64
        };
        if w >= h {
            out.push((x + off, y, w * f, h));
            off += w * f;
        } else {
            out.push((x, y + off, w, h * f));
            off += h * f;
        }
    }
    out
}

fn treemap(o: &mut String, nodes: &[PrefixNode]) {
    let (w, h) = (960.0, 420.0);
    let _ = write!(
        o,
        r#"<svg id="treemap" class="chart" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="memory by prefix">"#
    );
    let top: Vec<&PrefixNode> = nodes.iter().filter(|n| n.depth <= 1).take(24).collect();
    let weights: Vec<u64> = top.iter().map(|n| n.bytes).collect();
    for (i, (n, (x, y, rw, rh))) in top.iter().zip(slice(&weights, 0.0, 0.0, w, h)).enumerate() {
        let color = COLORS[i % COLORS.len()];
        let _ = write!(
            o,
            r#"<g class="tm-node"><rect x="{x:.1}" y="{y:.1}" width="{rw:.1}" height="{rh:.1}" fill="{color}" stroke="white"><title>{} — {} keys, {} ({:.1} %)</title></rect>"#,
            esc(&n.prefix),
            n.keys,
            human_bytes(n.bytes),
            n.share * 100.0
        );
        // Second level inside, when the node is big enough to show it.
        let kids: Vec<&PrefixNode> = nodes
            .iter()
            .filter(|c| c.depth == n.depth + 1 && c.prefix.starts_with(&n.prefix) && n.depth >= 1)
            .take(12)
            .collect();
        if rw > 60.0 && rh > 40.0 && !kids.is_empty() {
            let kw: Vec<u64> = kids.iter().map(|c| c.bytes).collect();
            let inner = slice(&kw, x + 4.0, y + 18.0, rw - 8.0, rh - 22.0);
            for (c, (cx, cy, cw, ch)) in kids.iter().zip(inner) {
                let _ = write!(
                    o,
                    r#"<rect x="{cx:.1}" y="{cy:.1}" width="{cw:.1}" height="{ch:.1}" fill="{color}" fill-opacity="0.55" stroke="white"><title>{} — {} keys, {}</title></rect>"#,
                    esc(&c.prefix),
                    c.keys,
                    human_bytes(c.bytes)
                );
            }
        }
        if rw > 50.0 && rh > 14.0 {
            let _ = write!(
                o,
                r#"<text x="{:.1}" y="{:.1}" font-size="12" fill="white">{}</text>"#,
                x + 4.0,
                y + 13.0,
                esc(&super::report::clip(&n.prefix, (rw / 7.0) as usize))
            );
        }
        o.push_str("</g>");
    }
    o.push_str("</svg>");
}

fn bars(o: &mut String, id: &str, labels: &[String], values: &[u64], hot: &[bool]) {
    let (w, h) = (960.0, 260.0);
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = values.len().max(1) as f64;
    let bw = (w - 40.0) / n;
    let _ = write!(
        o,
        r#"<svg id="{id}" class="chart" viewBox="0 0 {w} {h}" width="100%" role="img">"#
    );
    for (i, v) in values.iter().enumerate() {
        let bh = (*v as f64 / max) * (h - 50.0);
        let x = 30.0 + i as f64 * bw;
        let color = if hot.get(i).copied().unwrap_or(false) {
            "#e15759"
        } else {
            "#4e79a7"
        };
        let _ = write!(
            o,
            r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="{color}"><title>{}: {v}</title></rect>"#,
            x + bw * 0.1,
            h - 30.0 - bh,
            (bw * 0.8).max(1.0),
            esc(&labels[i])
        );
        if values.len() <= 16 {
            let _ = write!(
                o,
                r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{v}</text>"#,
                x + bw / 2.0,
                h - 12.0,
                esc(&labels[i]),
                x + bw / 2.0,
                h - 34.0 - bh
            );
        }
    }
    o.push_str("</svg>");
}

/// Renders the page.
pub fn render(r: &Report) -> String {
    render_with(r, "")
}

/// The page with `extra` (sections rendered elsewhere, e.g. the eviction
/// projection) after the report's own sections.
pub fn render_with(r: &Report, extra: &str) -> String {
    let mut o = String::new();
    let title = format!("rdbtool report — {}", r.file);
    let _ = write!(
        o,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{}</title><style>
body{{font:14px system-ui,sans-serif;margin:24px;color:#222}}h1{{font-size:20px}}h2{{font-size:16px;margin-top:28px}}
table{{border-collapse:collapse}}td,th{{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}}th{{cursor:pointer;background:#f4f4f4}}
td.n{{text-align:right;font-variant-numeric:tabular-nums}}.chart{{max-width:960px;border:1px solid #eee}}.finding{{color:#b00}}
</style></head><body><h1>{}</h1>"#,
        esc(&title),
        esc(&title)
    );
    let _ = write!(
        o,
        r#"<p id="summary">{} keys, {} modelled (<code>MEMORY USAGE</code>) + {} keyspace overhead; target {}; reference time {} ({}).</p>"#,
        r.keys,
        human_bytes(r.bytes),
        human_bytes(r.overhead_bytes),
        esc(&super::report::target_name(r.target)),
        iso_ms(r.reference_ms),
        r.reference
    );
    if let Some(p) = &r.prefixes {
        o.push_str("<h2>Memory by prefix</h2>");
        treemap(&mut o, &p.nodes);
    }
    if let Some(t) = &r.ttl {
        o.push_str("<h2>TTL distribution</h2>");
        let labels: Vec<String> = BUCKETS.iter().map(|s| s.to_string()).collect();
        bars(&mut o, "ttl-histogram", &labels, &t.overall.keys, &[true]);
        if !t.no_ttl_by_prefix.is_empty() {
            o.push_str(r#"<table id="no-ttl"><tr><th>prefix without TTL</th><th>keys</th><th>bytes</th></tr>"#);
            for p in &t.no_ttl_by_prefix {
                let _ = write!(
                    o,
                    r#"<tr><td>{}</td><td class="n">{}</td><td class="n" data-v="{}">{}</td></tr>"#,
                    esc(&p.prefix),
                    p.keys,
                    p.bytes,
                    human_bytes(p.bytes)
                );
            }
            o.push_str("</table>");
        }
    }
    if let Some(w) = &r.waves {
        o.push_str("<h2>Expiry waves (keys expiring per minute)</h2>");
        let tl: Vec<&(i64, u64)> = w.timeline.iter().take(2000).collect();
        let labels: Vec<String> = tl.iter().map(|(t, _)| iso_ms(*t)).collect();
        let values: Vec<u64> = tl.iter().map(|(_, n)| *n).collect();
        let burst: Vec<bool> = tl
            .iter()
            .map(|(t, _)| w.minutes.iter().any(|m| m.start_ms == *t && m.burst))
            .collect();
        bars(&mut o, "expiry-timeline", &labels, &values, &burst);
        let _ = write!(
            o,
            "<p>{} burst seconds, {} burst minutes.</p><ul id=\"bursts\">",
            w.burst_seconds, w.burst_minutes
        );
        for x in w
            .seconds
            .iter()
            .chain(&w.minutes)
            .filter(|x| x.burst)
            .take(20)
        {
            let _ = write!(
                o,
                "<li>{} — {} keys ({})</li>",
                iso_ms(x.start_ms),
                x.keys,
                esc(&x
                    .prefixes
                    .iter()
                    .map(|p| format!("{} {}", p.prefix, p.keys))
                    .collect::<Vec<_>>()
                    .join(", "))
            );
        }
        o.push_str("</ul>");
    }
    if let Some(b) = &r.bigkeys {
        o.push_str(r#"<h2>Top keys</h2><table id="top-keys" class="sortable"><tr><th>key</th><th>db</th><th>type</th><th>encoding</th><th>bytes</th><th>elements</th></tr>"#);
        for k in &b.by_bytes {
            let _ = write!(
                o,
                r#"<tr><td>{}</td><td class="n">{}</td><td>{}</td><td>{}</td><td class="n" data-v="{}">{}</td><td class="n">{}</td></tr>"#,
                esc(&k.key),
                k.db,
                k.r#type,
                k.encoding,
                k.bytes,
                human_bytes(k.bytes),
                k.elements
            );
        }
        o.push_str("</table>");
    }
    if let Some(l) = &r.dataloss {
        o.push_str("<h2>Data-loss view</h2><ul id=\"findings\">");
        for f in &l.findings {
            let _ = write!(o, "<li class=\"finding\">{}</li>", esc(f));
        }
        o.push_str("</ul>");
    }
    o.push_str(extra);
    // Sortable tables: click a header to sort by that column.
    o.push_str(
        r#"<script>
document.querySelectorAll('table.sortable th').forEach(function(th,i){th.addEventListener('click',function(){
var t=th.closest('table'),rows=Array.from(t.querySelectorAll('tr')).slice(1);
var key=function(r){var c=r.children[i];return c.dataset.v!==undefined?parseFloat(c.dataset.v):(isNaN(parseFloat(c.textContent))?c.textContent:parseFloat(c.textContent));};
var asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
rows.sort(function(a,b){var x=key(a),y=key(b);return (x>y?1:x<y?-1:0)*(asc?1:-1);}).forEach(function(r){t.appendChild(r);});});});
document.body.dataset.rendered='1';
</script></body></html>
"#,
    );
    o
}
