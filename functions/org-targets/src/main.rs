//! org-targets: wiring only; [`org_targets::init`] builds the clients, [`org_targets::handle`] serves.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    fleetkeeper::lambda::run(
        "org-targets",
        org_targets::RESERVE,
        org_targets::init,
        org_targets::handle,
    )
    .await
}
