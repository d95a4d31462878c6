//! Typed configuration from environment variables.
//!
//! Every reader names the variable, the bad value and what was expected, so a misconfigured
//! function fails at cold start with a message an operator can act on.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A missing or malformed configuration variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {var} is required but not set: expected {expected}")]
    Missing { var: String, expected: String },
    #[error("environment variable {var} has invalid value {value:?}: expected {expected}")]
    Invalid {
        var: String,
        value: String,
        expected: String,
    },
    /// A document (JSON in a variable or in the parameter it names) with a mistake inside:
    /// `origin` says where it came from (`environment variable SCHEDULES`), `kind` what it
    /// should be, `error` where in it and what is wrong.
    #[error("{origin} is not a valid {kind}: {error}")]
    Document {
        origin: String,
        kind: String,
        error: String,
    },
}

impl ConfigError {
    pub fn document(
        origin: impl Into<String>,
        kind: impl Into<String>,
        error: impl Into<String>,
    ) -> Self {
        ConfigError::Document {
            origin: origin.into(),
            kind: kind.into(),
            error: error.into(),
        }
    }

    pub fn invalid(var: &str, value: &str, expected: impl fmt::Display) -> Self {
        ConfigError::Invalid {
            var: var.to_owned(),
            value: value.to_owned(),
            expected: expected.to_string(),
        }
    }
}

/// Where configuration comes from: the process environment, or a fixed map in tests.
#[derive(Debug, Clone, Default)]
pub struct Env {
    // None reads the process environment; Some is a snapshot (tests, or a parsed SSM parameter).
    vars: Option<BTreeMap<String, String>>,
}

impl Env {
    /// Reads the process environment on each lookup.
    pub fn process() -> Self {
        Env { vars: None }
    }

    /// A fixed set of variables; nothing else is visible.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Env {
            vars: Some(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// `Env::of(&[("DRY_RUN", "true")])`: a fixed set, for tests and tools.
    pub fn of(pairs: &[(&str, &str)]) -> Self {
        Env::from_pairs(pairs.iter().copied())
    }

    /// The raw value; an empty or all-blank value counts as unset.
    pub fn get(&self, var: &str) -> Option<String> {
        let value = match &self.vars {
            Some(map) => map.get(var).cloned(),
            None => std::env::var(var).ok(),
        }?;
        let trimmed = value.trim();
        (!trimmed.is_empty()).then(|| trimmed.to_owned())
    }

    /// A required string.
    pub fn required(&self, var: &str, expected: &str) -> Result<String, ConfigError> {
        self.get(var).ok_or_else(|| ConfigError::Missing {
            var: var.to_owned(),
            expected: expected.to_owned(),
        })
    }

    /// A string with a default.
    pub fn string(&self, var: &str, default: &str) -> String {
        self.get(var).unwrap_or_else(|| default.to_owned())
    }

    /// Any value parsed by `parse`, which returns None for a bad value.
    pub fn parse_with<T>(
        &self,
        var: &str,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        match self.get(var) {
            None => Ok(None),
            Some(raw) => parse(&raw)
                .map(Some)
                .ok_or_else(|| ConfigError::invalid(var, &raw, expected)),
        }
    }

    /// A value of any `FromStr` type, with a default.
    pub fn parse<T: FromStr>(
        &self,
        var: &str,
        default: T,
        expected: &str,
    ) -> Result<T, ConfigError> {
        Ok(self
            .parse_with(var, expected, |s| s.parse().ok())?
            .unwrap_or(default))
    }

    /// A boolean: true/false, yes/no, 1/0, on/off (any case).
    pub fn bool(&self, var: &str, default: bool) -> Result<bool, ConfigError> {
        Ok(self
            .parse_with(var, "true or false", |s| {
                match s.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "1" | "on" => Some(true),
                    "false" | "no" | "0" | "off" => Some(false),
                    _ => None,
                }
            })?
            .unwrap_or(default))
    }

    /// A whole number within `min..=max`.
    pub fn u64_in(&self, var: &str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
        let expected = format!("a whole number from {min} to {max}");
        Ok(self
            .parse_with(var, &expected, |s| {
                s.parse::<u64>().ok().filter(|n| (min..=max).contains(n))
            })?
            .unwrap_or(default))
    }

