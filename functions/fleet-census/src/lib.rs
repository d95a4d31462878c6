//! fleet-census: the example function. A read-only count of EC2 instances per region, by
//! state, and how many opted in to fleetkeeper's schedule tag. It proves the path every
//! function takes (config, the shared AWS loader, paginated observe, pure tally, JSON report,
//! EMF metrics) and changes nothing.

pub mod census;
pub mod config;
pub mod fleet;
pub mod handler;
