//! The SMTP client session the outbox sender speaks (RFC 5321), with PIPELINING (RFC 2920).
//!
//! lettre builds every message this daemon sends, and spoke SMTP for it until issue 20: its
//! connection writes each command and waits for its answer, so one mail cost four round trips
//! (MAIL, RCPT, DATA, the content), each a wakeup of the daemon and of the server, and five
//! writes (the content and its terminating dot apart). In a cutoff burst that was most of the
//! daemon's context switches and a large part of its CPU. This session sends MAIL, RCPT and DATA
//! in one write when the server announces PIPELINING, and the content with its dot in one more:
//! two round trips a mail. Without PIPELINING it waits for each answer, as before.
//!
//! What it speaks: the greeting, EHLO, STARTTLS (rustls, refusing bytes sent before the
//! handshake), AUTH PLAIN, LOGIN and XOAUTH2 (answering the error challenge with the empty line
//! the mechanism requires), MAIL/RCPT/DATA with 8BITMIME and SMTPUTF8 when the mail needs them,
//! NOOP and QUIT. Timeouts are the caller's.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::ClientConfig;

/// The longest reply line and the longest reply accepted (RFC 5321 allows 512 octets a line;
/// servers' EHLO answers and error texts run longer).
const MAX_LINE: usize = 4096;
const MAX_REPLY: usize = 64 * 1024;

/// A server reply: its code and its text lines (without the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
    /// The reply's text on one line.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }
}

/// Why an SMTP step failed.
#[derive(Debug)]
pub enum Error {
    /// The server answered 4xx or 5xx; `what` names the step ("MAIL FROM", "RCPT TO", ...).
    Refused { what: &'static str, reply: Reply },
    /// The connection failed or closed.
    Io(std::io::Error),
    /// The server's answer was not SMTP, or the session cannot go on.
    Protocol(String),
    /// The mail cannot be sent to this server as it is (needs an extension it lacks).
    Unsendable(String),
}

impl Error {
    /// A 5xx answer, or a mail this server cannot take: retrying will not help.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::Refused { reply, .. } => reply.code >= 500,
            Error::Unsendable(_) => true,
            Error::Io(_) | Error::Protocol(_) => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Refused { what, reply } => {
                let kind = if reply.code >= 500 { "permanent" } else { "transient" };
                write!(f, "{kind} error ({}) to {what}: {}", reply.code, reply.text())
            }
            Error::Io(e) => write!(f, "connection error: {e}"),
            Error::Protocol(m) => write!(f, "protocol error: {m}"),
            Error::Unsendable(m) => write!(f, "cannot send: {m}"),
        }
    }
}

/// No `source`: the text already carries the I/O error's.
impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Io(e)
    }
}

/// What the server announced in its EHLO answer that this client uses.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Extensions {
    pub pipelining: bool,
    pub eight_bit_mime: bool,
    pub smtputf8: bool,
    pub starttls: bool,
    /// AUTH mechanisms, upper case.
    pub auth: Vec<String>,
}

impl Extensions {
    /// Reads an EHLO reply (its first line is the server's greeting name).
    pub fn of(ehlo: &Reply) -> Extensions {
        let mut x = Extensions::default();
        for line in ehlo.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else { continue };
            match keyword.to_ascii_uppercase().as_str() {
                "PIPELINING" => x.pipelining = true,
                "8BITMIME" => x.eight_bit_mime = true,
                "SMTPUTF8" => x.smtputf8 = true,
                "STARTTLS" => x.starttls = true,
                "AUTH" => x.auth.extend(words.map(|w| w.to_ascii_uppercase())),
                _ => {}
            }
        }
        x
    }
}

