//! lease-keeper: wiring only; [`lease_keeper::init`] builds the clients, [`lease_keeper::handle`] serves.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    fleetkeeper::lambda::run(
        "lease-keeper",
        lease_keeper::RESERVE,
        lease_keeper::init,
        lease_keeper::handle,
    )
    .await
}
