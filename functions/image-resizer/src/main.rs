//! image-resizer: wiring only; [`image_resizer::init`] builds the clients, [`image_resizer::handle`] serves.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    fleetkeeper::lambda::run(
        "image-resizer",
        image_resizer::RESERVE,
        image_resizer::init,
        image_resizer::handle,
    )
    .await
}