    /// A positive decimal number (rates, seconds).
    pub fn positive_f64(&self, var: &str, default: f64) -> Result<f64, ConfigError> {
        Ok(self
            .parse_with(var, "a number greater than 0", |s| {
                s.parse::<f64>().ok().filter(|n| n.is_finite() && *n > 0.0)
            })?
            .unwrap_or(default))
    }

    /// A comma-separated list; blanks dropped, items trimmed. Unset gives an empty list.
    pub fn list(&self, var: &str) -> Vec<String> {
        self.get(var)
            .map(|raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A comma-separated list of AWS region names (e.g. `eu-west-1,us-east-1`); duplicates dropped.
    pub fn regions(&self, var: &str) -> Result<Vec<String>, ConfigError> {
        let mut out: Vec<String> = Vec::new();
        for r in self.list(var) {
            let parts: Vec<&str> = r.split('-').collect();
            let valid = parts.len() >= 3
                && parts.iter().all(|p| !p.is_empty())
                && parts
                    .last()
                    .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
                && r.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid {
                return Err(ConfigError::invalid(
                    var,
                    &r,
                    "AWS region names such as eu-west-1, comma-separated",
                ));
            }
            if !out.contains(&r) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// A comma-separated list of IAM role ARNs (unset: empty).
    pub fn role_arns(&self, var: &str) -> Result<Vec<String>, ConfigError> {
        let arns = self.list(var);
        for arn in &arns {
            let ok = arn.starts_with("arn:aws") && arn.contains(":iam::") && arn.contains(":role/");
            if !ok {
                return Err(ConfigError::invalid(
                    var,
                    arn,
                    "IAM role ARNs such as arn:aws:iam::123456789012:role/fleetkeeper, comma-separated",
                ));
            }
        }
        Ok(arns)
    }

    /// One IAM role ARN, or None when unset.
    pub fn role_arn(&self, var: &str) -> Result<Option<String>, ConfigError> {
        let mut arns = self.role_arns(var)?;
        if arns.len() > 1 {
            return Err(ConfigError::invalid(
                var,
                &arns.join(","),
                "a single IAM role ARN",
            ));
        }
        Ok(arns.pop())
    }

    /// A comma-separated list of calendar dates (YYYY-MM-DD).
    pub fn date_list(&self, var: &str) -> Result<Vec<jiff::civil::Date>, ConfigError> {
        self.list(var)
            .iter()
            .map(|item| {
                item.parse::<jiff::civil::Date>().map_err(|_| {
                    ConfigError::invalid(var, item, "a comma-separated list of dates as YYYY-MM-DD")
                })
            })
            .collect()
    }

    /// An IANA time zone name such as Europe/Berlin.
    pub fn time_zone(&self, var: &str, default: &str) -> Result<jiff::tz::TimeZone, ConfigError> {
        let name = self.string(var, default);
        jiff::tz::TimeZone::get(&name).map_err(|_| {
            ConfigError::invalid(
                var,
                &name,
                "an IANA time zone name such as Europe/Berlin or UTC",
            )
        })
    }
}

/// The regions AWS has opened (commercial, GovCloud, China), as of this release: a name of the
/// right shape that is not among them is most likely a typo, and a typo in a list of regions that
/// must vote would never vote.
pub const KNOWN_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "ca-west-1",
    "mx-central-1",
    "sa-east-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "us-gov-east-1",
    "us-gov-west-1",
    "cn-north-1",
    "cn-northwest-1",
];

/// Whether `s` is one of [`KNOWN_REGIONS`].
pub fn known_region(s: &str) -> bool {
    KNOWN_REGIONS.contains(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_are_checked() {
        let e = Env::of(&[
            (
                "ROLES",
                "arn:aws:iam::111111111111:role/a, arn:aws:iam::222222222222:role/b",
            ),
            ("ONE", "arn:aws:iam::111111111111:role/a"),
            ("BAD", "arn:aws:iam::111111111111:user/alice"),
        ]);
        assert_eq!(e.role_arns("ROLES").unwrap().len(), 2);
        assert_eq!(
            e.role_arn("ONE").unwrap().as_deref(),
            Some("arn:aws:iam::111111111111:role/a")
        );
        assert_eq!(e.role_arn("UNSET").unwrap(), None);
        assert!(
            e.role_arn("ROLES")
                .unwrap_err()
                .to_string()
                .contains("a single IAM role ARN")
        );
        assert!(e.role_arns("BAD").unwrap_err().to_string().contains("BAD"));
    }

    #[test]
    fn missing_required_names_the_variable_and_expectation() {
        let err = Env::of(&[]).required("TABLE", "a table name").unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable TABLE is required but not set: expected a table name"
        );
    }

    #[test]
    fn blank_counts_as_unset() {
        let e = Env::of(&[("A", "   ")]);
        assert_eq!(e.get("A"), None);
        assert_eq!(e.string("A", "dflt"), "dflt");
        assert!(matches!(
            e.required("A", "x"),
            Err(ConfigError::Missing { .. })
        ));
    }

    #[test]
    fn bool_accepts_common_spellings_and_rejects_others() {
        for (raw, want) in [
            ("TRUE", true),
            ("yes", true),
            ("1", true),
            ("off", false),
            ("False", false),
        ] {
            assert_eq!(
                Env::of(&[("DRY_RUN", raw)]).bool("DRY_RUN", !want).unwrap(),
                want,
                "{raw}"
            );
        }
        assert!(Env::of(&[]).bool("DRY_RUN", true).unwrap());
        let err = Env::of(&[("DRY_RUN", "maybe")])
            .bool("DRY_RUN", false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable DRY_RUN has invalid value \"maybe\": expected true or false"
        );
    }

    #[test]
    fn numbers_are_range_checked() {
        let e = Env::of(&[("MAX", "501"), ("BAD", "ten"), ("NEG", "-1")]);
        assert_eq!(e.u64_in("MAX", 5, 0, 1000).unwrap(), 501);
        assert_eq!(e.u64_in("UNSET", 5, 0, 1000).unwrap(), 5);
        let err = e.u64_in("MAX", 5, 0, 500).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Invalid {
                var: "MAX".into(),
                value: "501".into(),
                expected: "a whole number from 0 to 500".into()
            }
        );
        assert!(e.u64_in("BAD", 5, 0, 10).is_err());
        assert!(e.u64_in("NEG", 5, 0, 10).is_err());
        assert!(Env::of(&[("R", "0")]).positive_f64("R", 1.0).is_err());
        assert_eq!(
            Env::of(&[("R", "2.5")]).positive_f64("R", 1.0).unwrap(),
            2.5
        );
    }

    #[test]
    fn lists_are_trimmed_and_blanks_dropped() {
        let e = Env::of(&[("REGIONS", " eu-west-1, ,us-east-1 ,")]);
        assert_eq!(e.list("REGIONS"), vec!["eu-west-1", "us-east-1"]);
        assert!(e.list("UNSET").is_empty());
    }

    #[test]
    fn known_regions() {
        assert!(known_region("eu-west-1") && !known_region("eu-west-7"));
    }

    #[test]
    fn regions_are_validated_and_deduplicated() {
        let e = Env::of(&[("REGIONS", "eu-west-1, us-gov-west-1,eu-west-1")]);
        assert_eq!(
            e.regions("REGIONS").unwrap(),
            vec!["eu-west-1", "us-gov-west-1"]
        );
        for bad in ["Frankfurt", "eu-west", "eu_west_1", "EU-WEST-1", "eu--1"] {
            let err = Env::of(&[("REGIONS", bad)]).regions("REGIONS").unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn date_list_reports_the_bad_item() {
        let ok = Env::of(&[("SKIP_DATES", "2026-12-24,2026-12-25")])
            .date_list("SKIP_DATES")
            .unwrap();
        assert_eq!(ok.len(), 2);
        let err = Env::of(&[("SKIP_DATES", "2026-12-24,24/12/2026")])
            .date_list("SKIP_DATES")
            .unwrap_err();
        assert!(err.to_string().contains("\"24/12/2026\""), "{err}");
        assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
    }

    #[test]
    fn time_zone_is_validated() {
        assert!(
            Env::of(&[("TZ_NAME", "Europe/Berlin")])
                .time_zone("TZ_NAME", "UTC")
                .is_ok()
        );
        let err = Env::of(&[("TZ_NAME", "Mars/Olympus")])
            .time_zone("TZ_NAME", "UTC")
            .unwrap_err();
        assert!(err.to_string().contains("Mars/Olympus"));
    }

    #[test]
    fn generic_parse_uses_from_str() {
        let e = Env::of(&[("PORT", "8080"), ("BADPORT", "99999")]);
        assert_eq!(e.parse::<u16>("PORT", 1, "a port number").unwrap(), 8080);
        assert!(e.parse::<u16>("BADPORT", 1, "a port number").is_err());
    }
}
