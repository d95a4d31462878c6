//! Health probes of a group's primary: an HTTP(S) GET with an expected status range and an
//! optional body substring, or a TCP connect. Each is bounded by the group's timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::Probe;
use crate::config::{Check, HealthCheck};
pub use crate::model::ProbeResult;

/// Bodies are read up to this much when a substring is wanted.
const BODY_LIMIT: usize = 64 * 1024;

/// One HTTP(S) client for the process: connections are reused between runs.
#[derive(Clone)]
pub struct Prober {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl Prober {
    pub fn new() -> Result<Prober, std::io::Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Prober {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(https),
        })
    }
}

impl Probe for Prober {
    async fn probe(&self, hc: &HealthCheck) -> ProbeResult {
        let start = Instant::now();
        let outcome = tokio::time::timeout(hc.timeout, self.check(&hc.check)).await;
        let ms = start.elapsed().as_millis() as u64;
        match outcome {
            Ok(Ok(detail)) => ProbeResult {
                healthy: true,
                detail,
                ms,
            },
            Ok(Err(detail)) => ProbeResult {
                healthy: false,
                detail,
                ms,
            },
            Err(_) => ProbeResult {
                healthy: false,
                detail: format!("timed out after {} ms", hc.timeout.as_millis()),
                ms,
            },
        }
    }
}

impl Prober {
    async fn check(&self, check: &Check) -> Result<String, String> {
        match check {
            Check::Tcp { host, port } => tokio::net::TcpStream::connect((host.as_str(), *port))
                .await
                .map(|_| format!("TCP {host}:{port} open"))
                .map_err(|e| format!("TCP {host}:{port}: {e}")),
            Check::Http {
                url,
                status,
                body_contains,
            } => {
                let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
                let req = hyper::Request::get(uri)
                    .header("user-agent", "fleetkeeper-dns-failover")
                    .body(Empty::new())
                    .map_err(|e| e.to_string())?;
                let res = self.client.request(req).await.map_err(|e| {
                    let mut msg = e.to_string();
                    let mut src = std::error::Error::source(&e);
                    while let Some(s) = src {
                        msg = format!("{msg}: {s}");
                        src = s.source();
                    }
                    msg
                })?;
                let code = res.status().as_u16();
                if code < status.0 || code > status.1 {
                    return Err(format!("HTTP {code} (expected {}-{})", status.0, status.1));
                }
                if let Some(want) = body_contains {
                    // Read until the text shows up or BODY_LIMIT bytes have been seen.
                    let mut body = res.into_body();
                    let mut seen: Vec<u8> = Vec::new();
                    let mut found = false;
                    while seen.len() < BODY_LIMIT {
                        match body.frame().await {
                            Some(Ok(frame)) => {
                                if let Some(data) = frame.data_ref() {
                                    let room = BODY_LIMIT - seen.len();
                                    seen.extend_from_slice(&data[..data.len().min(room)]);
                                }
                                if String::from_utf8_lossy(&seen).contains(want.as_str()) {
                                    found = true;
                                    break;
                                }
                            }
                            Some(Err(e)) => {
                                return Err(format!("HTTP {code}, body unreadable: {e}"));
                            }
                            None => break,
                        }
                    }
                    if !found {
                        return Err(format!(
                            "HTTP {code}, body lacks {want:?} (in its first {} KiB)",
                            BODY_LIMIT / 1024
                        ));
                    }
                }
                Ok(format!("HTTP {code}"))
            }
        }
    }
}
