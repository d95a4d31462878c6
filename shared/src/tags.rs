//! Tag keys more than one function reads or writes, with their defaults, so every function
//! reads the same setting the same way.

use crate::config::Env;

/// The tag that opts an instance in to nightly-stopper's schedule (`SCHEDULE_TAG_KEY`).
pub const SCHEDULE_TAG_KEY: &str = "fleetkeeper:schedule";
/// The schedule's name when none is configured (`SCHEDULE_TAG_VALUE`).
pub const SCHEDULE_TAG_VALUE: &str = "office-hours";
/// Auto Scaling sets this tag on its members; fleetkeeper leaves them to their group.
pub const ASG_TAG: &str = "aws:autoscaling:groupName";

/// On instances instance-launcher launches, read by lease-keeper: the owner's e-mail, what it
/// is for, when its lease ends (RFC 3339 UTC), the form's token, the IAM caller.
pub const OWNER_TAG: &str = "fleetkeeper:owner";
pub const PURPOSE_TAG: &str = "fleetkeeper:purpose";
pub const EXPIRES_TAG: &str = "fleetkeeper:expires-at";
pub const TOKEN_TAG: &str = "fleetkeeper:launch-token";
pub const LAUNCHED_BY_TAG: &str = "fleetkeeper:launched-by";

/// Written by lease-keeper: the expiry it has warned about (a new expiry warns again), and when
/// it stopped the instance at the end of its lease. An extension clears both.
pub const WARNED_TAG: &str = "fleetkeeper:warned-for";
pub const EXPIRED_TAG: &str = "fleetkeeper:expired-at";
/// Written by instance-launcher's "your instances" page: how many times the lease was
/// extended, and when the owner terminated it (so a repeated terminate gets the same answer).
pub const EXTENSIONS_TAG: &str = "fleetkeeper:extensions";
pub const TERMINATED_TAG: &str = "fleetkeeper:terminated-at";

/// The opt-in tag as configured: (key, value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleTag {
    pub key: String,
    pub value: String,
}

impl ScheduleTag {
    /// `SCHEDULE_TAG_KEY` and `SCHEDULE_TAG_VALUE`, with their defaults.
    pub fn from_env(env: &Env) -> ScheduleTag {
        ScheduleTag {
            key: env.string("SCHEDULE_TAG_KEY", SCHEDULE_TAG_KEY),
            value: env.string("SCHEDULE_TAG_VALUE", SCHEDULE_TAG_VALUE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let d = ScheduleTag::from_env(&Env::of(&[]));
        assert_eq!(
            (d.key.as_str(), d.value.as_str()),
            ("fleetkeeper:schedule", "office-hours")
        );
        let o = ScheduleTag::from_env(&Env::of(&[("SCHEDULE_TAG_VALUE", "uk-support")]));
        assert_eq!(o.value, "uk-support");
    }
}
