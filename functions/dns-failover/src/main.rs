//! dns-failover: wiring only; [`dns_failover::init`] builds the clients, [`dns_failover::handle`] serves.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    fleetkeeper::lambda::run(
        "dns-failover",
        dns_failover::RESERVE,
        dns_failover::init,
        dns_failover::handle,
    )
    .await
}
