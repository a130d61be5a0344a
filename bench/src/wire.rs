//! The load generator's HTTP/1.1 client for `http`: one keep-alive
//! connection per worker, each request written in one call and its answer
//! parsed with `httparse`; no pool, no task per connection.
//!
//! The load shares the machine's two cores with the server it measures, so
//! every cycle the client spends is taken from the server. With `reqwest`
//! (its pool, its connection task, its URL and header handling) the client
//! was a third of the process in the profile (BENCHMARKS.md); a load
//! generator should cost what `wrk` costs: the system calls. The server
//! still gets real HTTP/1.1 over real TCP on loopback.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Connection {
    stream: TcpStream,
    /// The answer being read; reused from request to request.
    buf: Vec<u8>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends a POST with a JSON body and a bearer token and reads the
    /// whole answer; returns its status code.
    pub async fn post(&mut self, path: &str, token: &str, body: &str) -> anyhow::Result<u16> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream.write_all(request.as_bytes()).await?;
        self.buf.clear();
        let (status, end) = loop {
            self.read_more().await?;
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head) = response.parse(&self.buf)? {
                let status = response.code.context("an answer without a status")?;
                let length = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .context("an answer without Content-Length (the client reads no other)")?;
                let length: usize = std::str::from_utf8(length.value)?.trim().parse()?;
                break (status, head + length);
            }
        };
        while self.buf.len() < end {
            self.read_more().await?;
        }
        anyhow::ensure!(
            self.buf.len() == end,
            "the server sent more than one answer"
        );
        Ok(status)
    }

    async fn read_more(&mut self) -> anyhow::Result<()> {
        let read = self.stream.read_buf(&mut self.buf).await?;
        anyhow::ensure!(read > 0, "the server closed the connection");
        Ok(())
    }
}
