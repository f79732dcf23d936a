//! `GET` on a node's operations endpoint, and reading `/metrics`.

#![allow(dead_code)] // Each test crate uses what it needs.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

/// Bound of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET path` on `http`: the status code and the body.
pub async fn get(http: SocketAddr, path: &str) -> (u16, String) {
    tokio::time::timeout(REQUEST_TIMEOUT, async {
        let stream = tokio::net::TcpStream::connect(http).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let request = hyper::Request::get(path)
            .header("host", http.to_string())
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    })
    .await
    .expect("an HTTP answer within the timeout")
}

/// The value of the sample `series` (name and labels, as written) in a
/// `/metrics` body, if present.
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.split(' ').next()?.parse().ok()
    })
}

/// Like [`sample`], failing the test when the series is missing.
pub fn must(metrics: &str, series: &str) -> f64 {
    sample(metrics, series).unwrap_or_else(|| panic!("no {series} in:\n{metrics}"))
}
