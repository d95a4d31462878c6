//! snapshot-janitor: EBS snapshots on a schedule, pruned by a retention policy that never
//! loses what it must keep.
//!
//! [`retention`] (the prune plan) and [`create`] (the create plan) are pure and carry most
//! tests; [`ebs`] is tested against moto, [`apply`] against an in-memory fake; [`handler`]
//! wires them for the Lambda entry point.

pub mod apply;
pub mod config;
pub mod create;
pub mod ebs;
pub mod handler;
pub mod report;
pub mod retention;
