//! dns-failover: probe each failover group's primary, keep consecutive-result counters in SSM
//! Parameter Store, and point its Route 53 record at the standby when the primary has failed
//! FAIL_AFTER times in a row, and back when it has passed RECOVER_AFTER times.
//!
//! observe ([`probe`], [`state`], [`route53`]) -> decide ([`decide`], pure) -> apply
//! ([`route53`]: one atomic batch per zone, bounded wait for INSYNC) -> report ([`report`]).
//! Triggers ([`trigger`]): the schedule, a CloudWatch alarm, or an HTTP call.

pub mod config;
pub mod decide;
pub mod handler;
pub mod probe;
pub mod report;
pub mod route53;
pub mod state;
pub mod trigger;
