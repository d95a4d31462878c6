//! snapshot-janitor: EBS snapshots on a schedule, pruned by a retention policy that never
//! loses what it must keep.
//!
//! In progress: [`retention`] (prune plan) and [`create`] (create plan) are pure and tested,
//! [`ebs`] is tested against moto, [`apply`] against an in-memory fake. The handler, report,
//! Lambda entry point, template resources and demo step come next.

pub mod apply;
pub mod config;
pub mod create;
pub mod ebs;
pub mod handler;
pub mod report;
pub mod retention;
