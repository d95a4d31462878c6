//! One HTTP request: authenticate, pin the caller's identity, refuse a cross-site POST, and
//! hand the request to the feature its path names: the launch form ([`crate::launch`]) or
//! "your instances" ([`crate::mine`]).

use std::time::Duration;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse as HttpResponse;
use jiff::Timestamp;
use serde_json::Value;

use fleetkeeper::Error;
use fleetkeeper::http::{Denied, Request, Response, authenticate, caller_identity, foreign_origin};
use fleetkeeper::telemetry::Metrics;

use crate::config::Config;
use crate::ports::App;
use crate::ports::{Claims, Instances};
use crate::{launch, mine};

pub const RESERVE: Duration = Duration::from_secs(3);

/// The features, by the path that reaches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Launch,
    Mine,
}

/// Every path the function answers.
const ROUTES: [(&str, Route); 4] = [
    ("", Route::Launch),
    ("/", Route::Launch),
    ("/mine", Route::Mine),
    ("/mine/", Route::Mine),
];

fn route_of(path: &str) -> Option<Route> {
    ROUTES.iter().find(|(p, _)| *p == path).map(|(_, r)| *r)
}

pub async fn run<I: Instances + Sync, C: Claims + Sync>(
    app: &App<I, C>,
    config: &Config,
    payload: Value,
    now: Timestamp,
    metrics: &mut Metrics,
) -> Result<HttpResponse, Error> {
    let mut req = Request::from_event(payload)?;
    if let Err(denied) = authenticate(&req, &config.auth, app.secret.as_ref()).await {
        denied.log(&req);
        let metric = match denied {
            Denied::SecretUnreadable(_) => "Failures",
            Denied::Missing | Denied::Wrong => "LaunchRejected",
        };
        metrics.count(metric, 1);
        return Ok(Response::error(
            Some(&req),
            denied.status(),
            denied.message(),
        ));
    }
    // From here on the caller is who they are, not what they called their session: an
    // assumed role's session name is the caller's own choice (SESSION_ROLES excepted).
    if let Some(arn) = req.iam_caller.take() {
        match caller_identity(&arn, &config.session_roles) {
            Ok(identity) => req.iam_caller = Some(identity),
            Err(why) => {
                tracing::info!(caller = %arn, "refused: {why}");
                metrics.count("LaunchRejected", 1);
                return Ok(Response::error(Some(&req), 403, &why));
            }
        }
    }
    let Some(route) = route_of(&req.path) else {
        return Ok(Response::error(Some(&req), 404, "not found"));
    };
    // A form posted from another origin through a route that adds the secret is not the
    // caller's (CSRF): a browser's POST is taken only from the form's own origin.
    let own = config
        .public_authority
        .as_deref()
        .or(req.header("host"))
        .unwrap_or_default();
    if req.method == "POST"
        && let Some(why) = foreign_origin(&req, own)
    {
        metrics.count("LaunchRejected", 1);
        return Ok(Response::error(Some(&req), 403, &why));
    }
    Ok(match route {
        Route::Launch => launch::route(app, config, &req, now, metrics).await,
        Route::Mine => mine::route(app, config, &req, now, metrics).await,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_config;
    use crate::ports::fake::{FakeClaims, FakeEc2};
    use fleetkeeper::ec2::Instance;
    use fleetkeeper::seal::{Key, KeyRing, Keys, SEAL_TAG};
    use fleetkeeper::{Env, Mode};
    use serde_json::json;

    type Fake = App<FakeEc2, FakeClaims>;

    fn app() -> Fake {
        App {
            ec2: FakeEc2::default(),
            secret: None,
            region: "eu-west-1".into(),
            keys: Keys::Fixed(KeyRing::new(Key::new("v1", vec![5; 32]).unwrap())),
            claims: FakeClaims::default(),
        }
    }

    fn config(extra: &[(&str, &str)]) -> Config {
        let mut pairs = vec![
            ("ALLOWED_SIZES", "small=t3.micro,medium=t3.small"),
            ("LAUNCH_TEMPLATE", "dev-box"),
            ("QUOTA_BUCKET", "launch-claims"),
        ];
        pairs.extend_from_slice(extra);
        Config::from_env(&Env::of(&pairs)).unwrap()
    }

    fn event(name: &str) -> Value {
        let path = format!(
            "{}/../../events/instance-launcher/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// The JSON launch, with its own nonce.
    fn launch(nonce: &str) -> Value {
        let mut e = event("post-json");
        let mut body: Value = serde_json::from_str(e["body"].as_str().unwrap()).unwrap();
        body["nonce"] = nonce.into();
        e["body"] = body.to_string().into();
        e
    }

    /// A POST to `/mine` from the same caller.
    fn mine(body: Value) -> Value {
        let mut e = event("post-json");
        e["rawPath"] = "/mine".into();
        e["requestContext"]["http"]["path"] = "/mine".into();
        e["body"] = body.to_string().into();
        e
    }

    async fn send(app: &Fake, config: &Config, event: Value) -> HttpResponse {
        let now: Timestamp = "2026-12-01T09:00:00Z".parse().unwrap();
        let mut metrics = Metrics::for_function("instance-launcher");
        run(app, config, event, now, &mut metrics).await.unwrap()
    }

    /// Every tag of `genuine`, seal included, on an instance it never launched.
    fn forged(genuine: &Instance, id: &str) -> Instance {
        Instance {
            id: id.into(),
            state: "running".into(),
            ..genuine.clone()
        }
    }

    #[tokio::test]
    async fn a_launch_is_sealed_and_a_repeat_answers_with_it() {
        let (app, config) = (app(), test_config());
        let r = send(&app, &config, launch("n-1")).await;
        assert_eq!(r.status_code, 201, "{:?}", r.body);
        let launched = app.ec2.all();
        assert_eq!(launched.len(), 1);
        assert!(launched[0].tags.contains_key(SEAL_TAG));
        let again = send(&app, &config, launch("n-1")).await;
        assert_eq!(again.status_code, 200, "{:?}", again.body);
        assert_eq!(app.ec2.all().len(), 1, "a repeat launches nothing");
    }

    #[tokio::test]
    async fn the_quota_counts_sealed_instances_only() {
        let (app, config) = (app(), config(&[("MAX_PER_OWNER", "2")]));
        assert_eq!(send(&app, &config, launch("n-1")).await.status_code, 201);
        let genuine = app.ec2.all().remove(0);
        app.ec2.add(forged(&genuine, "i-0fffffffffffffff0"));
        assert_eq!(send(&app, &config, launch("n-2")).await.status_code, 201);
        let full = send(&app, &config, launch("n-3")).await;
        assert_eq!(full.status_code, 409, "{:?}", full.body);
        assert_eq!(app.ec2.all().len(), 3, "two launched, one forged");
    }

    #[tokio::test]
    async fn your_instances_terminates_only_a_sealed_one() {
        let (app, config) = (app(), test_config());
        assert_eq!(send(&app, &config, launch("n-1")).await.status_code, 201);
        let genuine = app.ec2.all().remove(0);
        let copy = forged(&genuine, "i-0fffffffffffffff0");
        app.ec2.add(copy.clone());
        let ask =
            |id: &str| mine(json!({"instance_id": id, "action": "terminate", "confirm": true}));
        let refused = send(&app, &config, ask(&copy.id)).await;
        assert_eq!(refused.status_code, 404, "{:?}", refused.body);
        assert_eq!(
            app.ec2.get(&copy.id).unwrap(),
            copy,
            "the forged one is untouched"
        );
        let done = send(&app, &config, ask(&genuine.id)).await;
        assert_eq!(done.status_code, 200, "{:?}", done.body);
        assert!(app.ec2.get(&genuine.id).unwrap().state.is_gone());
    }

    #[tokio::test]
    async fn a_dry_run_launches_nothing() {
        let (app, mut config) = (app(), test_config());
        config.mode = Mode::DryRun;
        let r = send(&app, &config, launch("n-1")).await;
        assert!(r.status_code < 300, "{:?}", r.body);
        assert!(app.ec2.all().is_empty());
    }

    #[tokio::test]
    async fn unknown_paths_methods_and_events_are_refused() {
        let (app, config) = (app(), test_config());
        let mut elsewhere = launch("n-1");
        elsewhere["rawPath"] = "/admin".into();
        assert_eq!(send(&app, &config, elsewhere).await.status_code, 404);
        let mut delete = launch("n-1");
        delete["requestContext"]["http"]["method"] = "DELETE".into();
        assert_eq!(send(&app, &config, delete).await.status_code, 405);
        let mut metrics = Metrics::for_function("instance-launcher");
        let err = run(
            &app,
            &config,
            json!("launch"),
            Timestamp::UNIX_EPOCH,
            &mut metrics,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Input(_)), "{err}");
        assert!(app.ec2.all().is_empty());
    }
}
