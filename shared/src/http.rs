//! Lambda function URLs (feature `function-url`): the request as a function sees it, responses,
//! and the optional shared-secret check that instance-launcher and dns-failover both use.
//!
//! The URL itself should use AuthType AWS_IAM (Lambda then checks SigV4 before invoking and
//! puts the caller in `requestContext.authorizer.iam`). For a form behind a proxy that cannot
//! sign, SECRET_PARAMETER names an SSM SecureString the proxy sends in a header.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use aws_lambda_events::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::error::{AwsError, Error, brief};
use crate::parameter;

/// One HTTP request through a function URL, body decoded.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?` (empty when there is none).
    pub query: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Lambda's id for this request: unique, so it also serves as a form nonce.
    pub request_id: String,
    /// The signed-in caller's ARN when the URL uses AuthType AWS_IAM.
    pub iam_caller: Option<String>,
    /// The client's address as Lambda saw it (behind a proxy: the proxy's).
    pub source_ip: Option<String>,
}

impl Request {
    /// Reads a function URL event. Anything else (a direct invoke with another payload) is an
    /// input error: there is no HTTP client to answer.
    pub fn from_event(payload: Value) -> Result<Request, Error> {
        let shown = brief(&payload);
        let event: LambdaFunctionUrlRequest = serde_json::from_value(payload).map_err(|e| {
            Error::input(format!(
                "expected a Lambda function URL request (payload format 2.0): {e}; got {shown}"
            ))
        })?;
        let ctx = &event.request_context;
        let method = ctx
            .http
            .method
            .clone()
            .ok_or_else(|| Error::input("missing field requestContext.http.method"))?
            .to_ascii_uppercase();
        let path = event
            .raw_path
            .clone()
            .or_else(|| ctx.http.path.clone())
            .unwrap_or_else(|| "/".into());
        let raw = event.body.clone().unwrap_or_default();
        let body = if event.is_base64_encoded {
            base64::engine::general_purpose::STANDARD
                .decode(raw.as_bytes())
                .map_err(|e| Error::input(format!("body is marked base64 but is not: {e}")))?
        } else {
            raw.into_bytes()
        };
        Ok(Request {
            method,
            path,
            query: event.raw_query_string.clone().unwrap_or_default(),
            headers: event.headers.clone(),
            body,
            request_id: ctx.request_id.clone().unwrap_or_default(),
            iam_caller: ctx
                .authorizer
                .as_ref()
                .and_then(|a| a.iam.as_ref())
                .and_then(|i| i.user_arn.clone().or_else(|| i.caller_id.clone())),
            source_ip: ctx.http.source_ip.clone(),
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type without parameters, lowercased (`application/json`).
    pub fn content_type(&self) -> String {
        self.header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// True when the client prefers JSON (scripts) over HTML (browsers).
    pub fn wants_json(&self) -> bool {
        self.content_type() == "application/json"
            || self
                .header("accept")
                .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
    }
}

/// A request refused as a whole: the HTTP status and the sentence the caller is told. Nothing
/// was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Refusal {
    pub fn new(status: u16, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
        }
    }

    /// `{"error": message}` with the status.
    pub fn json(&self) -> LambdaFunctionUrlResponse {
        Response::json(self.status, &serde_json::json!({ "error": self.message }))
    }
}

/// Builds responses with the headers every page needs.
pub struct Response;

impl Response {
    pub fn with_type(status: u16, content_type: &str, body: String) -> LambdaFunctionUrlResponse {
        let mut r = LambdaFunctionUrlResponse::default();
        r.status_code = i64::from(status);
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(content_type) {
            headers.insert(header::CONTENT_TYPE, v);
        }
        // Nothing here is cacheable, and no page may be framed or sniffed.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        r.headers = headers;
        r.body = Some(body);
        r
    }

    pub fn html(status: u16, body: String) -> LambdaFunctionUrlResponse {
        let mut r = Response::with_type(status, "text/html; charset=utf-8", body);
        // Inline CSS only; no scripts at all.
        r.headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'",
            ),
        );
        r
    }

