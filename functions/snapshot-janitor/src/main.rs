//! snapshot-janitor: wiring only; [`snapshot_janitor::init`] builds the clients, [`snapshot_janitor::handle`] serves.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    fleetkeeper::lambda::run(
        "snapshot-janitor",
        snapshot_janitor::RESERVE,
        snapshot_janitor::init,
        snapshot_janitor::handle,
    )
    .await
}
