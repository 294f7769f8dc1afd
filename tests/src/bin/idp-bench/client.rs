//! The driver's HTTP/1.1 client: one keep-alive connection per virtual user,
//! requests written into a reused buffer, responses parsed in place
//! (httparse), a cookie jar per browser. No pool, no locks, no task per
//! connection: a virtual user's requests are sequential, so one connection
//! is all it needs.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;

/// Requests sent again after a stale connection (reported with the errors).
pub static RETRIES: AtomicU64 = AtomicU64::new(0);

/// How long an answer may take (the device's long poll waits up to 5 s).
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// One browser: a cookie jar of its own.
#[derive(Default)]
pub struct Jar(pub Vec<(String, String)>);

impl Jar {
    pub fn header(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push_str("; ");
            }
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
    }

    fn take(&mut self, value: &[u8]) {
        let Ok(value) = std::str::from_utf8(value) else {
            return;
        };
        let pair = value.split(';').next().unwrap_or("");
        let Some((name, v)) = pair.split_once('=') else {
            return;
        };
        let (name, v) = (name.trim(), v.trim());
        if let Some(at) = self.0.iter().position(|(k, _)| k == name) {
            if v.is_empty() {
                self.0.remove(at);
            } else {
                v.clone_into(&mut self.0[at].1);
            }
        } else if !v.is_empty() {
            self.0.push((name.to_owned(), v.to_owned()));
        }
    }
}

pub struct Resp {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

/// A failed exchange; `answered`: some of the response had arrived.
struct Failure {
    answered: bool,
    message: String,
}

fn fail(answered: bool, what: &str, e: impl std::fmt::Display) -> Failure {
    Failure {
        answered,
        message: format!("{what}: {e}"),
    }
}

/// One keep-alive connection to the server and its buffers.
pub struct Conn {
    addr: SocketAddr,
    host: String,
    stream: Option<TcpStream>,
    out: String,
    buf: Vec<u8>,
    /// Connections opened (the first one included).
    pub connects: u64,
}

impl Conn {
    /// `base`: `http://host:port` (no TLS: the bench talks to 127.0.0.1).
    pub fn new(base: &str) -> Conn {
        let host = base
            .strip_prefix("http://")
            .unwrap_or(base)
            .trim_end_matches('/')
            .to_owned();
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&host)
            .ok()
            .and_then(|mut a| a.next())
            .unwrap_or_else(|| panic!("server address {host}"));
        Conn {
            addr,
            host,
            stream: None,
            out: String::with_capacity(2048),
            buf: vec![0; 32 * 1024],
            connects: 0,
        }
    }

    pub async fn get(
        &mut self,
        jar: Option<&mut Jar>,
        path: &str,
        authorization: Option<&str>,
    ) -> Result<Resp, String> {
        self.request(jar, "GET", path, authorization, None, "")
            .await
    }

    pub async fn post(
        &mut self,
        jar: Option<&mut Jar>,
        path: &str,
        authorization: Option<&str>,
        content_type: &str,
        body: &str,
    ) -> Result<Resp, String> {
        self.request(jar, "POST", path, authorization, Some(content_type), body)
            .await
    }