/// Reads one reply from the start of `buf`, which holds whole lines (each ending in LF).
/// Returns the reply and how many bytes it took, or None while it is incomplete.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, Error> {
    let mut at = 0;
    let mut code = None;
    let mut lines = Vec::new();
    while let Some(nl) = buf[at..].iter().position(|&b| b == b'\n') {
        let raw = &buf[at..at + nl];
        at += nl + 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let bad = || {
            Error::Protocol(format!(
                "not an SMTP reply line: {:?}",
                String::from_utf8_lossy(&line[..line.len().min(80)])
            ))
        };
        if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) || (line.len() > 3 && line[3] != b' ' && line[3] != b'-') {
            return Err(bad());
        }
        let c: u16 = (line[0] - b'0') as u16 * 100 + (line[1] - b'0') as u16 * 10 + (line[2] - b'0') as u16;
        if !(200..600).contains(&c) || code.is_some_and(|k| k != c) {
            return Err(bad());
        }
        code = Some(c);
        lines.push(String::from_utf8_lossy(line.get(4..).unwrap_or_default()).into_owned());
        if line.len() == 3 || line[3] == b' ' {
            return Ok(Some((Reply { code: c, lines }, at)));
        }
    }
    Ok(None)
}

/// The content as DATA sends it: CRLF line ends, a dot doubled at a line's start, ended by
/// CRLF.CRLF (RFC 5321 4.5.2).
pub fn data_block(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + content.len() / 64 + 8);
    let mut line_start = true;
    let mut prev = 0u8;
    for &b in content {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
        prev = b;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// The envelope commands of one mail (MAIL FROM, one RCPT TO a recipient, DATA), with the
/// parameters the content and addresses need from this server.
pub fn envelope_commands(x: &Extensions, from: &str, to: &[String], content: &[u8]) -> Result<Vec<String>, Error> {
    if to.is_empty() {
        return Err(Error::Unsendable("no recipient".into()));
    }
    for a in std::iter::once(from).chain(to.iter().map(String::as_str)) {
        if a.bytes().any(|b| b == b'\r' || b == b'\n' || b == b'<' || b == b'>') {
            return Err(Error::Unsendable("an envelope address holds a character SMTP cannot carry".into()));
        }
    }
    let mut params = String::new();
    if !content.is_ascii() {
        if !x.eight_bit_mime {
            return Err(Error::Unsendable(
                "the mail has 8-bit content and the server does not announce 8BITMIME".into(),
            ));
        }
        params.push_str(" BODY=8BITMIME");
    }
    if !from.is_ascii() || to.iter().any(|a| !a.is_ascii()) {
        if !x.smtputf8 {
            return Err(Error::Unsendable(
                "an address is not ASCII and the server does not announce SMTPUTF8".into(),
            ));
        }
        params.push_str(" SMTPUTF8");
    }
    let mut out = Vec::with_capacity(to.len() + 2);
    out.push(format!("MAIL FROM:<{from}>{params}\r\n"));
    out.extend(to.iter().map(|a| format!("RCPT TO:<{a}>\r\n")));
    out.push("DATA\r\n".to_string());
    Ok(out)
}

/// Whether an envelope command's answer lets the mail go on: 354 for DATA; 250 (or 251, "will
/// forward") for MAIL and RCPT.
fn envelope_accepted(what: &str, code: u16) -> bool {
    match what {
        "DATA" => code == 354,
        _ => code == 250 || code == 251,
    }
}

/// A plain or a TLS connection.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How the session is secured.
pub enum Security {
    None,
    /// TLS from the first byte (port 465).
    Implicit(Arc<ClientConfig>),
    /// STARTTLS after the first EHLO; the server must offer it.
    StartTls(Arc<ClientConfig>),
}

/// One logged-in SMTP session.
pub struct Session {
    io: BufReader<Stream>,
    ext: Extensions,
    /// Unread reply bytes (whole lines).
    pending: Vec<u8>,
    broken: bool,
}

impl Session {
    /// Greets and says EHLO over a connected socket, securing it as asked.
    pub async fn start(tcp: TcpStream, host: &str, hello: &str, security: &Security) -> Result<Session, Error> {
        tcp.set_nodelay(true).ok();
        let name = || {
            rustls_pki_types::ServerName::try_from(host.to_string())
                .map_err(|e| Error::Protocol(format!("bad TLS server name {host:?}: {e}")))
        };
        let stream = match security {
            Security::Implicit(cfg) => {
                let tls = tokio_rustls::TlsConnector::from(Arc::clone(cfg))
                    .connect(name()?, tcp)
                    .await
                    .map_err(|e| Error::Protocol(format!("TLS handshake failed: {e}")))?;
                Stream::Tls(Box::new(tls))
            }
            _ => Stream::Plain(tcp),
        };
        let mut s = Session::over(stream);
        let greeting = s.reply().await?;
        if greeting.code != 220 {
            return Err(Error::Refused {
                what: "the greeting",
                reply: greeting,
            });
        }
        s.ehlo(hello).await?;
        if let Security::StartTls(cfg) = security {
            if !s.ext.starttls {
                return Err(Error::Protocol(
                    "the server does not offer STARTTLS (smtp.tls = \"starttls\")".into(),
                ));
            }
            s.command("STARTTLS", "STARTTLS\r\n", 220).await?;
            if !s.pending.is_empty() || !s.io.buffer().is_empty() {
                // Bytes sent before the handshake would be read as if they were protected.
                return Err(Error::Protocol("the server sent data after its STARTTLS answer".into()));
            }
            let Stream::Plain(tcp) = s.io.into_inner() else {
                return Err(Error::Protocol("STARTTLS on a TLS connection".into()));
            };
            let tls = tokio_rustls::TlsConnector::from(Arc::clone(cfg))
                .connect(name()?, tcp)
                .await
                .map_err(|e| Error::Protocol(format!("TLS handshake failed: {e}")))?;
            s = Session::over(Stream::Tls(Box::new(tls)));
            s.ehlo(hello).await?;
        }
        Ok(s)
    }

    /// A session on `stream`, before the greeting (after STARTTLS: before the second EHLO).
    fn over(stream: Stream) -> Session {
        Session {
            io: BufReader::new(stream),
            ext: Extensions::default(),
            pending: Vec::new(),
            broken: false,
        }
    }

    /// True after an error that leaves the session out of step with the server.
    pub fn has_broken(&self) -> bool {
        self.broken
    }

    async fn ehlo(&mut self, hello: &str) -> Result<(), Error> {
        let r = self.command("EHLO", &format!("EHLO {hello}\r\n"), 250).await?;
        self.ext = Extensions::of(&r);
        Ok(())
    }

    /// AUTH with a password: PLAIN if offered, else LOGIN.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), Error> {
        if self.ext.auth.iter().any(|m| m == "PLAIN") {
            let ir = B64.encode(format!("\0{user}\0{password}"));
            self.command("AUTH PLAIN", &format!("AUTH PLAIN {ir}\r\n"), 235).await?;
        } else if self.ext.auth.iter().any(|m| m == "LOGIN") {
            self.command("AUTH LOGIN", "AUTH LOGIN\r\n", 334).await?;
            self.command("AUTH LOGIN", &format!("{}\r\n", B64.encode(user)), 334).await?;
            self.command("AUTH LOGIN", &format!("{}\r\n", B64.encode(password)), 235).await?;
        } else {
            return Err(Error::Protocol(format!(
                "the server offers no AUTH mechanism this client speaks with a password (PLAIN, LOGIN); it offers: {}",
                self.ext.auth.join(" ")
            )));
        }
        Ok(())
    }

    /// AUTH XOAUTH2 with a bearer token. A refused token is answered with an error challenge
    /// (334 and a base64 JSON text); the client sends an empty line and the server then says
    /// 535 or similar. The error carries both.
    pub async fn xoauth2(&mut self, user: &str, token: &str) -> Result<(), Error> {
        let ir = B64.encode(crate::oauth::xoauth2(user, token));
        self.send_line(&format!("AUTH XOAUTH2 {ir}\r\n")).await?;
        let r = self.reply().await?;
        match r.code {
            235 => Ok(()),
            334 => {
                let challenge = B64
                    .decode(r.text().trim())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_else(|_| r.text());
                self.send_line("\r\n").await?;
                let mut last = self.reply().await?;
                last.lines.push(format!("(error challenge: {challenge})"));
                self.broken = !last.is_positive();
                Err(Error::Refused {
                    what: "AUTH XOAUTH2",
                    reply: last,
                })
            }
            _ => {
                self.broken = true;
                Err(Error::Refused {
                    what: "AUTH XOAUTH2",
                    reply: r,
                })
            }
        }
    }

    /// Sends one mail: the envelope commands in one write when the server pipelines (each
    /// answer read after), then the content. Any refusal fails the mail and leaves the session
    /// broken (the caller drops it, which the server takes as the transaction's end).
    pub async fn send(&mut self, from: &str, to: &[String], content: &[u8]) -> Result<Reply, Error> {
        let commands = envelope_commands(&self.ext, from, to, content)?;
        let names = std::iter::once("MAIL FROM")
            .chain(std::iter::repeat_n("RCPT TO", to.len()))
            .chain(["DATA"]);
        if self.ext.pipelining {
            self.send_line(&commands.concat()).await?;
            let mut failed = None;
            for what in names {
                let r = self.reply().await?;
                if failed.is_none() && !envelope_accepted(what, r.code) {
                    failed = Some(Error::Refused { what, reply: r });
                }
            }
            if let Some(e) = failed {
                self.broken = true;
                return Err(e);
            }
        } else {
            for (line, what) in commands.iter().zip(names) {
                self.send_line(line).await?;
                let r = self.reply().await?;
                if !envelope_accepted(what, r.code) {
                    self.broken = true;
                    return Err(Error::Refused { what, reply: r });
                }
            }
        }
        self.write(&data_block(content)).await?;
        let r = self.reply().await?;
        if r.code != 250 {
            self.broken = true;
            return Err(Error::Refused { what: "DATA", reply: r });
        }
        Ok(r)
    }

    /// NOOP: is the session still usable?
    pub async fn test_connected(&mut self) -> bool {
        !self.broken && self.command("NOOP", "NOOP\r\n", 250).await.is_ok()
    }

    /// QUIT, ending the session politely, for at most `within`: a server that stopped
    /// answering does not hold the caller up.
    pub async fn quit(mut self, within: std::time::Duration) {
        let _ = tokio::time::timeout(within, async {
            if !self.broken {
                let _ = self.command("QUIT", "QUIT\r\n", 221).await;
            }
            let _ = self.io.get_mut().shutdown().await;
        })
        .await;
    }

    async fn command(&mut self, what: &'static str, line: &str, want: u16) -> Result<Reply, Error> {
        self.send_line(line).await?;
        let r = self.reply().await?;
        if r.code != want {
            self.broken = true;
            return Err(Error::Refused { what, reply: r });
        }
        Ok(r)
    }

    async fn send_line(&mut self, line: &str) -> Result<(), Error> {
        self.write(line.as_bytes()).await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let r = async {
            self.io.get_mut().write_all(bytes).await?;
            self.io.get_mut().flush().await
        }
        .await;
        if r.is_err() {
            self.broken = true;
        }
        Ok(r?)
    }

    /// Reads the next reply.
    async fn reply(&mut self) -> Result<Reply, Error> {
        loop {
            match parse_reply(&self.pending) {
                Ok(Some((r, used))) => {
                    self.pending.drain(..used);
                    return Ok(r);
                }
                Ok(None) => {}
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            }
            if self.pending.len() > MAX_REPLY {
                self.broken = true;
                return Err(Error::Protocol("the server's reply is too long".into()));
            }
            let before = self.pending.len();
            let n = match (&mut self.io).take(MAX_LINE as u64).read_until(b'\n', &mut self.pending).await {
                Ok(n) => n,
                Err(e) => {
                    self.broken = true;
                    return Err(e.into());
                }
            };
            if n == 0 {
                self.broken = true;
                return Err(Error::Protocol("the server closed the connection".into()));
            }
            if !self.pending.ends_with(b"\n") && self.pending.len() - before >= MAX_LINE {
                self.broken = true;
                return Err(Error::Protocol("a reply line of the server is too long".into()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(s: &str) -> Reply {
        parse_reply(s.as_bytes()).expect("parses").expect("whole").0
    }

    #[test]
    fn replies_single_and_multiline() {
        assert_eq!(
            reply("250 2.0.0 Ok\r\n"),
            Reply {
                code: 250,
                lines: vec!["2.0.0 Ok".into()]
            }
        );
        let r = reply("250-mx.k.se\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
        assert_eq!(r.code, 250);
        assert_eq!(r.lines, ["mx.k.se", "PIPELINING", "8BITMIME"]);
        // A bare code, and LF alone.
        assert_eq!(reply("354\n").code, 354);
        // Incomplete: a continuation line without its last line.
        assert!(parse_reply(b"250-mx\r\n250-SIZE\r\n").expect("ok").is_none());
        // Pipelined answers: one reply at a time, with what it used.
        let (r, used) = parse_reply(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n")
            .expect("ok")
            .expect("one");
        assert_eq!((r.code, used), (250, 14));
    }

    #[test]
    fn bad_replies_are_errors() {
        for bad in ["hello\r\n", "25 x\r\n", "250x\r\n", "250-a\r\n251 b\r\n", "999 x\r\n", "199 x\r\n"] {
            assert!(parse_reply(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ehlo_extensions() {
        let x = Extensions::of(&reply(
            "250-mx.k.se\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250-AUTH PLAIN login XOAUTH2\r\n250-8bitmime\r\n250 SMTPUTF8\r\n",
        ));
        assert!(x.pipelining && x.eight_bit_mime && x.smtputf8 && x.starttls);
        assert_eq!(x.auth, ["PLAIN", "LOGIN", "XOAUTH2"]);
        // The greeting line is not a keyword.
        assert!(!Extensions::of(&reply("250 PIPELINING\r\n")).pipelining);
    }

    #[test]
    fn data_is_dot_stuffed_and_ended() {
        assert_eq!(data_block(b"a\r\n.b\r\n..c\r\n"), b"a\r\n..b\r\n...c\r\n.\r\n");
        assert_eq!(data_block(b".first"), b"..first\r\n.\r\n");
        // Bare LF becomes CRLF; a dot after it is stuffed too.
        assert_eq!(data_block(b"x\n.\ny"), b"x\r\n..\r\ny\r\n.\r\n");
        assert_eq!(data_block(b""), b".\r\n");
        assert_eq!(data_block(b"end\r\n"), b"end\r\n.\r\n");
    }

    #[test]
    fn envelope_parameters_follow_the_content() {
        let mut x = Extensions {
            eight_bit_mime: true,
            ..Extensions::default()
        };
        let to = vec!["a@k.se".to_string(), "b@k.se".to_string()];
        let c = envelope_commands(&x, "s@k.se", &to, b"ascii").expect("ok");
        assert_eq!(
            c,
            ["MAIL FROM:<s@k.se>\r\n", "RCPT TO:<a@k.se>\r\n", "RCPT TO:<b@k.se>\r\n", "DATA\r\n"]
        );
        let c = envelope_commands(&x, "s@k.se", &to, "Hälsningar".as_bytes()).expect("ok");
        assert_eq!(c[0], "MAIL FROM:<s@k.se> BODY=8BITMIME\r\n");
        let e = envelope_commands(&x, "s@k.se", &["å@k.se".to_string()], b"x").expect_err("needs SMTPUTF8");
        assert!(e.is_permanent() && e.to_string().contains("SMTPUTF8"), "{e}");
        x.smtputf8 = true;
        assert_eq!(
            envelope_commands(&x, "s@k.se", &["å@k.se".to_string()], b"x").expect("ok")[0],
            "MAIL FROM:<s@k.se> SMTPUTF8\r\n"
        );
        x.eight_bit_mime = false;
        assert!(envelope_commands(&x, "s@k.se", &to, "ä".as_bytes()).is_err());
        assert!(envelope_commands(&x, "s@k.se\r\nRSET", &to, b"x").is_err());
        assert!(envelope_commands(&x, "s@k.se", &[], b"x").is_err());
    }

    #[test]
    fn errors_say_what_and_whether_to_retry() {
        let e = Error::Refused {
            what: "RCPT TO",
            reply: reply("550 5.1.1 <x@k.se>: Recipient address rejected\r\n"),
        };
        assert!(e.is_permanent());
        assert_eq!(
            e.to_string(),
            "permanent error (550) to RCPT TO: 5.1.1 <x@k.se>: Recipient address rejected"
        );
        let e = Error::Refused {
            what: "MAIL FROM",
            reply: reply("451 4.3.0 try later\r\n"),
        };
        assert!(!e.is_permanent());
        assert!(!Error::Protocol("x".into()).is_permanent());
    }
}
