//! dns-failover: wiring only.

use std::time::Duration;

use dns_failover::config::{Config, GroupsSource, parse_groups};
use dns_failover::handler::{self, App, RESERVE};
use dns_failover::probe::Prober;
use dns_failover::route53::Route53;
use dns_failover::state::StateStore;
use fleetkeeper::error::aws_err;
use fleetkeeper::http::SecretSource;
use fleetkeeper::lambda::{boot, serve};
use fleetkeeper::telemetry::Metrics;

/// A rotated secret takes effect within this long.
const SECRET_TTL: Duration = Duration::from_secs(300);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let boot = boot("dns-failover").await?;
    let config = Config::from_env(&boot.env)?;
    let ssm = boot.aws.client("SSM", aws_sdk_ssm::Client::new);
    // Groups from a parameter are read at each cold start; a bad one fails the start.
    let groups = match &config.groups {
        GroupsSource::Inline(g) => g.clone(),
        GroupsSource::Parameter(name) => {
            let out = ssm
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await
                .map_err(aws_err("ssm:GetParameter"))?;
            let text = out.parameter().and_then(|p| p.value()).unwrap_or_default();
            parse_groups(text, &format!("GROUPS_PARAMETER ({name})"))?
        }
    };
    let secret = SecretSource::for_mode(&config.auth, ssm.clone(), SECRET_TTL);
    let app = App {
        route53: Route53 {
            client: boot.aws.client("ROUTE_53", aws_sdk_route53::Client::new),
            backoff: Duration::from_millis(500),
        },
        store: StateStore {
            ssm,
            prefix: config.state_prefix.clone(),
        },
        prober: Prober::new()?,
        secret,
        groups,
    };
    let (app, config) = (&app, &config);
    serve(
        &boot.function_name,
        RESERVE,
        async |payload, now, budget, metrics: &mut Metrics| {
            handler::run(app, config, payload, now, budget, metrics).await
        },
    )
    .await
}
