//! The plan, pure: (volumes, our snapshots, settings, now) -> what to create ([`create`]) and
//! which snapshots retention lets go ([`retention`]), each with its reason. No I/O, no clock.

pub mod archive;
pub mod copy;
pub mod create;
pub mod drill;
pub mod region;
pub mod retention;
pub mod trust;

pub use archive::{Archive, plan_archive};
pub use copy::{CopyPlan, plan_copies};
pub use create::{CreatePlan, plan_create};
pub use drill::{DrillPlan, Earlier, StartDrill, drill_day, plan_drills};
pub use region::{Destination, Source, share_run_deletes};
pub use retention::{Decision, decide, share_deletes};
pub use trust::{NotOurs, Trusted, sort_by_seal};
