//! Every function's real binary under a Runtime API stand-in, as Lambda runs it.
//!
//! - A bad variable fails the cold start the way Lambda expects: the readable sentence (never
//!   Rust's Debug form) in one error-level log line and in a POST to the init-error endpoint,
//!   within a second, then a non-zero exit.
//! - At TRACE, with the shared-secret mode on, the secret reaches no line of output, whatever
//!   the libraries log (lambda_runtime logs raw events, the SDK raw responses, at TRACE).
//!
//! The binaries are the debug builds `cargo build --workspace --bins` leaves (`make test`
//! builds them first).

use std::time::Duration;

use fleetkeeper_tests::Moto;
use fleetkeeper_tests::runtime::{Function, Posted, RuntimeApi};
use serde_json::Value;

/// (function, variable, bad value, what the sentence must say after the variable's name)
const BAD_SETTINGS: &[(&str, &str, &str, &str)] = &[
    (
        "snapshot-janitor",
        "KEEP_LAST",
        "-1",
        "has invalid value \"-1\": expected a whole number from 0 to 10000",
    ),
    (
        "instance-launcher",
        "AWS_MAX_ATTEMPTS",
        "0",
        "has invalid value \"0\": expected a whole number from 1 to 10",
    ),
    (
        "dns-failover",
        "FAILOVER_GROUPS",
        "[{\"name\": ",
        "has invalid value",
    ),
    (
        "nightly-stopper",
        "MAX_ACTIONS",
        "lots",
        "has invalid value \"lots\"",
    ),
    (
        "nightly-stopper",
        "SCHEDULES",
        r#"{"uk-support": {"periods": [{"start": "08:00", "stop": "18:00"}, {"days": "sat", "start": "25:00"}]}}"#,
        "is not a valid schedules document: schedule \"uk-support\": periods[1].start \"25:00\" is not a time of day",
    ),
    (
        "lease-keeper",
        "GRACE_DAYS",
        "a week",
        "has invalid value \"a week\"",
    ),
    (
        "alarm-restarter",
        "COOLDOWN_MINUTES",
        "soon",
        "has invalid value \"soon\"",
    ),
    (
        "image-resizer",
        "JPEG_QUALITY",
        "200",
        "has invalid value \"200\"",
    ),
    (
        "org-targets",
        "ORGANIZATION_UNITS",
        "engineering",
        "has invalid value \"engineering\": expected organizational unit ids",
    ),
    (
        "fleet-census",
        "REGIONS",
        "Frankfurt",
        "has invalid value \"Frankfurt\"",
    ),
    // The log settings themselves: the error is still written, in the default format.
    (
        "fleet-census",
        "AWS_LAMBDA_LOG_LEVEL",
        "LOUD",
        "has invalid value \"LOUD\"",
    ),
];

#[test]
fn a_bad_variable_is_an_init_error_with_the_readable_sentence() {
    for &(function, var, value, says) in BAD_SETTINGS {
        let api = RuntimeApi::start();
        let mut f = Function::spawn(function, &api, &[(var, value)]);
        let posted = api.wait_for(1, Duration::from_secs(10));
        let status = f.wait_exit(Duration::from_secs(10));
        let output = f.output();
        let expected = format!("environment variable {var} {says}");

        let (at, first) = posted.first().unwrap_or_else(|| {
            panic!("{function} {var}={value}: no init error posted; output:\n{output}")
        });
        let Posted::InitError { error_type, body } = first else {
            panic!("{function} {var}={value}: expected an init error first, got {first:?}");
        };
        let took = at.duration_since(f.started);
        assert!(
            took < Duration::from_secs(1),
            "{function} {var}={value}: the init error took {took:?}"
        );
        assert_eq!(
            error_type.as_deref(),
            Some("Runtime.ConfigError"),
            "{function}"
        );
        assert_eq!(body["errorType"], "ConfigError", "{function}");
        let message = body["errorMessage"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&expected),
            "{function}: errorMessage {message:?} should start with {expected:?}"
        );
        assert_eq!(
            posted.len(),
            1,
            "{function}: nothing but the init error: {posted:?}"
        );
        let status = status.unwrap_or_else(|| panic!("{function} {var}={value}: still running"));
        assert!(!status.success(), "{function}: exit status {status}");

        // One error-level JSON line carrying the same sentence; no Debug form anywhere.
        let errors: Vec<Value> = output
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["level"] == "ERROR")
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "{function}: one error line, got:\n{output}"
        );
        assert_eq!(errors[0]["message"], message, "{function}");
        for debug_form in ["Invalid {", "Config(", "Error: "] {
            assert!(
                !output.contains(debug_form),
                "{function}: Rust's Debug form ({debug_form}) in the output:\n{output}"
            );
        }
    }
}

