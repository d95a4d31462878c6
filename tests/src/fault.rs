//! A fault proxy between the SDK and moto.
//!
//! moto answers every call at once and never throttles; real AWS throttles, fails with 5xx and
//! drops connections. The proxy forwards to moto and, by rule, answers instead with AWS's own
//! error shape for each protocol (EC2 query XML, SSM JSON, Route 53 REST-XML, S3 XML), a 500 or
//! 503, a dropped connection, or added latency. It can also play an API token bucket per action.
//! It counts the requests it sees per action (`ec2:StopInstances`, `ssm:GetParameter`, ...).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fleetkeeper::exec::{BucketSpec, RateLimiter};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// What to do instead of (or before) forwarding a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The service's throttling error in its protocol's shape: EC2 `RequestLimitExceeded`,
    /// SSM `ThrottlingException`, Route 53 `Throttling`, S3 `SlowDown`.
    Throttle,
    /// Route 53's `PriorRequestNotComplete` (a change to the zone is still being applied).
    PriorRequestNotComplete,
    /// A bare HTTP error status with an empty body (500, 503, ...).
    Status(u16),
    /// The connection is closed without an answer.
    Drop,
    /// The request is forwarded after this delay.
    Latency(Duration),
    /// The request is forwarded and every `from` in the answer's body becomes `to`: AWS
    /// answers moto cannot give (a state reason moto never sets, say).
    Rewrite { from: String, to: String },
}

#[derive(Debug, Clone, PartialEq)]
enum When {
    /// The first N matching requests.
    First(u32),
    /// Each matching request with this probability (deterministic per proxy).
    Rate(f64),
    Always,
}

/// A fault, which requests it applies to, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    fault: Fault,
    /// `ec2:StopInstances` matches one action; `ec2:` every EC2 action; empty, everything.
    on: String,
    when: When,
    hits: u32,
}

impl Rule {
    pub fn new(fault: Fault) -> Self {
        Rule {
            fault,
            on: String::new(),
            when: When::Always,
            hits: 0,
        }
    }

    /// Only requests whose action starts with `action` (exact action, or a `service:` prefix).
    pub fn on(mut self, action: &str) -> Self {
        self.on = action.to_owned();
        self
    }

    pub fn first(mut self, n: u32) -> Self {
        self.when = When::First(n);
        self
    }

    pub fn rate(mut self, probability: f64) -> Self {
        self.when = When::Rate(probability.clamp(0.0, 1.0));
        self
    }

    fn matches(&self, action: &str) -> bool {
        action.starts_with(&self.on)
    }
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    // The same token bucket the functions use to stay under AWS's limits plays AWS's side here.
    buckets: BTreeMap<String, RateLimiter>,
    requests: BTreeMap<String, u64>,
    /// Every request's action, in the order they came, with its body.
    sequence: Vec<String>,
    bodies: Vec<(String, Bytes)>,
    injected: BTreeMap<String, u64>,
    rng: u64,
}

