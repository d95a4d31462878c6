//! nightly-stopper: wiring only; [`nightly_stopper::init`] builds the clients, [`nightly_stopper::handle`] serves.

use std::process::ExitCode;

// One invocation at a time, most of it decoding AWS's answers: one thread does it without
// handing tasks between workers (measured by `make bench`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    fleetkeeper::lambda::run(
        "nightly-stopper",
        nightly_stopper::RESERVE,
        nightly_stopper::init,
        nightly_stopper::handle,
    )
    .await
}
