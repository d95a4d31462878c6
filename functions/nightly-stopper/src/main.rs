//! nightly-stopper: wiring only; [`nightly_stopper::init`] builds the clients, [`nightly_stopper::handle`] serves.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    fleetkeeper::lambda::run(
        "nightly-stopper",
        nightly_stopper::RESERVE,
        nightly_stopper::init,
        nightly_stopper::handle,
    )
    .await
}