impl State {
    fn next_random(&mut self) -> f64 {
        // xorshift64*: deterministic, good enough to spread faults.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545F4914F6CDD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Counts the request and picks the fault to apply, if any.
    fn decide(&mut self, action: &str) -> Option<Fault> {
        *self.requests.entry(action.to_owned()).or_default() += 1;
        self.sequence.push(action.to_owned());
        let mut chosen = None;
        for i in 0..self.rules.len() {
            if !self.rules[i].matches(action) {
                continue;
            }
            let fire = match self.rules[i].when {
                When::Always => true,
                When::First(n) => self.rules[i].hits < n,
                When::Rate(p) => self.next_random() < p,
            };
            if fire {
                self.rules[i].hits += 1;
                chosen = Some(self.rules[i].fault.clone());
                break;
            }
        }
        if chosen.is_none() && self.buckets.get(action).is_some_and(|b| !b.try_acquire()) {
            chosen = Some(Fault::Throttle);
        }
        if chosen
            .as_ref()
            .is_some_and(|f| !matches!(f, Fault::Latency(_) | Fault::Rewrite { .. }))
        {
            *self.injected.entry(action.to_owned()).or_default() += 1;
        }
        chosen
    }
}

/// The proxy; it runs on its own thread and runtime, so sync and async tests can use it.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port forwarding to `upstream` (e.g. moto's endpoint).
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(Mutex::new(State {
            rng: 0x9E37_79B9_7F4A_7C15,
            ..State::default()
        }));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let upstream = upstream.trim_end_matches('/').to_owned();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(serve(listener, upstream, st, rx));
        });
        FaultProxy {
            addr,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn add(&self, rule: Rule) -> &Self {
        self.lock().rules.push(rule);
        self
    }

    /// Plays AWS's token bucket for one action: calls beyond it are answered throttled.
    pub fn bucket(&self, action: &str, spec: BucketSpec) -> &Self {
        self.lock()
            .buckets
            .insert(action.to_owned(), RateLimiter::new(spec));
        self
    }

    /// Removes all rules and buckets and zeroes the counters.
    pub fn clear(&self) {
        let mut s = self.lock();
        s.rules.clear();
        s.buckets.clear();
        s.requests.clear();
        s.injected.clear();
        s.sequence.clear();
        s.bodies.clear();
    }

    /// Requests seen for one action (faulted ones included).
    pub fn count(&self, action: &str) -> u64 {
        self.lock().requests.get(action).copied().unwrap_or(0)
    }

    /// Requests answered with a fault (latency not included) for one action.
    pub fn injected(&self, action: &str) -> u64 {
        self.lock().injected.get(action).copied().unwrap_or(0)
    }

    /// The actions seen, in order: what came before what.
    pub fn sequence(&self) -> Vec<String> {
        self.lock().sequence.clone()
    }

    /// The bodies of the requests for one action, in order (what was asked, as sent).
    pub fn bodies(&self, action: &str) -> Vec<String> {
        self.lock()
            .bodies
            .iter()
            .filter(|(a, _)| a == action)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    /// Every action seen, with its request count.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Upstream = Client<HttpConnector, Full<Bytes>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn serve(
    listener: std::net::TcpListener,
    upstream: String,
    state: Arc<Mutex<State>>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    let client: Upstream = Client::builder(TokioExecutor::new()).build_http();
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let (upstream, state, client) = (upstream.clone(), state.clone(), client.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                handle(req, upstream.clone(), state.clone(), client.clone())
            });
            // An Err from the service closes the connection unanswered: that is Fault::Drop.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    upstream: String,
    state: Arc<Mutex<State>>,
    client: Upstream,
) -> Result<Response<Full<Bytes>>, BoxError> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let service = signing_service(&parts.headers);
    let action = action_name(
        &service,
        &parts.method,
        parts.uri.path(),
        &parts.headers,
        &body,
    );
    let fault = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        state.bodies.push((action.clone(), body.clone()));
        state.decide(&action)
    };
    match fault {
        Some(Fault::Drop) => return Err("fault proxy: connection dropped on purpose".into()),
        Some(Fault::Status(code)) => {
            return Ok(Response::builder()
                .status(code)
                .body(Full::new(Bytes::new()))?);
        }
        Some(Fault::Throttle) => return Ok(throttle_response(&service, "throttle")?),
        Some(Fault::PriorRequestNotComplete) => {
            return Ok(throttle_response(&service, "prior-request")?);
        }
        Some(Fault::Latency(d)) => tokio::time::sleep(d).await,
        Some(Fault::Rewrite { .. }) | None => {}
    }
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut out = Request::builder()
        .method(parts.method.clone())
        .uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        // Hop-by-hop headers are the proxy's own business; the body is re-sent whole.
        if !matches!(
            name.as_str(),
            "connection" | "transfer-encoding" | "keep-alive"
        ) {
            out = out.header(name, value);
        }
    }
    let resp = client.request(out.body(Full::new(body))?).await?;
    let (parts, body) = resp.into_parts();
    let mut body = body.collect().await?.to_bytes();
    let rewritten = match &fault {
        Some(Fault::Rewrite { from, to }) => {
            body = Bytes::from(String::from_utf8_lossy(&body).replace(from.as_str(), to));
            true
        }
        _ => false,
    };
    let mut back = Response::from_parts(parts, Full::new(body));
    if rewritten {
        // The body's length changed; HEAD answers (no body) keep theirs untouched.
        back.headers_mut().remove("content-length");
    }
    back.headers_mut().remove("transfer-encoding");
    Ok(back)
}

/// The service name from the SigV4 credential scope: `Credential=AKID/date/region/SERVICE/aws4_request`.
fn signing_service(headers: &hyper::HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|cred| cred.split('/').nth(3))
        .unwrap_or("unknown")
        .to_owned()
}

/// `service:Action`, read the way each protocol carries it.
fn action_name(
    service: &str,
    method: &hyper::Method,
    path: &str,
    headers: &hyper::HeaderMap,
    body: &[u8],
) -> String {
    let action = if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        // JSON protocols: X-Amz-Target: AmazonSSM.GetParameter
        target.rsplit('.').next().unwrap_or(target).to_owned()
    } else if let Some(a) = form_field(body, "Action") {
        // Query protocols (EC2, STS): Action=DescribeInstances in the form body.
        a
    } else if service == "route53" {
        route53_action(method, path)
    } else {
        // REST protocols without a better name: METHOD and first path segment.
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        format!("{method}/{first}")
    };
    format!("{service}:{action}")
}

fn form_field(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.to_owned())
    })
}

