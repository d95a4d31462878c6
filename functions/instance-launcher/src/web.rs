//! What both pages share: the page shell, the link to "your instances", reading a POST
//! body by its content type, who the caller is, and the 400 a script gets for bad fields.

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse as HttpResponse;
use aws_lambda_events::http::{HeaderValue, header};
use serde_json::{Map, Value, json};

use fleetkeeper::http::{AuthMode, Request, Response, escape};

use crate::config::Config;
use crate::model::{FieldError, Raw, Rejection, Who, owner_of};

const STYLE: &str = "\
body{font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f4f5f7;color:#1d2430}\
main{max-width:34rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;border-radius:8px;box-shadow:0 1px 3px #0002}\
h1{font-size:1.4rem;margin:0 0 .25rem}p.lead{margin:0 0 1.25rem;color:#4a5568}\
label{display:block;font-weight:600;margin-top:1rem}\
input[type=text],input[type=email],input[type=number],select{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #a0aec0;border-radius:4px;font:inherit}\
.check{display:flex;gap:.5rem;align-items:center;font-weight:400}.check input{width:auto}\
.hint{font-size:.85rem;color:#4a5568;margin:.15rem 0 0}\
.error{color:#b42318;font-size:.9rem;margin:.25rem 0 0}[aria-invalid=true]{border-color:#b42318}\
.banner{background:#fef3f2;border:1px solid #b42318;color:#7a271a;padding:.75rem;border-radius:4px}\
.ok{background:#ecfdf3;border:1px solid #067647;color:#05603a;padding:.75rem;border-radius:4px}\
button{margin-top:1.5rem;padding:.6rem 1.2rem;font:inherit;font-weight:600;background:#1f4fd1;color:#fff;border:0;border-radius:4px;cursor:pointer}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem}dt{font-weight:600}dd{margin:0;word-break:break-all}\
h2{font-size:1.1rem;margin:0 0 .5rem}.lease{border-top:1px solid #e2e8f0;padding:1rem 0}\
form.inline{display:inline-block;margin-right:.75rem}form.inline label{display:inline;margin-right:.5rem}form.inline input[type=number]{width:5rem}\
button.danger{background:#b42318}nav{margin-bottom:1rem;font-size:.9rem}";

pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body><main>\n{body}</main></body></html>\n",
        escape(title)
    )
}

/// `mine?owner=...` for links back to the list.
pub fn list_href(who: Option<&Who>) -> String {
    match who.and_then(Who::owner) {
        Some(owner) => {
            let q: String = form_urlencoded::byte_serialize(owner.as_bytes()).collect();
            format!("mine?owner={q}")
        }
        None => "mine".into(),
    }
}

/// The body of a POST as its content type says, or the error answer.
pub fn body_of<T>(
    req: &Request,
    config: &Config,
    form: impl FnOnce(&[u8], &Config) -> Result<T, Rejection>,
    json: impl FnOnce(&[u8], &Config) -> Result<T, Rejection>,
) -> Result<Result<T, Rejection>, Box<HttpResponse>> {
    if req.body.len() > config.max_body {
        return Err(Box::new(Response::error(
            Some(req),
            413,
            &format!("the body is over {} bytes", config.max_body),
        )));
    }
    match req.content_type().as_str() {
        "application/x-www-form-urlencoded" => Ok(form(&req.body, config)),
        "application/json" => Ok(json(&req.body, config)),
        other => Err(Box::new(Response::error(
            Some(req),
            415,
            &format!(
                "content type {:?} is not accepted: send application/x-www-form-urlencoded or application/json",
                other
            ),
        ))),
    }
}

pub fn query_value(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The IAM caller, or in shared-secret mode the owner e-mail the page was given.
pub fn who(config: &Config, req: &Request, owner: Option<&str>) -> Result<Who, FieldError> {
    match (&config.auth, &req.iam_caller) {
        (AuthMode::Iam, Some(arn)) => Ok(Who::Caller(arn.clone())),
        // authenticate() refuses an IAM request without a caller; this is not reached.
        (AuthMode::Iam, None) => Err(FieldError {
            field: "owner".into(),
            message: "no signed-in caller".into(),
        }),
        (AuthMode::SharedSecret { .. }, _) => owner_of(owner),
    }
}

/// A 400 for scripts: each field with its message, and what was not done.
pub fn fields_json(errors: &[FieldError], not_done: &str) -> Value {
    let fields: serde_json::Map<String, Value> = errors
        .iter()
        .map(|e| (e.field.clone(), e.message.clone().into()))
        .collect();
    json!({ "error": format!("invalid fields: {not_done}"), "fields": fields })
}

/// A form body's fields, each of `allowed` at most once: an unknown or repeated field is an
/// error (a repeat is refused rather than guessed at).
pub fn form_fields(body: &[u8], allowed: &[&str]) -> (Raw, Vec<FieldError>) {
    let mut raw = Raw::new();
    let mut errors = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        let key = k.into_owned();
        if !allowed.contains(&key.as_str()) {
            errors.push(FieldError::new(&key, format!("unknown field {key:?}")));
        } else if raw.insert(key.clone(), v.into_owned()).is_some() {
            errors.push(FieldError::new(&key, "given more than once"));
        }
    }
    (raw, errors)
}

/// A JSON body's object, or why the body is not one (`example` shows the shape expected).
pub fn json_object(body: &[u8], example: &str) -> Result<Map<String, Value>, Rejection> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Rejection::Body(format!("the body is not valid JSON: {e}")))?;
    match value {
        Value::Object(obj) => Ok(obj),
        _ => Err(Rejection::Body(format!(
            "the body must be a JSON object such as {example}"
        ))),
    }
}

/// 405 for a method neither page answers, with what to use instead; both take GET, HEAD and
/// POST.
pub fn method_not_allowed(req: &Request, hint: &str) -> HttpResponse {
    let mut r = Response::error(Some(req), 405, hint);
    r.headers
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
    r
}
