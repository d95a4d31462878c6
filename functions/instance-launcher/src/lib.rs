//! instance-launcher: a function URL with two features, each in its own folder with its own
//! request, plan, apply, page and report:
//! - [`launch`] (`/`): the launch form, and a launch from it (form or JSON) from a launch
//!   template, within the caller's quota;
//! - [`mine`] (`/mine`): "your instances": the caller's sealed instances, and the extend,
//!   stop and terminate of one of them.
//!
//! [`handler`] authenticates, pins the caller's identity, refuses cross-site POSTs and routes
//! by path; [`model`] holds what both features speak of, [`web`] what both pages share, and
//! [`ports`] the EC2 and S3 calls (with in-memory fakes beside them for tests); [`plan`]
//! names both features' plans.

pub mod config;
pub mod handler;
pub mod launch;
pub mod mine;
pub mod model;
pub mod plan;
pub mod ports;
pub mod web;

use fleetkeeper::Error;
use fleetkeeper::http::SecretSource;
use fleetkeeper::lambda::{Boot, Invocation};
use fleetkeeper::seal::{Keys, SecretKeys};

use config::Config;
pub use handler::RESERVE;
pub use ports::App;
use ports::{Ec2, S3Claims};

/// What one cold start builds: the settings and the clients.
pub struct Lambda {
    pub config: Config,
    pub app: App,
}

/// The wiring of `main`.
pub async fn init(boot: &Boot) -> Result<Lambda, Error> {
    let config = Config::from_env(&boot.env)?;
    let ssm = boot.aws.client("SSM", aws_sdk_ssm::Client::new);
    let app = App {
        ec2: Ec2 {
            client: boot.aws.client("EC2", aws_sdk_ec2::Client::new),
        },
        secret: SecretSource::for_mode(&config.auth, ssm),
        region: boot.aws.region().unwrap_or("us-east-1").to_owned(),
        keys: Keys::Secret(SecretKeys::new(
            boot.aws
                .client("SECRETS_MANAGER", aws_sdk_secretsmanager::Client::new),
            &config.seal_secret,
        )),
        claims: S3Claims {
            client: boot.aws.client("S3", aws_sdk_s3::Client::new),
            bucket: config.quota_bucket.clone(),
        },
    };
    // A shared secret that cannot be read, or is too short, stops the cold start.
    if let Some(secret) = &app.secret {
        secret.check().await?;
    }
    Ok(Lambda { config, app })
}

/// One invocation: one HTTP request.
pub async fn handle(
    lambda: &Lambda,
    inv: Invocation<'_>,
) -> Result<aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse, Error> {
    handler::run(
        &lambda.app,
        &lambda.config,
        inv.payload,
        inv.now,
        inv.metrics,
    )
    .await
}
