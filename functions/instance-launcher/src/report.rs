//! What the function answers: the launch as JSON for scripts or the result page for a browser,
//! field errors, and the values shown again on a refused form. (Its EMF metrics are counted in
//! the handler, one per request.)

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse as HttpResponse;
use serde_json::{Value, json};

use fleetkeeper::Mode;
use fleetkeeper::http::{Request, Response};

use crate::config::Config;
use crate::page;
use crate::plan::{EXPIRES_TAG, Launch, console_url};
use crate::ports::Launched;
use crate::request::{FieldError, LaunchRequest};

/// The answer to a launch (or to a repeat of one): JSON for scripts, the result page for a
/// browser.
#[allow(clippy::too_many_arguments)]
pub fn answer(
    req: &Request,
    region: &str,
    config: &Config,
    r: &LaunchRequest,
    launch: &Launch,
    l: &Launched,
    status: u16,
    repeated: bool,
) -> HttpResponse {
    let dry_run = config.mode == Mode::DryRun;
    let url = console_url(region, &l.id);
    let expires = launch
        .tags
        .iter()
        .find(|(k, _)| k == EXPIRES_TAG)
        .map_or(String::new(), |(_, v)| v.clone());
    if req.wants_json() {
        let tags: serde_json::Map<String, Value> = launch
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        return Response::json(
            status,
            &json!({
                "instance_id": (!dry_run).then_some(&l.id),
                "state": (!dry_run).then_some(&l.state),
                "instance_type": launch.instance_type,
                "expires_at": expires,
                "console_url": (!dry_run).then_some(url),
                "repeated": repeated,
                "dry_run": dry_run,
                "tags": tags,
            }),
        );
    }
    Response::html(
        status,
        page::result(&page::Outcome {
            id: &l.id,
            state: &l.state,
            name: &r.name,
            owner: &r.owner,
            instance_type: &launch.instance_type,
            expires_at: &expires,
            console_url: &url,
            repeated,
            dry_run,
        }),
    )
}

/// A 400 for scripts: each field with its message.
pub fn fields_json(errors: &[FieldError]) -> Value {
    let fields: serde_json::Map<String, Value> = errors
        .iter()
        .map(|e| (e.field.clone(), e.message.clone().into()))
        .collect();
    json!({ "error": "invalid fields: nothing was launched", "fields": fields })
}

/// The values to show again when a valid request was refused as a whole (quota, EC2).
pub fn raw_of(r: &LaunchRequest) -> crate::request::Raw {
    let mut raw = crate::request::Raw::new();
    raw.insert("size".into(), r.size.clone());
    raw.insert("name".into(), r.name.clone());
    raw.insert("owner".into(), r.owner.clone());
    raw.insert("purpose".into(), r.purpose.clone());
    raw.insert("hours".into(), r.hours.to_string());
    if r.nightly_stop {
        raw.insert("nightly_stop".into(), "on".into());
    }
    raw
}
