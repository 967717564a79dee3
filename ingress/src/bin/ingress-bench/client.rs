//! One keep-alive HTTP/1.1 connection, driven by hyper's low-level client: no pool, no retries,
//! no redirects, so one call is exactly one request on the same socket, and what is timed is
//! the server, not a client library's bookkeeping.

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::HOST;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// An open connection to the ingress.
#[derive(Debug)]
pub(crate) struct Connection {
    sender: SendRequest<Full<Bytes>>,
    /// Drives the socket; aborted when the connection is dropped.
    driver: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Connection {
    /// Connects with `TCP_NODELAY`, as any latency-minded client does: without it a small
    /// request can sit in the kernel waiting for the previous one's ACK.
    ///
    /// # Errors
    /// If the TCP connection or the HTTP/1.1 handshake fails.
    pub(crate) async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("while connecting to {addr}"))?;
        stream
            .set_nodelay(true)
            .context("while setting TCP_NODELAY")?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .context("while starting HTTP/1.1")?;
        // Its errors also fail the pending request, which is where they are counted.
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self { sender, driver })
    }

    /// Sends `request` and reads the whole answer (so the connection is free for the next).
    ///
    /// # Errors
    /// The connection broke or closed; it is of no further use then.
    pub(crate) async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<StatusCode, hyper::Error> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        Ok(status)
    }
}

/// A request with `method`, the origin-form `uri`, a `Host` header and `headers`.
pub(crate) fn request(
    method: Method,
    uri: Uri,
    host: HeaderValue,
    headers: HeaderMap,
    body: Bytes,
) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    request.headers_mut().insert(HOST, host);
    request
}

/// One `GET` on a fresh connection: the status, for readiness polling.
///
/// # Errors
/// If the ingress cannot be reached.
pub(crate) async fn get_status(addr: SocketAddr, path: &'static str) -> anyhow::Result<StatusCode> {
    let host = HeaderValue::from_str(&addr.to_string()).context("while naming the host")?;
    let mut connection = Connection::open(addr).await?;
    let request = request(
        Method::GET,
        Uri::from_static(path),
        host,
        HeaderMap::new(),
        Bytes::new(),
    );
    connection
        .send(request)
        .await
        .with_context(|| format!("while calling GET {path}"))
}