    async fn request(
        &mut self,
        mut jar: Option<&mut Jar>,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        content_type: Option<&str>,
        body: &str,
    ) -> Result<Resp, String> {
        let out = &mut self.out;
        out.clear();
        for s in [method, " ", path, " HTTP/1.1\r\nHost: ", &self.host, "\r\n"] {
            out.push_str(s);
        }
        if let Some(jar) = jar.as_deref()
            && !jar.0.is_empty()
        {
            out.push_str("Cookie: ");
            jar.write(out);
            out.push_str("\r\n");
        }
        if let Some(a) = authorization {
            for s in ["Authorization: ", a, "\r\n"] {
                out.push_str(s);
            }
        }
        if let Some(t) = content_type {
            for s in ["Content-Type: ", t, "\r\nContent-Length: "] {
                out.push_str(s);
            }
            out.push_str(&body.len().to_string());
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out.push_str(body);
        for attempt in 0..2 {
            let reused = self.stream.is_some();
            if !reused {
                let stream = TcpStream::connect(self.addr)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                stream
                    .set_nodelay(true)
                    .map_err(|e| format!("connect: {e}"))?;
                self.connects += 1;
                self.stream = Some(stream);
            }
            let exchange = tokio::time::timeout(READ_TIMEOUT, self.exchange(jar.as_deref_mut()));
            match exchange.await {
                Ok(Ok(resp)) => return Ok(resp),
                // A reused keep-alive connection the server closed meanwhile:
                // nothing was answered, so the request is sent once more, on
                // a new connection.
                Ok(Err(f)) if reused && !f.answered && attempt == 0 => {
                    self.stream = None;
                    RETRIES.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(f)) => {
                    self.stream = None;
                    return Err(format!(
                        "transport ({} connection): {}",
                        if reused { "reused" } else { "new" },
                        f.message
                    ));
                }
                Err(_) => {
                    self.stream = None;
                    return Err(format!("timeout: no answer in {READ_TIMEOUT:?}"));
                }
            }
        }
        Err("transport: closed twice".into())
    }

    /// Writes the request in `out`, reads one response.
    async fn exchange(&mut self, mut jar: Option<&mut Jar>) -> Result<Resp, Failure> {
        let Some(stream) = self.stream.as_ref() else {
            return Err(fail(false, "write", "no connection"));
        };
        let mut sent = 0;
        let bytes = self.out.as_bytes();
        while sent < bytes.len() {
            match stream.try_write(&bytes[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => stream
                    .writable()
                    .await
                    .map_err(|e| fail(false, "write", e))?,
                Err(e) => return Err(fail(false, "write", e)),
            }
        }
        let mut filled = 0;
        let (status, location, head, framing, close) = loop {
            if filled > 0 {
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut parsed = httparse::Response::new(&mut headers);
                match parsed.parse(&self.buf[..filled]) {
                    Ok(httparse::Status::Complete(head)) => {
                        let status = parsed.code.unwrap_or(0);
                        let mut location = None;
                        let mut framing = Framing::UntilClose;
                        let mut close = parsed.version == Some(0);
                        for h in parsed.headers.iter() {
                            let name = h.name;
                            if name.eq_ignore_ascii_case("set-cookie") {
                                if let Some(jar) = jar.as_deref_mut() {
                                    jar.take(h.value);
                                }
                            } else if name.eq_ignore_ascii_case("location") {
                                location = std::str::from_utf8(h.value).ok().map(str::to_owned);
                            } else if name.eq_ignore_ascii_case("content-length") {
                                let n = std::str::from_utf8(h.value)
                                    .ok()
                                    .and_then(|v| v.trim().parse().ok())
                                    .ok_or_else(|| fail(true, "response", "bad content-length"))?;
                                framing = Framing::Length(n);
                            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                                if h.value.eq_ignore_ascii_case(b"chunked") {
                                    framing = Framing::Chunked;
                                }
                            } else if name.eq_ignore_ascii_case("connection") {
                                close = h.value.eq_ignore_ascii_case(b"close");
                            }
                        }
                        if status == 204 || status == 304 {
                            framing = Framing::Length(0);
                        }
                        break (status, location, head, framing, close);
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(e) => return Err(fail(true, "response", e)),
                }
            }
            filled = self.read_more(filled, "response head").await?;
        };
        let body = loop {
            let rest = &self.buf[head..filled];
            let done = match framing {
                Framing::Length(n) if rest.len() >= n => Some(rest[..n].to_vec()),
                Framing::Chunked => dechunk(rest),
                _ => None,
            };
            if let Some(body) = done {
                break body;
            }
            match self.read_more(filled, "response body").await {
                Ok(n) => filled = n,
                Err(_) if framing == Framing::UntilClose => {
                    break self.buf[head..filled].to_vec();
                }
                Err(e) => return Err(e),
            }
        };
        if close || framing == Framing::UntilClose {
            self.stream = None;
        }
        Ok(Resp {
            status,
            location,
            body: String::from_utf8(body).unwrap_or_default(),
        })
    }

    /// Reads what is there after `filled` bytes; the new count.
    async fn read_more(&mut self, filled: usize, what: &str) -> Result<usize, Failure> {
        if self.buf.len() - filled < 4096 {
            let len = self.buf.len() * 2;
            self.buf.resize(len, 0);
        }
        let Some(stream) = self.stream.as_ref() else {
            return Err(fail(filled > 0, what, "no connection"));
        };
        loop {
            match stream.try_read(&mut self.buf[filled..]) {
                Ok(0) => return Err(fail(filled > 0, what, "closed by the server")),
                Ok(n) => return Ok(filled + n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => stream
                    .readable()
                    .await
                    .map_err(|e| fail(filled > 0, what, e))?,
                Err(e) => return Err(fail(filled > 0, what, e)),
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// The body of a complete chunked encoding, or None while incomplete.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            // No trailers from the servers measured: the final CRLF.
            return rest.starts_with(b"\r\n").then_some(body);
        }
        if rest.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunks_complete_bodies_only() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert!(dechunk(b"3\r\nabc\r\n2\r\nd").is_none());
        assert!(dechunk(b"3\r\nabc\r\n0\r\n").is_none());
    }

    #[test]
    fn jar_replaces_and_removes_cookies() {
        let mut jar = Jar::default();
        jar.take(b"a=1; Path=/; HttpOnly");
        jar.take(b"b=2");
        jar.take(b"a=3");
        assert_eq!(jar.header(), "a=3; b=2");
        jar.take(b"a=; Max-Age=0");
        assert_eq!(jar.header(), "b=2");
    }
}