fn route53_action(method: &hyper::Method, path: &str) -> String {
    let p = path.trim_start_matches("/2013-04-01");
    let name = match (method.as_str(), p) {
        ("POST", "/hostedzone") => "CreateHostedZone",
        ("GET", "/hostedzone") => "ListHostedZones",
        ("GET", "/hostedzonesbyname") => "ListHostedZonesByName",
        ("POST", p) if p.ends_with("/rrset") || p.ends_with("/rrset/") => {
            "ChangeResourceRecordSets"
        }
        ("GET", p) if p.ends_with("/rrset") => "ListResourceRecordSets",
        ("GET", p) if p.starts_with("/change/") => "GetChange",
        ("GET", p) if p.starts_with("/hostedzone/") => "GetHostedZone",
        ("DELETE", p) if p.starts_with("/hostedzone/") => "DeleteHostedZone",
        _ => return format!("{method}{p}"),
    };
    name.to_owned()
}

/// AWS's throttling answer in the shape each protocol really uses.
fn throttle_response(
    service: &str,
    kind: &str,
) -> Result<Response<Full<Bytes>>, hyper::http::Error> {
    let request_id = "fault-proxy-0000";
    let (status, content_type, extra, body) = match (service, kind) {
        (_, "prior-request") | ("route53", _) => {
            let code = if kind == "prior-request" {
                "PriorRequestNotComplete"
            } else {
                "Throttling"
            };
            (
                StatusCode::BAD_REQUEST,
                "text/xml",
                None,
                format!(
                    "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>Rate exceeded</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
                ),
            )
        }
        ("ssm", _) => (
            StatusCode::BAD_REQUEST,
            "application/x-amz-json-1.1",
            Some(("x-amzn-errortype", "ThrottlingException")),
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_owned(),
        ),
        ("s3", _) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "application/xml",
            None,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>{request_id}</RequestId></Error>"
            ),
        ),
        // EC2 and the other query services.
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/xml;charset=UTF-8",
            None,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
            ),
        ),
    };
    let mut b = Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amzn-requestid", request_id);
    if let Some((k, v)) = extra {
        b = b.header(k, v);
    }
    b.body(Full::new(Bytes::from(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_n_then_pass() {
        let mut s = State {
            rng: 1,
            ..State::default()
        };
        s.rules.push(Rule::new(Fault::Throttle).on("ec2:").first(2));
        assert_eq!(s.decide("ec2:DescribeInstances"), Some(Fault::Throttle));
        assert_eq!(s.decide("ssm:GetParameter"), None);
        assert_eq!(s.decide("ec2:StopInstances"), Some(Fault::Throttle));
        assert_eq!(s.decide("ec2:StopInstances"), None);
        assert_eq!(s.requests["ec2:StopInstances"], 2);
        assert_eq!(s.injected["ec2:StopInstances"], 1);
    }

    #[test]
    fn bucket_throttles_beyond_the_burst() {
        let mut s = State::default();
        s.buckets.insert(
            "ec2:StartInstances".into(),
            RateLimiter::new(BucketSpec {
                burst: 5,
                per_second: 0.001,
            }),
        );
        let throttled = (0..8)
            .filter(|_| s.decide("ec2:StartInstances").is_some())
            .count();
        assert_eq!(throttled, 3);
        assert_eq!(
            s.decide("ec2:StopInstances"),
            None,
            "other actions are not limited"
        );
    }

    #[test]
    fn rate_is_roughly_the_probability() {
        let mut s = State {
            rng: 0x1234_5678,
            ..State::default()
        };
        s.rules.push(Rule::new(Fault::Status(500)).rate(0.3));
        let hits = (0..1000).filter(|_| s.decide("s3:GET/b").is_some()).count();
        assert!((250..350).contains(&hits), "{hits}");
    }

    #[test]
    fn actions_are_named_per_protocol() {
        let mut h = hyper::HeaderMap::new();
        h.insert("x-amz-target", "AmazonSSM.GetParameter".parse().unwrap());
        assert_eq!(
            action_name("ssm", &hyper::Method::POST, "/", &h, b"{}"),
            "ssm:GetParameter"
        );
        let h = hyper::HeaderMap::new();
        assert_eq!(
            action_name(
                "ec2",
                &hyper::Method::POST,
                "/",
                &h,
                b"Action=StopInstances&Version=2016-11-15"
            ),
            "ec2:StopInstances"
        );
        assert_eq!(
            action_name(
                "route53",
                &hyper::Method::POST,
                "/2013-04-01/hostedzone/Z1/rrset/",
                &h,
                b""
            ),
            "route53:ChangeResourceRecordSets"
        );
        let mut h = hyper::HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20261121/us-east-1/route53/aws4_request, SignedHeaders=host, Signature=x"
                .parse()
                .unwrap(),
        );
        assert_eq!(signing_service(&h), "route53");
    }
}
