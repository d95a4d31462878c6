//! instance-launcher: wiring only; [`instance_launcher::init`] builds the clients, [`instance_launcher::handle`] serves.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    fleetkeeper::lambda::run(
        "instance-launcher",
        instance_launcher::RESERVE,
        instance_launcher::init,
        instance_launcher::handle,
    )
    .await
}
