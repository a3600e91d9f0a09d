//! Reading a response body under a cap.
//!
//! Why: every client reads whole bodies into memory ([`super::send`]). A misbehaving or hostile
//! endpoint (or a proxy error page streamed without end) could make the connector allocate
//! without bound. The largest body a service here legitimately returns is a Log Analytics query
//! result, documented at up to 64 MB, and the log could record at most 16 MiB of it anyway.
//!
//! Invariants: at most [`MAX_RESPONSE_BYTES`] (plus one network chunk) is ever held; a body that
//! announces or reaches more is abandoned (the connection is dropped, not drained) and reported
//! as [`TooLarge`] with the size seen.

/// The most bytes of one response body the connector reads.
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// A body over the cap: how much was announced or read before giving up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// Bytes announced by `Content-Length`, or read when the cap was crossed.
    pub bytes: u64,
    /// The cap.
    pub cap: usize,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "response body of {} bytes or more exceeds the cap of {} bytes; not read",
            self.bytes, self.cap
        )
    }
}

/// Reads `resp`'s body, or stops at `cap` bytes.
pub async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<Result<Vec<u8>, TooLarge>, reqwest::Error> {
    if let Some(announced) = resp.content_length() {
        if announced > cap as u64 {
            return Ok(Err(TooLarge {
                bytes: announced,
                cap,
            }));
        }
    }
    let mut body = Vec::with_capacity(resp.content_length().unwrap_or(0) as usize);
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > cap {
            return Ok(Err(TooLarge {
                bytes: (body.len() + chunk.len()) as u64,
                cap,
            }));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Ok(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP/1.1 server on loopback that answers with `body`, announced by
    /// `Content-Length` or sent chunked.
    async fn serve(body: Vec<u8>, chunked: bool) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 4096];
            let _ = socket.read(&mut request).await;
            if chunked {
                let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
                let _ = socket.write_all(head.as_bytes()).await;
                for piece in body.chunks(64 * 1024) {
                    let frame = format!("{:x}\r\n", piece.len());
                    if socket.write_all(frame.as_bytes()).await.is_err()
                        || socket.write_all(piece).await.is_err()
                        || socket.write_all(b"\r\n").await.is_err()
                    {
                        return; // the client gave up reading: expected over the cap
                    }
                }
                let _ = socket.write_all(b"0\r\n\r\n").await;
            } else {
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            }
        });
        format!("http://{address}/")
    }

    async fn fetch(url: &str, cap: usize) -> Result<Vec<u8>, TooLarge> {
        let resp = reqwest::Client::new().get(url).send().await.unwrap();
        read_capped(resp, cap).await.unwrap()
    }

    #[tokio::test]
    async fn bodies_within_the_cap_are_read_whole() {
        let body = vec![7u8; 300_000];
        for chunked in [false, true] {
            let url = serve(body.clone(), chunked).await;
            assert_eq!(
                fetch(&url, 300_000).await,
                Ok(body.clone()),
                "chunked={chunked}"
            );
        }
    }

    #[tokio::test]
    async fn an_announced_body_over_the_cap_is_not_read() {
        let url = serve(vec![1u8; 2 << 20], false).await;
        assert_eq!(
            fetch(&url, 1 << 20).await,
            Err(TooLarge {
                bytes: 2 << 20,
                cap: 1 << 20
            })
        );
    }

    #[tokio::test]
    async fn a_streamed_body_is_abandoned_once_it_crosses_the_cap() {
        let url = serve(vec![1u8; 4 << 20], true).await;
        match fetch(&url, 1 << 20).await {
            Err(TooLarge { bytes, cap }) => {
                assert!(bytes > 1 << 20 && bytes < 2 << 20, "{bytes}");
                assert_eq!(cap, 1 << 20);
            }
            other => panic!("expected TooLarge, got {:?}", other.map(|b| b.len())),
        }
        let message = TooLarge { bytes: 5, cap: 4 }.to_string();
        assert!(message.contains("exceeds the cap of 4 bytes"), "{message}");
    }
}