    pub fn json(status: u16, body: &Value) -> LambdaFunctionUrlResponse {
        Response::with_type(status, "application/json", body.to_string())
    }

    /// A JSON `{"error": message}` or a plain HTML page with the message, as the client prefers.
    pub fn error(req: Option<&Request>, status: u16, message: &str) -> LambdaFunctionUrlResponse {
        if req.is_some_and(Request::wants_json) {
            Response::json(status, &serde_json::json!({ "error": message }))
        } else {
            Response::html(
                status,
                format!(
                    "<!doctype html><meta charset=utf-8><title>{status}</title><p>{}</p>\n",
                    escape(message)
                ),
            )
        }
    }
}

/// HTML-escapes text for element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Compares in time that does not depend on where the inputs differ.
pub fn secrets_match(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// How a request proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// The URL uses AuthType AWS_IAM: Lambda checked the signature; the request must carry
    /// the caller (a URL switched to NONE by mistake is refused, not opened).
    Iam,
    /// A header carrying the SecureString named by SECRET_PARAMETER; after a rotation the
    /// previous value still works for `overlap` (SECRET_OVERLAP).
    SharedSecret {
        parameter: String,
        header: String,
        overlap: Duration,
    },
}

impl AuthMode {
    /// `SECRET_PARAMETER` (with `SECRET_HEADER`, default `x-fleetkeeper-secret`) selects the
    /// shared secret; without it, AWS_IAM.
    pub fn from_env(env: &crate::Env) -> Result<AuthMode, crate::ConfigError> {
        Ok(match env.get("SECRET_PARAMETER") {
            Some(parameter) => AuthMode::SharedSecret {
                parameter,
                header: env
                    .string("SECRET_HEADER", "x-fleetkeeper-secret")
                    .to_ascii_lowercase(),
                overlap: Duration::from_secs(env.u64_in(
                    "SECRET_OVERLAP",
                    SECRET_OVERLAP.as_secs(),
                    0,
                    3600,
                )?),
            },
            None => AuthMode::Iam,
        })
    }
}

/// Why a request is not let in.
#[derive(Debug, Clone, PartialEq)]
pub enum Denied {
    /// 401: no credentials at all.
    Missing,
    /// 403: credentials given but wrong.
    Wrong,
    /// 500: the shared secret could not be read, so nothing can be checked and nothing is done.
    SecretUnreadable(AwsError),
}

impl Denied {
    pub fn status(&self) -> u16 {
        match self {
            Denied::Missing => 401,
            Denied::Wrong => 403,
            Denied::SecretUnreadable(_) => 500,
        }
    }

    /// What the client is told: never which part was wrong, never the secret.
    pub fn message(&self) -> &'static str {
        match self {
            Denied::Missing => "authentication required",
            Denied::Wrong => "not allowed",
            Denied::SecretUnreadable(_) => "cannot check credentials right now",
        }
    }

    /// One log line: a warning for a refused caller, an error when the secret is unreadable.
    pub fn log(&self, req: &Request) {
        match self {
            Denied::SecretUnreadable(e) => {
                tracing::error!(error = %e, "the shared secret could not be read")
            }
            _ => {
                tracing::warn!(method = %req.method, path = %req.path, status = self.status(), "request refused: not authenticated")
            }
        }
    }
}

/// How long a secret read from SSM is used before it is read again: a rotation takes effect
/// within this long, with no redeploy.
pub const SECRET_TTL: Duration = parameter::REREAD_AFTER;

/// The shortest shared secret accepted: a shorter one fails the cold start (and any later
/// read), so a weak or placeholder value is never what guards the URL.
pub const MIN_SECRET_CHARS: usize = 16;

/// How long the previous secret still works after a rotation (`SECRET_OVERLAP`, 10 minutes
/// by default): browsers and scripts holding the old one are not cut off mid-rotation.
pub const SECRET_OVERLAP: Duration = Duration::from_secs(600);

