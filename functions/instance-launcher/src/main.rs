//! instance-launcher: wiring only.

use std::time::Duration;

use fleetkeeper::http::SecretSource;
use fleetkeeper::lambda::{boot, serve};
use fleetkeeper::telemetry::Metrics;
use instance_launcher::config::Config;
use instance_launcher::ec2::Ec2;
use instance_launcher::handler::{self, Launcher, RESERVE};

/// A rotated secret takes effect within this long.
const SECRET_TTL: Duration = Duration::from_secs(300);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let boot = boot("instance-launcher").await?;
    let config = Config::from_env(&boot.env)?;
    let ssm = boot.aws.client("SSM", aws_sdk_ssm::Client::new);
    let secret = SecretSource::for_mode(&config.auth, ssm, SECRET_TTL);
    let app = Launcher {
        ec2: Ec2 {
            client: boot.aws.client("EC2", aws_sdk_ec2::Client::new),
        },
        secret,
        region: boot.aws.region().unwrap_or("us-east-1").to_owned(),
    };
    let (app, config) = (&app, &config);
    serve(
        &boot.function_name,
        RESERVE,
        async |payload, now, _budget, metrics: &mut Metrics| {
            handler::handle(app, config, payload, now, metrics).await
        },
    )
    .await
}
