//! snapshot-janitor: EBS snapshots on a schedule, pruned by a retention policy that never
//! loses what it must keep.
//!
//! In progress: [`retention`] (the pure prune plan) is done and tested; observe, create,
//! apply and the Lambda entry point come next.

pub mod retention;