/// What was read, and the value it replaced with when.
#[derive(Default)]
struct Held {
    current: Option<(String, Instant)>,
    previous: Option<(String, Instant)>,
}

/// The shared secret, read from SSM at the cold start and again after `ttl` (so a rotation
/// takes effect without a redeploy); the value it replaced keeps working for `overlap`. Its
/// value is never logged or returned.
pub struct SecretSource {
    ssm: aws_sdk_ssm::Client,
    parameter: String,
    ttl: Duration,
    overlap: Duration,
    held: Mutex<Held>,
}

impl SecretSource {
    pub fn new(ssm: aws_sdk_ssm::Client, parameter: &str, ttl: Duration) -> Self {
        SecretSource {
            ssm,
            parameter: parameter.to_owned(),
            ttl,
            overlap: SECRET_OVERLAP,
            held: Mutex::new(Held::default()),
        }
    }

    /// The source a mode needs: None for AWS_IAM. A rotated secret takes effect within
    /// [`SECRET_TTL`]; the previous one works for `overlap` after that.
    pub fn for_mode(mode: &AuthMode, ssm: aws_sdk_ssm::Client) -> Option<Self> {
        match mode {
            AuthMode::SharedSecret {
                parameter, overlap, ..
            } => Some(SecretSource {
                overlap: *overlap,
                ..SecretSource::new(ssm, parameter, SECRET_TTL)
            }),
            AuthMode::Iam => None,
        }
    }

    /// The same source, read again once `ttl` has passed (tests read at every use).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Reads the secret at the cold start: unreadable, or shorter than [`MIN_SECRET_CHARS`],
    /// and the function does not start.
    pub async fn check(&self) -> Result<(), Error> {
        self.refresh().await.map(|_| ()).map_err(|e| match e {
            Unusable::Unreadable(e) => Error::from(e),
            Unusable::TooShort(n) => Error::Config(crate::ConfigError::Document {
                origin: format!("SSM parameter {} (SECRET_PARAMETER)", self.parameter),
                kind: "shared secret".into(),
                error: format!(
                    "it is {n} characters long, fewer than {MIN_SECRET_CHARS}: use a long random value"
                ),
            }),
        })
    }

    /// Whether `given` is the secret, or the one it replaced less than `overlap` ago.
    pub async fn accepts(&self, given: &str) -> Result<bool, AwsError> {
        let current = self.refresh().await.map_err(|e| match e {
            Unusable::Unreadable(e) => e,
            Unusable::TooShort(n) => AwsError::service(
                "ssm:GetParameter",
                "SecretTooShort",
                &format!("the shared secret is {n} characters, fewer than {MIN_SECRET_CHARS}"),
            ),
        })?;
        if secrets_match(given, &current) {
            return Ok(true);
        }
        let held = self.held.lock().expect("not poisoned");
        Ok(held.previous.as_ref().is_some_and(|(old, replaced)| {
            replaced.elapsed() < self.overlap && secrets_match(given, old)
        }))
    }

    /// The current value, read again once `ttl` has passed.
    async fn refresh(&self) -> Result<String, Unusable> {
        if let Some((value, _)) = self
            .held
            .lock()
            .expect("not poisoned")
            .current
            .as_ref()
            .filter(|(_, at)| at.elapsed() < self.ttl)
        {
            return Ok(value.clone());
        }
        let value = parameter::read(&self.ssm, &self.parameter)
            .await
            .map_err(Unusable::Unreadable)?;
        // From here on, no log line can carry it, whoever writes it.
        crate::telemetry::redact(&value);
        let n = value.chars().count();
        if n < MIN_SECRET_CHARS {
            return Err(Unusable::TooShort(n));
        }
        let mut held = self.held.lock().expect("not poisoned");
        let replaced = held.current.take();
        if let Some((old, _)) = replaced
            && old != value
        {
            held.previous = Some((old, Instant::now()));
        }
        held.current = Some((value.clone(), Instant::now()));
        Ok(value)
    }
}

