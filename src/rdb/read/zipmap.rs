//! Zipmap blobs (type 9, Redis 2.4 hashes).

use crate::error::Problem;

fn bad(expected: &'static str, found: u64) -> Problem {
    Problem::Invalid {
        what: "zipmap",
        expected,
        found,
    }
}

/// Reads a zipmap length at `b[*p]`, advancing `p`.
fn zm_len(b: &[u8], p: &mut usize) -> Result<Option<usize>, Problem> {
    let first = *b.get(*p).ok_or(Problem::Truncated { what: "zipmap" })?;
    match first {
        0xff => Ok(None),
        0xfe => {
            let h = b
                .get(*p + 1..*p + 5)
                .ok_or(Problem::Truncated { what: "zipmap" })?;
            *p += 5;
            Ok(Some(u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize))
        }
        n => {
            *p += 1;
            Ok(Some(n as usize))
        }
    }
}

/// Decodes every (field, value) pair of a zipmap blob, validating bounds,
/// the end marker, non-emptiness and the header count.
pub fn for_each_pair<'s>(
    blob: &'s [u8],
    mut f: impl FnMut(&'s [u8], &'s [u8]) -> Result<(), Problem>,
) -> Result<u64, Problem> {
    if blob.len() < 2 {
        return Err(Problem::Truncated { what: "zipmap" });
    }
    let mut p = 1usize;
    let mut n = 0u64;
    while let Some(flen) = zm_len(blob, &mut p)? {
        let field = blob
            .get(p..p.saturating_add(flen))
            .ok_or(bad("a field inside the blob", flen as u64))?;
        p += flen;
        let vlen = zm_len(blob, &mut p)?.ok_or(bad("a value after the field", 0xff))?;
        let free = *blob.get(p).ok_or(Problem::Truncated { what: "zipmap" })? as usize;
        p += 1;
        let value = blob
            .get(p..p.saturating_add(vlen))
            .ok_or(bad("a value inside the blob", vlen as u64))?;
        p = p.saturating_add(vlen).saturating_add(free);
        f(field, value)?;
        n += 1;
    }
    if p + 1 != blob.len() {
        return Err(bad("the end marker as the last byte", p as u64));
    }
    if n == 0 {
        return Err(bad("at least one entry", 0));
    }
    // The header byte is the entry count, or 254 (ZIPMAP_BIGLEN) when the
    // count does not fit; Redis refuses any other value
    // (zipmapValidateIntegrity).
    let header = blob[0];
    if header != 254 && u64::from(header) != n {
        return Err(bad(
            "a header count equal to the entries or 254",
            u64::from(header),
        ));
    }
    Ok(n)
}
