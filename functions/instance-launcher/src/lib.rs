//! instance-launcher: a function URL that serves a launch form (GET /) and launches an EC2
//! instance from a launch template when it is posted (POST /, form or JSON).
//!
//! parse and validate ([`request`], pure) -> observe ([`ec2`]: the owner's instances, an
//! earlier launch of the same form) -> plan ([`launch`], pure: type, tags, token) -> apply
//! ([`ec2`]) -> answer ([`page`] for browsers, JSON for scripts), routed by [`handler`].

pub mod config;
pub mod ec2;
pub mod handler;
pub mod launch;
pub mod page;
pub mod request;
