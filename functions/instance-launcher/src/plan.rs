//! The launcher's plans, pure, one per feature (each lives with its feature):
//! - [`launch`]: whether a form's launch goes ahead, with which type, tags and token;
//! - [`mine`]: what an extend, stop or terminate means for one instance as it is now.
//!
//! No I/O, no clock: the handler passes the time in.

pub use crate::launch::plan as launch;
pub use crate::mine::plan as mine;
