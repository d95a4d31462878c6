//! snapshot-janitor: EBS snapshots on a schedule, pruned by a retention policy that never
//! loses what it must keep.
//!
//! In progress: [`retention`] (the pure prune plan) and [`create`] (the pure create plan) are
//! done and tested; observe, apply and the Lambda entry point come next.

pub mod create;
pub mod ebs;
pub mod retention;
