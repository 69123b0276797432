//! RESP framing of the records the appender writes besides commands
//! (which [`crate::aof::write::put_command`] frames): `SELECT` and `#TS:`
//! annotations (aof.md §2, §3, §5).

pub use crate::aof::write::put_command;

/// Appends `SELECT <db>` as the server writes it (upper-case name).
pub fn put_select(out: &mut Vec<u8>, db: u64) {
    let mut n = itoa::Buffer::new();
    put_command(out, &[b"SELECT", n.format(db).as_bytes()]);
}

/// Appends a `#TS:<unix-seconds>` annotation line.
pub fn put_timestamp(out: &mut Vec<u8>, unix_s: i64) {
    out.extend_from_slice(b"#TS:");
    out.extend_from_slice(itoa::Buffer::new().format(unix_s).as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_like_the_server() {
        let mut v = Vec::new();
        put_timestamp(&mut v, 1700000000);
        put_select(&mut v, 3);
        put_command(&mut v, &[&b"set"[..], b"k", b"a\r\nb", b""]);
        assert_eq!(
            v,
            b"#TS:1700000000\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*4\r\n$3\r\nset\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n$0\r\n\r\n"
        );
    }
}
