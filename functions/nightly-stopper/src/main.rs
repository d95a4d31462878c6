//! nightly-stopper: wiring only.

use fleetkeeper::exec::Budget;
use fleetkeeper::lambda::boot;
use fleetkeeper::telemetry::Metrics;
use lambda_runtime::{LambdaEvent, service_fn};
use nightly_stopper::config::Config;
use nightly_stopper::fleet::Ec2Fleet;
use nightly_stopper::handler::{self, RESERVE, Target};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let boot = boot("nightly-stopper").await?;
    let config = Config::from_env(&boot.env)?;
    // The function's own account, or each account named by ROLE_ARNS; every region in each.
    let mut accounts = Vec::new();
    if config.role_arns.is_empty() {
        accounts.push((String::new(), boot.aws.clone()));
    }
    for arn in &config.role_arns {
        let account = arn.split(':').nth(4).unwrap_or_default().to_owned();
        accounts.push((
            account,
            boot.aws
                .assume_role(arn, "fleetkeeper-nightly-stopper")
                .await,
        ));
    }
    let mut targets = Vec::new();
    for (account, aws) in &accounts {
        for (region, client) in aws.regional("EC2", &config.regions, aws_sdk_ec2::Client::new) {
            let name = if account.is_empty() {
                region
            } else {
                format!("{account}/{region}")
            };
            targets.push(Target::new(Ec2Fleet::new(name, client), &config));
        }
    }
    let (targets, config, function) = (&targets, &config, boot.function_name.as_str());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let mut metrics = Metrics::for_function(function);
        metrics.property("requestId", event.context.request_id.as_str());
        let budget = Budget::from_context(&event.context, RESERVE);
        let result = handler::run(
            targets,
            config,
            &event.payload,
            jiff::Timestamp::now(),
            budget,
            &mut metrics,
        )
        .await;
        metrics.flush();
        result
    }))
    .await
}
