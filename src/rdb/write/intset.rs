//! Intset encoder (type 11), the mirror of [`crate::rdb::read::intset`].

/// Appends an intset of `values` (sorted and deduplicated here) with the
/// smallest element width that holds them all.
pub fn encode(values: &mut Vec<i64>, out: &mut Vec<u8>) {
    values.sort_unstable();
    values.dedup();
    let width: u32 = if values.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if values.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values.iter() {
        match width {
            2 => out.extend_from_slice(&(v as i16).to_le_bytes()),
            4 => out.extend_from_slice(&(v as i32).to_le_bytes()),
            _ => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::read::intset::Intset;

    #[test]
    fn widths_and_order() {
        for (vals, w) in [
            (vec![3i64, -1, 3, 2], 2),
            (vec![40000, 1], 4),
            (vec![i64::MIN, 5], 8),
        ] {
            let mut v = vals.clone();
            let mut b = Vec::new();
            encode(&mut v, &mut b);
            let is = Intset::parse(&b).unwrap();
            assert_eq!(is.width(), w);
            let mut want = vals;
            want.sort();
            want.dedup();
            assert_eq!(is.iter().collect::<Vec<_>>(), want);
        }
    }
}