enum Unusable {
    Unreadable(AwsError),
    TooShort(usize),
}

/// Checks a request under `mode`.
pub async fn authenticate(
    req: &Request,
    mode: &AuthMode,
    secret: Option<&SecretSource>,
) -> Result<(), Denied> {
    match mode {
        AuthMode::Iam => match req.iam_caller {
            Some(_) => Ok(()),
            None => Err(Denied::Missing),
        },
        AuthMode::SharedSecret { header, .. } => {
            let Some(given) = req.header(header) else {
                return Err(Denied::Missing);
            };
            let Some(source) = secret else {
                return Err(Denied::Wrong);
            };
            // The secret is at least MIN_SECRET_CHARS long: an empty header never matches.
            if source
                .accepts(given)
                .await
                .map_err(Denied::SecretUnreadable)?
            {
                Ok(())
            } else {
                Err(Denied::Wrong)
            }
        }
    }
}

/// The authority (`host[:port]`, lowercased) of an origin or URL such as
/// `https://abc.lambda-url.us-east-1.on.aws` or `http://127.0.0.1:9000/path`.
pub fn authority(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    if !matches!(scheme, "https" | "http") {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty() && !host.contains('@')).then(|| host.to_ascii_lowercase())
}

/// Why a state-changing request a browser sent is refused (cross-site request forgery), or
/// None when it may go on. Where the shared secret rides on the browser's route to the form, a
/// page on any other origin could post through that route; so a browser's POST is taken only
/// from the form's own origin, `own` (the function URL's host, or PUBLIC_URL's behind a
/// proxy):
/// - `Sec-Fetch-Site` other than `same-origin` or `none` is refused: `same-site` is not
///   enough, since every function URL shares the site `on.aws`;
/// - an `Origin` other than `own` is refused (`null` included);
/// - a request with neither header is not a browser's (curl with the secret, a script) and
///   goes on as documented.
pub fn foreign_origin(req: &Request, own: &str) -> Option<String> {
    if let Some(site) = req.header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Some(format!(
            "a form posted from another site (Sec-Fetch-Site: {site}) is refused: only this page may post"
        ));
    }
    let origin = req.header("origin")?;
    match authority(origin) {
        Some(a) if a == own.to_ascii_lowercase() => None,
        _ => Some(format!(
            "a form posted from another origin ({origin}) is refused: only this page ({own}) may post"
        )),
    }
}

