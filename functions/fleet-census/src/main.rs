//! fleet-census: wiring only; [`fleet_census::init`] builds the clients, [`fleet_census::handle`] serves.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    fleetkeeper::lambda::run(
        "fleet-census",
        fleet_census::RESERVE,
        fleet_census::init,
        fleet_census::handle,
    )
    .await
}
