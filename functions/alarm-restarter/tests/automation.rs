//! The automation strategy. moto does not implement SSM StartAutomationExecution (it answers
//! HTTP 500), so SSM is answered by aws-smithy-mocks here; EC2 (the instance, its tags, the
//! history) is still moto.

use aws_sdk_ssm::config::{Credentials, Region as SsmRegion};
use aws_sdk_ssm::operation::start_automation_execution::{
    StartAutomationExecutionError, StartAutomationExecutionOutput,
};
use aws_sdk_ssm::types::error::AutomationDefinitionNotFoundException;
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use aws_smithy_types::error::ErrorMetadata;

use alarm_restarter::config::Config;
use alarm_restarter::handler::run;
use alarm_restarter::history::EventKey;
use alarm_restarter::ports::{Region, client_token};
use alarm_restarter::report::RestarterReport;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper_tests::ec2::{instance_tag, launch};
use fleetkeeper_tests::{Moto, clock};
use serde_json::Value;

const ROLE: &str = "arn:aws:iam::123456789012:role/fleetkeeper-restart";
const ALARM: &str = "fleetkeeper-web-1-status-check";

/// The alarm's state timestamp: the real clock's now, as the alarm action sends it.
fn stamp() -> String {
    clock::alarm_stamp(clock::now())
}

fn mocked_ssm(rules: &[&Rule]) -> aws_sdk_ssm::Client {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    let conf = aws_sdk_ssm::Config::builder()
        .behavior_version_latest()
        .region(SsmRegion::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "mocks"))
        .http_client(create_mock_http_client())
        .interceptor(interceptor)
        .build();
    aws_sdk_ssm::Client::from_conf(conf)
}

fn event(id: &str) -> Value {
    let mut e = fleetkeeper_tests::event("alarm-restarter", "alarm-action");
    e["alarmData"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["InstanceId"] =
        id.into();
    e["time"] = stamp().into();
    e["alarmData"]["state"]["timestamp"] = stamp().into();
    e
}

/// moto for EC2 with one opted-in instance; SSM answered by `rules`.
struct World {
    moto: Moto,
    ec2: aws_sdk_ec2::Client,
    id: String,
}

async fn world() -> World {
    let moto = Moto::start();
    let ec2 = Moto::aws(&moto.env(&[]))
        .await
        .client("EC2", aws_sdk_ec2::Client::new);
    let id = launch(&ec2, 1, &[("fleetkeeper:auto-restart", "true")])
        .await
        .remove(0);
    World { moto, ec2, id }
}

impl World {
    async fn run(&self, ssm: &[&Rule], settings: &[(&str, &str)]) -> RestarterReport {
        let region = Region {
            name: "us-east-1".into(),
            ec2: self.ec2.clone(),
            ssm: mocked_ssm(ssm),
        };
        let cfg = Config::from_env(&self.moto.env(settings)).unwrap();
        let mut metrics = Metrics::for_function("alarm-restarter");
        run(
            std::slice::from_ref(&region),
            &cfg,
            &event(&self.id),
            clock::now(),
            &mut metrics,
        )
        .await
        .unwrap()
    }

    async fn history(&self) -> Option<String> {
        instance_tag(&self.ec2, &self.id, "fleetkeeper:restart-history").await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn automation_starts_the_runbook_with_the_instance_role_and_token() {
    let w = world().await;
    let token = client_token(EventKey::of(ALARM, &stamp()), &w.id);
    let expected_id = w.id.clone();
    let start = mock!(aws_sdk_ssm::Client::start_automation_execution)
        .match_requests(move |r| {
            let p = r.parameters().cloned().unwrap_or_default();
            r.document_name() == Some("AWS-RestartEC2Instance")
                && p.get("InstanceId") == Some(&vec![expected_id.clone()])
                && p.get("AutomationAssumeRole") == Some(&vec![ROLE.to_owned()])
                && r.client_token() == Some(token.as_str())
        })
        .then_output(|| {
            StartAutomationExecutionOutput::builder()
                .automation_execution_id("4105a4fc-f944-11e6-9d32-0a1b2c3d4e5f")
                .build()
        });
    let settings = [
        ("RESTART_STRATEGY", "automation"),
        ("AUTOMATION_ASSUME_ROLE_ARN", ROLE),
    ];
    let r = w.run(&[&start], &settings).await;
    assert_eq!(start.num_calls(), 1, "the matching request was sent once");
    assert_eq!(r.done.len(), 1, "{}", serde_json::to_string(&r).unwrap());
    assert_eq!(
        r.done[0].detail.as_ref().unwrap()["automation-execution-id"],
        "4105a4fc-f944-11e6-9d32-0a1b2c3d4e5f"
    );
    assert!(w.history().await.unwrap().contains(':'));

    // The same delivery again: a duplicate, the runbook is not started a second time.
    let r = w.run(&[&start], &settings).await;
    assert_eq!(r.skipped[0].action, "duplicate");
    assert_eq!(start.num_calls(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_runbook_is_reported_and_the_history_put_back() {
    let w = world().await;
    let missing = mock!(aws_sdk_ssm::Client::start_automation_execution).then_error(|| {
        StartAutomationExecutionError::AutomationDefinitionNotFoundException(
            AutomationDefinitionNotFoundException::builder()
                .message("Automation definition not found")
                .meta(
                    ErrorMetadata::builder()
                        .code("AutomationDefinitionNotFoundException")
                        .message("Automation definition not found")
                        .build(),
                )
                .build(),
        )
    });
    // Not retryable: the invocation succeeds with a failed report (a retry would not help).
    let r = w.run(&[&missing], &[]).await;
    assert_eq!(missing.num_calls(), 1);
    assert_eq!(r.failed.len(), 1);
    assert_eq!(
        r.failed[0].code.as_deref(),
        Some("AutomationDefinitionNotFoundException")
    );
    assert!(!r.failed[0].retryable);
    assert_eq!(
        w.history().await.as_deref(),
        Some(""),
        "put back: no restart happened"
    );
}
