//! RESP encoding of commands (`*N`, `$len` bulk strings).

use std::io::Write;

use super::commands::CommandSink;
use crate::error::Result;

/// Appends `argv` as a RESP array of bulk strings.
pub fn put_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, argv: &[A]) {
    let mut n = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(n.format(argv.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(n.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Writes commands as RESP into `W` (an AOF, or a stream for
/// `redis-cli --pipe`).
pub struct RespWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    /// Commands written.
    pub commands: u64,
    /// Bytes written.
    pub bytes: u64,
}

impl<W: Write> RespWriter<W> {
    /// A writer into `out`.
    pub fn new(out: W) -> Self {
        RespWriter {
            out,
            buf: Vec::with_capacity(1 << 16),
            commands: 0,
            bytes: 0,
        }
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> Result<W> {
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> RespWriter<W> {
    /// Writes one command from arguments of any byte-like type (owned
    /// vectors, slices, literals).
    pub fn command_args<A: AsRef<[u8]>>(&mut self, argv: &[A]) -> Result<()> {
        let before = self.buf.len();
        put_command(&mut self.buf, argv);
        self.bytes += (self.buf.len() - before) as u64;
        self.commands += 1;
        if self.buf.len() >= 1 << 16 {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}

impl<W: Write> CommandSink for RespWriter<W> {
    fn command(&mut self, argv: &[&[u8]]) -> Result<()> {
        self.command_args(argv)
    }
}
