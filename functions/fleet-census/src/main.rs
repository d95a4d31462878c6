//! fleet-census: wiring only. See `handler` for the function.

use fleet_census::config::Config;
use fleet_census::fleet::Ec2Fleet;
use fleet_census::handler;
use fleetkeeper::lambda::boot;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let boot = boot("fleet-census").await?;
    let config = Config::from_env(&boot.env)?;
    let fleets: Vec<Ec2Fleet> = boot
        .aws
        .regional("EC2", &config.regions, aws_sdk_ec2::Client::new)
        .into_iter()
        .map(|(region, client)| Ec2Fleet::new(region, client))
        .collect();
    let (fleets, config, name) = (&fleets, &config, boot.function_name.as_str());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler::run(
            fleets,
            config,
            name,
            &event.context.request_id,
            event.payload,
        )
        .await
    }))
    .await
}
