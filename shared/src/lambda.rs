//! What every `main.rs` does before serving events: read the environment once, start JSON
//! logging, load the AWS configuration. Clients are then built once from the result.

use crate::aws::{Aws, AwsSettings};
use crate::config::Env;
use crate::error::Error;
use crate::telemetry::{self, LogSettings};

/// The process-wide set-up of one function.
pub struct Boot {
    pub env: Env,
    pub aws: Aws,
    /// `AWS_LAMBDA_FUNCTION_NAME`, else the function's own name.
    pub function_name: String,
}

/// Starts logging and loads AWS settings. A bad variable fails the cold start with a message
/// naming it, which Lambda shows as an init error.
pub async fn boot(function: &str) -> Result<Boot, Error> {
    let env = Env::process();
    let log = LogSettings::from_env(&env, function)?;
    telemetry::init(&log);
    let aws = Aws::load(AwsSettings::from_env(&env)?).await;
    Ok(Boot {
        env,
        aws,
        function_name: log.function_name,
    })
}
