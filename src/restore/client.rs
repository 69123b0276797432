//! A small blocking RESP2 client: enough for pipelined `RESTORE`, `INFO`,
//! `SELECT`, `AUTH` (and the tests' server control). Replies are parsed
//! with bounds on every length.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::aof::write::put_command;
use crate::error::{Error, Result};

/// A server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK` and other status replies.
    Status(String),
    /// `-ERR ...` replies.
    Error(String),
    /// `:n`.
    Int(i64),
    /// `$n` (None for the null bulk).
    Bulk(Option<Vec<u8>>),
    /// `*n` (None for the null array).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The error text, if this is an error reply.
    pub fn error(&self) -> Option<&str> {
        match self {
            Reply::Error(e) => Some(e),
            _ => None,
        }
    }
    /// The bytes of a bulk or status reply.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(Some(b)) => Some(b),
            Reply::Status(s) => Some(s.as_bytes()),
            _ => None,
        }
    }
}

/// Where to connect: parsed from `redis://[user:pass@]host:port[/db]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// ACL user.
    pub user: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Database to select.
    pub db: Option<u64>,
    /// `rediss://`: connect with TLS.
    pub tls: bool,
}

/// TLS settings for `rediss://` URLs.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM file of CA certificates to trust instead of the public roots.
    pub ca_file: Option<PathBuf>,
    /// Do not verify the server's certificate (tests, self-signed setups).
    pub insecure: bool,
}

impl Url {
    /// Parses a `redis://` or `rediss://` (TLS) URL.
    pub fn parse(s: &str) -> Result<Url> {
        let bad = |m: &str| Error::usage(format!("bad server URL {s:?}: {m}"));
        let (rest, tls) = if let Some(r) = s.strip_prefix("redis://") {
            (r, false)
        } else if let Some(r) = s.strip_prefix("rediss://") {
            (r, true)
        } else {
            return Err(bad("expected redis[s]://[user:pass@]host:port[/db]"));
        };
        let (auth, hostpart) = match rest.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, rest),
        };
        let (hostport, db) = match hostpart.split_once('/') {
            Some((h, d)) if !d.is_empty() => {
                (h, Some(d.parse().map_err(|_| bad("db is not a number"))?))
            }
            Some((h, _)) => (h, None),
            None => (hostpart, None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| bad("port is not a number"))?),
            None => (hostport, 6379),
        };
        let (user, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some(("", p)) => (None, Some(p.to_string())),
                Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                None => (None, Some(a.to_string())),
            },
        };
        Ok(Url {
            host: host.trim_matches(|c| c == '[' || c == ']').to_string(),
            port,
            user,
            password,
            db,
            tls,
        })
    }
}

