//! alarm-restarter: restart the EC2 instances a CloudWatch alarm names when it goes into ALARM,
//! within guard rails (opt-in tag, cooldown, a cap per window) kept on the instance itself.
//!
//! parse ([`fleetkeeper::alarm`]) -> observe ([`instances`]) -> plan ([`plan`], pure, with [`history`]) ->
//! apply ([`apply`]) -> report ([`report`]).

pub mod apply;
pub mod config;
pub mod handler;
pub mod history;
pub mod instances;
pub mod plan;
pub mod report;