#[test]
fn text_log_format_gets_a_text_error_line() {
    let api = RuntimeApi::start();
    let mut f = Function::spawn(
        "snapshot-janitor",
        &api,
        &[("AWS_LAMBDA_LOG_FORMAT", "Text"), ("KEEP_LAST", "-1")],
    );
    api.wait_for(1, Duration::from_secs(10));
    assert!(
        f.wait_exit(Duration::from_secs(10))
            .is_some_and(|s| !s.success())
    );
    let output = f.output();
    let line = output
        .lines()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_else(|| panic!("no error line:\n{output}"));
    assert!(!line.trim_start().starts_with('{'), "{line}");
    assert!(
        line.contains("environment variable KEEP_LAST has invalid value \"-1\""),
        "{line}"
    );
}

/// Variables for one function.
type Settings = Vec<(&'static str, String)>;

/// A request to a function URL, as Lambda delivers it, carrying the shared secret.
fn url_request(path: &str, secret: &str) -> Value {
    let mut event = fleetkeeper_tests::event("dns-failover", "http-status");
    event["rawPath"] = path.into();
    event["requestContext"]["http"]["path"] = path.into();
    event["headers"]["x-fleetkeeper-secret"] = secret.into();
    event
}

#[test]
fn at_trace_the_secret_reaches_no_line_of_output() {
    let moto = Moto::start();
    // Not a real credential: a value made for this test, stored as moto's SecureString.
    let secret = format!("fk-test-{}-Qm7Zt", std::process::id());
    // Through the SDK, as the functions read it (the region and protocol they use).
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let aws = Moto::aws(&moto.env(&[])).await;
        aws.client("SSM", aws_sdk_ssm::Client::new)
            .put_parameter()
            .name("/fleetkeeper/test/secret")
            .value(&secret)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .expect("PutParameter");
    });

    let groups = r#"[{"name": "web", "zone": "example.com", "record": "www.example.com", "type": "A", "ttl": 60,
        "primary": ["192.0.2.10"], "standby": ["198.51.100.20"],
        "health_check": {"url": "http://127.0.0.1:9/health", "timeout_ms": 200}}]"#;
    let common = [
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_LAMBDA_LOG_LEVEL", "TRACE".to_owned()),
        ("SECRET_PARAMETER", "/fleetkeeper/test/secret".to_owned()),
    ];
    let cases: [(&str, Settings, &str); 2] = [
        (
            "instance-launcher",
            vec![
                ("LAUNCH_TEMPLATE", "dev-box".to_owned()),
                ("ALLOWED_SIZES", "small=t3.micro".to_owned()),
                ("QUOTA_BUCKET", "launch-claims".to_owned()),
            ],
            "/",
        ),
        (
            "dns-failover",
            vec![
                ("FAILOVER_GROUPS", groups.to_owned()),
                ("STATE_PREFIX", "/fleetkeeper/test/failover".to_owned()),
            ],
            "/status",
        ),
    ];
    for (function, extra, path) in cases {
        let api = RuntimeApi::start();
        let vars: Vec<(&str, String)> = common.iter().cloned().chain(extra).collect();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut f = Function::spawn(function, &api, &vars);
        api.push(url_request(path, &secret));
        let posted = api.wait_for(1, Duration::from_secs(30));
        let output = f.output();
        let answer = match posted.first() {
            Some((_, Posted::Response { body, .. })) => body.clone(),
            other => panic!("{function}: expected a response, got {other:?}; output:\n{output}"),
        };
        // The secret was read and accepted: not refused (401, 403), not unreadable (500).
        let status = answer["statusCode"].as_u64().unwrap_or_default();
        assert!(
            !matches!(status, 0 | 401 | 403 | 500),
            "{function}: {answer}"
        );
        assert!(
            f.child.try_wait().unwrap().is_none(),
            "{function} is still serving"
        );
        let _ = f.child.kill();
        let _ = f.child.wait();
        let output = f.output();
        assert!(
            output.lines().count() > 5,
            "{function}: TRACE should log plenty:\n{output}"
        );
        for (n, line) in output.lines().enumerate() {
            assert!(
                !line.contains("Qm7Zt"),
                "{function}: the secret is in line {n} of the output"
            );
        }
    }
}