/// The transport: plain TCP or TLS over TCP.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// Accepts any server certificate (`--insecure`), still checking that the
/// handshake signatures are valid.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_config(opts: &TlsOptions) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::usage(format!("TLS: {e}")))?;
    let cfg = if opts.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match &opts.ca_file {
            Some(p) => {
                use rustls::pki_types::pem::PemObject;
                let certs = rustls::pki_types::CertificateDer::pem_file_iter(p)
                    .map_err(|e| Error::usage(format!("--cacert {}: {e}", p.display())))?;
                for c in certs {
                    let c =
                        c.map_err(|e| Error::usage(format!("--cacert {}: {e}", p.display())))?;
                    roots
                        .add(c)
                        .map_err(|e| Error::usage(format!("--cacert {}: {e}", p.display())))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(cfg)
}

/// Replies larger than this are refused (a sanity bound, not a limit any
/// command this tool sends comes near).
const MAX_REPLY: usize = 1 << 30;

/// A connection.
pub struct Client {
    r: BufReader<Conn>,
    wbuf: Vec<u8>,
}

impl Client {
    /// Connects (and authenticates) to `url` without TLS settings.
    pub fn connect(url: &Url) -> Result<Client> {
        Self::connect_with(url, &TlsOptions::default())
    }

    /// Connects to `url` (TLS for `rediss://`), authenticates, and selects
    /// its db if it has one.
    pub fn connect_with(url: &Url, tls: &TlsOptions) -> Result<Client> {
        let s = TcpStream::connect((url.host.as_str(), url.port))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        let conn = if url.tls {
            let name = rustls::pki_types::ServerName::try_from(url.host.clone())
                .map_err(|e| Error::usage(format!("TLS server name {:?}: {e}", url.host)))?;
            let cc = rustls::ClientConnection::new(Arc::new(tls_config(tls)?), name)
                .map_err(|e| Error::usage(format!("TLS: {e}")))?;
            Conn::Tls(Box::new(rustls::StreamOwned::new(cc, s)))
        } else {
            Conn::Plain(s)
        };
        let mut c = Client {
            r: BufReader::with_capacity(1 << 16, conn),
            wbuf: Vec::with_capacity(1 << 16),
        };
        if let Some(p) = &url.password {
            let r = match &url.user {
                Some(u) => c.call(&[b"AUTH", u.as_bytes(), p.as_bytes()])?,
                None => c.call(&[b"AUTH", p.as_bytes()])?,
            };
            if let Some(e) = r.error() {
                return Err(Error::usage(format!("AUTH failed: {e}")));
            }
        }
        if let Some(db) = url.db {
            let r = c.call(&[b"SELECT", db.to_string().as_bytes()])?;
            if let Some(e) = r.error() {
                return Err(Error::usage(format!("SELECT {db} failed: {e}")));
            }
        }
        Ok(c)
    }

    /// Queues a command (sent at the next [`flush`](Self::flush), or
    /// when the buffer grows large).
    pub fn send(&mut self, argv: &[&[u8]]) -> Result<()> {
        put_command(&mut self.wbuf, argv);
        if self.wbuf.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(())
    }

    /// Queues commands already RESP-encoded.
    pub fn send_raw(&mut self, resp: &[u8]) -> Result<()> {
        self.wbuf.extend_from_slice(resp);
        if self.wbuf.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(())
    }

    /// Bytes queued and not sent yet.
    pub fn queued(&self) -> usize {
        self.wbuf.len()
    }

    /// Sends queued commands.
    pub fn flush(&mut self) -> Result<()> {
        let conn = self.r.get_mut();
        conn.write_all(&self.wbuf)?;
        conn.flush()?;
        self.wbuf.clear();
        Ok(())
    }

    /// Sends one command and reads its reply.
    pub fn call(&mut self, argv: &[&[u8]]) -> Result<Reply> {
        self.send(argv)?;
        self.flush()?;
        self.read_reply()
    }

    fn line(&mut self) -> Result<Vec<u8>> {
        let mut l = Vec::new();
        self.r.read_until(b'\n', &mut l)?;
        if l.len() < 2 || !l.ends_with(b"\r\n") {
            return Err(Error::new(crate::ErrorKind::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed or bad RESP line",
            ))));
        }
        l.truncate(l.len() - 2);
        Ok(l)
    }

    /// Reads one reply.
    pub fn read_reply(&mut self) -> Result<Reply> {
        self.reply_at(0)
    }

    fn reply_at(&mut self, depth: usize) -> Result<Reply> {
        let bad = |m: &str| Error::sink(format!("bad RESP reply: {m}"));
        if depth > 16 {
            return Err(bad("nested too deeply"));
        }
        let l = self.line()?;
        let (&t, rest) = l.split_first().ok_or_else(|| bad("empty line"))?;
        let text = String::from_utf8_lossy(rest).into_owned();
        let int = || text.parse::<i64>().map_err(|_| bad("not an integer"));
        Ok(match t {
            b'+' => Reply::Status(text),
            b'-' => Reply::Error(text),
            b':' => Reply::Int(int()?),
            b'$' => {
                let n = int()?;
                if n < 0 {
                    return Ok(Reply::Bulk(None));
                }
                let n = usize::try_from(n).map_err(|_| bad("length"))?;
                if n > MAX_REPLY {
                    return Err(bad("bulk too large"));
                }
                let mut b = vec![0; n + 2];
                self.r.read_exact(&mut b)?;
                b.truncate(n);
                Reply::Bulk(Some(b))
            }
            b'*' => {
                let n = int()?;
                if n < 0 {
                    return Ok(Reply::Array(None));
                }
                let n = usize::try_from(n).map_err(|_| bad("length"))?;
                let mut v = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    v.push(self.reply_at(depth + 1)?);
                }
                Reply::Array(Some(v))
            }
            _ => return Err(bad("unknown reply type")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("redis://bob:secret@10.0.0.1:7000/3").unwrap();
        assert_eq!(u.host, "10.0.0.1");
        assert_eq!(u.port, 7000);
        assert_eq!(u.user.as_deref(), Some("bob"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.db, Some(3));
        let u = Url::parse("redis://:pw@localhost").unwrap();
        assert_eq!(
            (u.user, u.password.as_deref(), u.port),
            (None, Some("pw"), 6379)
        );
        assert!(Url::parse("http://x").is_err());
        let u = Url::parse("rediss://h:6380").unwrap();
        assert!(u.tls && u.port == 6380);
        assert!(Url::parse("redis://h:notaport").is_err());
    }
}