/// Who an IAM caller is, as a name they cannot choose. An assumed role's session name is
/// whatever the caller passed to AssumeRole, so anyone who may assume the role could call
/// themselves "jane": every session of a role is the role itself, unless the role is one of
/// `session_roles` (a name, or a prefix ending in `*`), whose session names an identity
/// provider sets (IAM Identity Center's `AWSReservedSSO_*` roles, a SAML role). A federated
/// user's name is chosen by whoever called GetFederationToken, so it is refused.
pub fn caller_identity(arn: &str, session_roles: &[String]) -> Result<String, String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, _, account, resource] = parts[..] else {
        return Err(format!("{arn:?} is not an IAM caller's ARN"));
    };
    if prefix != "arn" || account.is_empty() {
        return Err(format!("{arn:?} is not an IAM caller's ARN"));
    }
    if service == "iam" && (resource == "root" || resource.starts_with("user/")) {
        return Ok(arn.to_owned());
    }
    match (service, resource.split_once('/')) {
        ("sts", Some(("assumed-role", rest))) => {
            let Some((role, session)) = rest.split_once('/') else {
                return Err(format!("{arn:?} names no session"));
            };
            if role.is_empty() || session.is_empty() {
                return Err(format!("{arn:?} names no role or session"));
            }
            let set_by_provider = session_roles.iter().any(|r| match r.strip_suffix('*') {
                Some(prefix) => role.starts_with(prefix),
                None => role == r,
            });
            if set_by_provider {
                Ok(arn.to_owned())
            } else {
                Ok(format!("arn:{partition}:iam::{account}:role/{role}"))
            }
        }
        ("sts", Some(("federated-user", _))) => Err(
            "a federated user's name is chosen by whoever called GetFederationToken: sign in as an IAM user or through a role".into(),
        ),
        _ => Err(format!("{arn:?} is not a caller this function knows how to name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_session_name_names_nobody_unless_a_provider_sets_it() {
        let none: &[String] = &[];
        let user = "arn:aws:iam::123456789012:user/jane";
        assert_eq!(caller_identity(user, none).unwrap(), user);
        let root = "arn:aws:iam::123456789012:root";
        assert_eq!(caller_identity(root, none).unwrap(), root);
        // Anyone who may assume "developer" can call the session "jane": it is the role.
        for session in ["jane", "bob"] {
            let arn = format!("arn:aws:sts::123456789012:assumed-role/developer/{session}");
            assert_eq!(
                caller_identity(&arn, none).unwrap(),
                "arn:aws:iam::123456789012:role/developer"
            );
        }
        // An identity provider's role keeps its session (the person), by name or prefix.
        let sso = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev_0a1b/jane@example.com";
        for roles in [
            vec!["AWSReservedSSO_*".to_owned()],
            vec!["AWSReservedSSO_Dev_0a1b".to_owned()],
        ] {
            assert_eq!(caller_identity(sso, &roles).unwrap(), sso);
        }
        assert_eq!(
            caller_identity(sso, &["developer".to_owned()]).unwrap(),
            "arn:aws:iam::123456789012:role/AWSReservedSSO_Dev_0a1b"
        );
        let china = "arn:aws-cn:sts::123456789012:assumed-role/ops/x";
        assert_eq!(
            caller_identity(china, none).unwrap(),
            "arn:aws-cn:iam::123456789012:role/ops"
        );
        for bad in [
            "arn:aws:sts::123456789012:federated-user/jane",
            "AIDAEXAMPLE",
            "arn:aws:sts::123456789012:assumed-role/developer",
            "arn:aws:sts::123456789012:assumed-role//x",
            "arn:aws:iam::123456789012:role/developer",
        ] {
            assert!(caller_identity(bad, none).is_err(), "{bad}");
        }
    }

    pub fn event(method: &str, body: &str, headers: Value) -> Value {
        json!({
            "version": "2.0",
            "rawPath": "/",
            "rawQueryString": "",
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "requestId": "c8ef6f2d-6b7e-4c1f-9a3b-8c7d6e5f4a3b",
                "domainName": "abc.lambda-url.us-east-1.on.aws",
                "time": "21/Nov/2026:09:00:00 +0000",
                "timeEpoch": 1795338000000i64,
                "http": {"method": method, "path": "/", "protocol": "HTTP/1.1",
                         "sourceIp": "203.0.113.7", "userAgent": "test"}
            },
            "body": body,
            "isBase64Encoded": false
        })
    }

    #[test]
    fn reads_a_function_url_request() {
        let r = Request::from_event(event(
            "post",
            "a=1",
            json!({"content-type": "application/x-www-form-urlencoded; charset=UTF-8"}),
        ))
        .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.body, b"a=1");
        assert_eq!(r.content_type(), "application/x-www-form-urlencoded");
        assert_eq!(r.request_id, "c8ef6f2d-6b7e-4c1f-9a3b-8c7d6e5f4a3b");
        assert!(!r.wants_json());
        assert_eq!(r.iam_caller, None);

        let mut b64 = event("POST", "", json!({"content-type": "application/json"}));
        b64["body"] = "eyJhIjoxfQ==".into();
        b64["isBase64Encoded"] = true.into();
        b64["requestContext"]["authorizer"] =
            json!({"iam": {"userArn": "arn:aws:iam::123456789012:user/alice"}});
        let r = Request::from_event(b64).unwrap();
        assert_eq!(r.body, br#"{"a":1}"#);
        assert!(r.wants_json());
        assert_eq!(
            r.iam_caller.as_deref(),
            Some("arn:aws:iam::123456789012:user/alice")
        );
    }

    #[test]
    fn other_payloads_are_input_errors() {
        for bad in [json!({}), json!("GET /"), json!({"requestContext": {}})] {
            let err = Request::from_event(bad).unwrap_err();
            assert!(err.to_string().contains("function URL request"), "{err}");
        }
        let mut b64 = event("POST", "%%%", json!({}));
        b64["isBase64Encoded"] = true.into();
        assert!(
            Request::from_event(b64)
                .unwrap_err()
                .to_string()
                .contains("base64")
        );
    }

    #[test]
    fn escaping_and_secret_compare() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
        assert!(secrets_match("s3cret-value", "s3cret-value"));
        assert!(!secrets_match("s3cret-valuf", "s3cret-value"));
        assert!(!secrets_match("s3cret", "s3cret-value"));
        assert!(!secrets_match("", "x"));
    }

    #[tokio::test]
    async fn iam_mode_needs_the_caller() {
        let mut req = Request::from_event(event("GET", "", json!({}))).unwrap();
        assert_eq!(
            authenticate(&req, &AuthMode::Iam, None).await,
            Err(Denied::Missing)
        );
        req.iam_caller = Some("arn:aws:iam::123456789012:user/alice".into());
        assert_eq!(authenticate(&req, &AuthMode::Iam, None).await, Ok(()));
    }

    #[test]
    fn responses_carry_safe_headers() {
        let r = Response::html(200, "<p>hi</p>".into());
        assert_eq!(r.status_code, 200);
        assert_eq!(r.headers["content-type"], "text/html; charset=utf-8");
        assert!(
            r.headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        assert_eq!(r.headers["cache-control"], "no-store");
        let req = Request::from_event(event(
            "POST",
            "",
            json!({"content-type": "application/json"}),
        ))
        .unwrap();
        let e = Response::error(Some(&req), 400, "bad <thing>");
        assert_eq!(e.body.as_deref(), Some(r#"{"error":"bad <thing>"}"#));
        let e = Response::error(None, 404, "no <page>");
        assert!(e.body.unwrap().contains("no &lt;page&gt;"));
    }

    fn post(headers: &[(&str, &str)]) -> Request {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Request {
            method: "POST".into(),
            path: "/".into(),
            query: String::new(),
            headers: map,
            body: Vec::new(),
            request_id: "r-1".into(),
            iam_caller: None,
            source_ip: None,
        }
    }

    #[test]
    fn a_browser_may_post_only_from_the_forms_own_origin() {
        let own = "abc.lambda-url.us-east-1.on.aws";
        let ok = |h: &[(&str, &str)]| foreign_origin(&post(h), own).is_none();
        assert!(ok(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "https://abc.lambda-url.us-east-1.on.aws")
        ]));
        assert!(ok(&[("sec-fetch-site", "none")]), "typed or bookmarked");
        assert!(ok(&[]), "curl with the secret: no browser headers");
        assert!(ok(&[("origin", "https://ABC.lambda-url.us-east-1.on.aws")]));
        for refused in [
            vec![("sec-fetch-site", "same-site")],
            vec![("sec-fetch-site", "cross-site")],
            vec![("origin", "https://evil.lambda-url.us-east-1.on.aws")],
            vec![("origin", "null")],
            vec![
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://evil.example"),
            ],
        ] {
            let why = foreign_origin(&post(&refused), own);
            assert!(
                why.as_deref().is_some_and(|w| w.contains("refused")),
                "{refused:?}"
            );
        }
        assert_eq!(
            authority("http://127.0.0.1:9000/lambda-url/x/").as_deref(),
            Some("127.0.0.1:9000")
        );
        assert_eq!(authority("ftp://x"), None);
        assert_eq!(authority("https://user@evil"), None);
    }
}
