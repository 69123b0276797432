//! Node count of a radix tree (`rax`) holding 16-byte stream IDs, as the
//! server's inserts shape it: one node per branching point, one per run of
//! single-child characters (compressed node) and one per key (leaf). The
//! count feeds `streamRadixTreeMemoryUsage`.

/// Number of rax nodes (including the root) for the distinct, sorted keys
/// `keys`, all 16 bytes long.
pub fn node_count(keys: &[[u8; 16]]) -> u64 {
    if keys.is_empty() {
        return 1;
    }
    // Iterative walk over (range, depth) so hostile input cannot recurse.
    let mut nodes = 0u64;
    let mut stack: Vec<(usize, usize, usize)> = vec![(0, keys.len(), 0)];
    while let Some((lo, hi, depth)) = stack.pop() {
        if depth == 16 {
            nodes += 1; // leaf
            continue;
        }
        if hi - lo == 1 {
            nodes += 2; // compressed remainder + leaf
            continue;
        }
        // Sorted keys: the common prefix of the range is that of its ends.
        let (a, b) = (&keys[lo], &keys[hi - 1]);
        let mut p = depth;
        while p < 16 && a[p] == b[p] {
            p += 1;
        }
        if p > depth {
            nodes += 1; // compressed run before the branch
        }
        if p == 16 {
            // Duplicates: treat as one leaf.
            nodes += 1;
            continue;
        }
        nodes += 1; // branching node
        let mut start = lo;
        for i in lo + 1..=hi {
            if i == hi || keys[i][p] != keys[start][p] {
                stack.push((start, i, p + 1));
                start = i;
            }
        }
    }
    nodes
}

/// The rax key of a stream ID: milliseconds then sequence, big-endian.
pub fn id_key(ms: u64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&ms.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_trees() {
        assert_eq!(node_count(&[]), 1);
        assert_eq!(node_count(&[id_key(1, 0)]), 2);
        // Two IDs differing in the last byte: root compressed run, branch,
        // two leaves.
        assert_eq!(node_count(&[id_key(1, 0), id_key(1, 1)]), 4);
    }
}
