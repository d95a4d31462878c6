//! The plan, pure: (volumes, our snapshots, settings, now) -> what to create ([`create`]) and
//! which snapshots retention lets go ([`retention`]), each with its reason. No I/O, no clock.

pub mod create;
pub mod retention;

pub use create::{CreatePlan, plan_create};
pub use retention::{Decision, decide, share_deletes};
