//! alarm-restarter: wiring only; [`alarm_restarter::init`] builds the clients, [`alarm_restarter::handle`] serves.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    fleetkeeper::lambda::run(
        "alarm-restarter",
        alarm_restarter::RESERVE,
        alarm_restarter::init,
        alarm_restarter::handle,
    )
    .await
}
