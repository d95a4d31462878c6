//! Settings from environment variables.

use fleetkeeper::exec::{BucketSpec, buckets};
use fleetkeeper::{ConfigError, Env, Mode};
use jiff::tz::TimeZone;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::{MIN_ARCHIVE_DAYS, Rules};

/// DLM's limit, and AWS's: at most this many destination regions.
pub const MAX_COPY_REGIONS: usize = 3;

/// Copies of each completed snapshot in other regions (COPY_TO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copies {
    pub to: Vec<String>,
    /// COPY_KMS_KEYS: the key each destination encrypts with (else the default EBS key).
    pub kms_keys: BTreeMap<String, String>,
    /// COPY_KEEP_LAST, COPY_KEEP_DAILY, ...: each defaults to the source's.
    pub rules: Rules,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub regions: Vec<String>,
    pub rules: Rules,
    pub copies: Copies,
    /// ARCHIVE_AFTER_DAYS: a snapshot kept only by the monthly or yearly rules and older than
    /// this moves to the archive tier.
    pub archive_after_days: Option<u32>,
    /// `SCHEDULE_TIMEZONE`: the zone days, weeks, months and years are counted in.
    pub time_zone: TimeZone,
    /// `MAX_DELETES`: deletions per run; the rest wait for the next run.
    pub max_deletes: usize,
    pub mode: Mode,
    /// `SNAPSHOT_RATE_BURST` / `SNAPSHOT_RATE_PER_SECOND`: CreateSnapshot and DeleteSnapshot calls.
    pub rate: BucketSpec,
    /// `COPY_TAGS_EXCLUDE`: tag keys of a volume or instance not copied onto its snapshots.
    pub copy_tags_exclude: Vec<String>,
    /// `SEAL_SECRET`: the Secrets Manager secret (name or ARN) holding the seal key.
    pub seal_secret: String,
    pub freeze: Freeze,
    /// `RESTORE_DRILL_DAYS`: every this many days (counted from 1970-01-01 in the schedule's
    /// zone, so every deployment drills on the same days) each backup's newest snapshot is
    /// restored to a volume, measured and deleted. 0: no new drills (volumes left by earlier
    /// ones are still deleted).
    pub drill_days: u32,
    /// `DRILL_POLL_MS`: how often a drill volume's state is read (2000).
    pub drill_poll: Duration,
}

/// What an application-consistent set needs: the SSM Command document whose `phase=pre`
/// freezes and `phase=post` thaws, how long to wait for each, and what a failed pre does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freeze {
    /// `CONSISTENCY_DOCUMENT`: None refuses every instance that asks for application
    /// consistency (each is a failure, at run time).
    pub document: Option<String>,
    /// `PRE_TIMEOUT_SECONDS`: the longest wait for each phase (60).
    pub timeout: Duration,
    /// `COMMAND_POLL_MS`: how often a phase's status is read (1000).
    pub poll: Duration,
    pub on_pre_failure: OnPreFailure,
}

/// `ON_PRE_FAILURE`: what a pre phase that did not succeed leads to. Never a silent fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnPreFailure {
    /// No snapshot this period, a failure; the next run tries again.
    Skip,
    /// The set is taken anyway, crash-consistent, and says so.
    CrashConsistent,
}

impl Freeze {
    fn from_env(env: &Env) -> Result<Freeze, ConfigError> {
        let on_pre_failure = match env.string("ON_PRE_FAILURE", "skip").as_str() {
            "skip" => OnPreFailure::Skip,
            "crash-consistent" => OnPreFailure::CrashConsistent,
            other => {
                return Err(ConfigError::invalid(
                    "ON_PRE_FAILURE",
                    other,
                    "skip (no snapshot this period) or crash-consistent (the set taken anyway, and said so)",
                ));
            }
        };
        let document = env
            .get("CONSISTENCY_DOCUMENT")
            .filter(|d| !d.trim().is_empty());
        // VSS snapshots the volumes itself; adopting its snapshots into sets is not built.
        if let Some(d) = document
            .as_deref()
            .filter(|d| d.contains("CreateVssSnapshot"))
        {
            return Err(ConfigError::invalid(
                "CONSISTENCY_DOCUMENT",
                d,
                "a document with phase=pre and phase=post (AWSEC2-CreateVssSnapshot takes the snapshots itself, which this release does not adopt: call VSS from your own document's pre and post phases instead)",
            ));
        }
        Ok(Freeze {
            document,
            timeout: Duration::from_secs(env.u64_in("PRE_TIMEOUT_SECONDS", 60, 1, 600)?),
            poll: Duration::from_millis(env.u64_in("COMMAND_POLL_MS", 1000, 10, 10_000)?),
            on_pre_failure,
        })
    }
}

/// COPY_TAGS_EXCLUDE: a comma list of tag keys. fleetkeeper's own keys are never copied, so
/// naming one is a mistake worth saying.
fn copy_tags_exclude(env: &Env) -> Result<Vec<String>, ConfigError> {
    let keys = env.list("COPY_TAGS_EXCLUDE");
    if let Some(own) = keys.iter().find(|k| k.starts_with("fleetkeeper:")) {
        return Err(ConfigError::invalid(
            "COPY_TAGS_EXCLUDE",
            &env.string("COPY_TAGS_EXCLUDE", ""),
            format!(
                "tag keys to leave off snapshots, comma-separated ({own} is fleetkeeper's own: those are never copied)"
            ),
        ));
    }
    Ok(keys)
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let regions = env.regions("REGIONS")?;
        let rules = Rules::from_env(env)?;
        let copies = copies(env, &regions, &rules)?;
        let archive_after_days = env
            .parse_with(
                "ARCHIVE_AFTER_DAYS",
                &format!("a whole number of days from {MIN_ARCHIVE_DAYS} (AWS bills an archived snapshot for 90 days) to 36500"),
                |s| {
                    s.parse::<u64>()
                        .ok()
                        .filter(|d| (MIN_ARCHIVE_DAYS..=36_500).contains(d))
                },
            )?
            .map(|d| d as u32);
        Ok(Config {
            regions,
            rules,
            copies,
            archive_after_days,
            time_zone: env.time_zone("SCHEDULE_TIMEZONE", "UTC")?,
            max_deletes: env.u64_in("MAX_DELETES", 1000, 0, 1_000_000)? as usize,
            mode: Mode::from_env(env)?,
            rate: BucketSpec::from_env(env, "SNAPSHOT_RATE", buckets::EC2_SNAPSHOTS.headroom(0.9))?,
            copy_tags_exclude: copy_tags_exclude(env)?,
            seal_secret: env.string("SEAL_SECRET", fleetkeeper::seal::DEFAULT_SECRET),
            freeze: Freeze::from_env(env)?,
            drill_days: env.u64_in("RESTORE_DRILL_DAYS", 0, 0, 366)? as u32,
            drill_poll: Duration::from_millis(env.u64_in("DRILL_POLL_MS", 2000, 10, 60_000)?),
        })
    }
}

/// COPY_TO, COPY_KMS_KEYS and the copies' retention, checked against the source regions
/// (REGIONS, or the function's own region).
fn copies(env: &Env, regions: &[String], rules: &Rules) -> Result<Copies, ConfigError> {
    let to = env.regions("COPY_TO")?;
    let raw_to = env.string("COPY_TO", "");
    if to.len() > MAX_COPY_REGIONS {
        return Err(ConfigError::invalid(
            "COPY_TO",
            &raw_to,
            format!("at most {MAX_COPY_REGIONS} destination regions"),
        ));
    }
    let own = env.get("AWS_REGION");
    let sources: Vec<&str> = if regions.is_empty() {
        own.as_deref().into_iter().collect()
    } else {
        regions.iter().map(String::as_str).collect()
    };
    if let Some(same) = to.iter().find(|r| sources.contains(&r.as_str())) {
        return Err(ConfigError::invalid(
            "COPY_TO",
            &raw_to,
            format!("regions other than the ones snapshots are taken in ({same} is one of them)"),
        ));
    }
    let kms_keys = match env.get("COPY_KMS_KEYS") {
        None => BTreeMap::new(),
        Some(raw) => {
            kms_keys(&raw, &to).map_err(|why| ConfigError::invalid("COPY_KMS_KEYS", &raw, why))?
        }
    };
    Ok(Copies {
        to,
        kms_keys,
        rules: Rules::from_env_with(env, "COPY_", rules)?,
    })
}

/// A JSON map of COPY_TO regions to KMS key ARNs in that region.
fn kms_keys(raw: &str, to: &[String]) -> Result<BTreeMap<String, String>, String> {
    let expected = "a JSON map of COPY_TO regions to KMS key ARNs, such as \
        {\"eu-west-1\": \"arn:aws:kms:eu-west-1:123456789012:key/...\"}";
    let map: BTreeMap<String, String> =
        serde_json::from_str(raw).map_err(|_| expected.to_owned())?;
    for (region, arn) in &map {
        if !to.contains(region) {
            return Err(format!("{expected}; {region} is not in COPY_TO"));
        }
        let parts: Vec<&str> = arn.split(':').collect();
        let is_key = parts.len() == 6
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && parts[2] == "kms"
            && (parts[5].starts_with("key/") || parts[5].starts_with("alias/"));
        if !is_key {
            return Err(format!("{expected}; {arn:?} is not a KMS key ARN"));
        }
        if parts[3] != region {
            return Err(format!(
                "{expected}; the key for {region} is in {} (a copy is encrypted in its own region)",
                parts[3]
            ));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_named_errors() {
        let c = Config::from_env(&Env::from_pairs::<&str, &str>([])).unwrap();
        assert_eq!(
            (c.max_deletes, c.rules.keep_last, c.rate.burst),
            (1000, 7, 90)
        );
        for (var, value) in [
            ("KEEP_LAST", "-3"),
            ("KEEP_WEEKLY", "lots"),
            ("MAX_DELETES", "all"),
            ("SCHEDULE_TIMEZONE", "Mars/Base"),
            ("SNAPSHOT_RATE_PER_SECOND", "0"),
            ("ARCHIVE_AFTER_DAYS", "30"),
            ("COPY_KEEP_LAST", "-1"),
            ("COPY_TAGS_EXCLUDE", "team, fleetkeeper:owner"),
            ("ON_PRE_FAILURE", "fall-back"),
            ("PRE_TIMEOUT_SECONDS", "0"),
            ("PRE_TIMEOUT_SECONDS", "-5"),
            ("RESTORE_DRILL_DAYS", "-7"),
            ("CONSISTENCY_DOCUMENT", "AWSEC2-CreateVssSnapshot"),
            ("RESTORE_DRILL_DAYS", "weekly"),
        ] {
            let err = Config::from_env(&Env::from_pairs([(var, value)])).unwrap_err();
            assert!(err.to_string().contains(var), "{var}: {err}");
        }
        let c = Config::from_env(&Env::from_pairs([(
            "COPY_TAGS_EXCLUDE",
            "team, cost-centre",
        )]))
        .unwrap();
        assert_eq!(c.copy_tags_exclude, ["team", "cost-centre"]);
        assert_eq!(
            c.freeze,
            Freeze {
                document: None,
                timeout: Duration::from_secs(60),
                poll: Duration::from_secs(1),
                on_pre_failure: OnPreFailure::Skip,
            },
            "no document: each instance asking for a freeze is refused at run time"
        );
        let c = Config::from_env(&Env::from_pairs([
            ("CONSISTENCY_DOCUMENT", "fleetkeeper-freeze"),
            ("ON_PRE_FAILURE", "crash-consistent"),
        ]))
        .unwrap();
        assert_eq!(c.freeze.document.as_deref(), Some("fleetkeeper-freeze"));
        assert_eq!(c.freeze.on_pre_failure, OnPreFailure::CrashConsistent);
    }

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut all = vec![("REGIONS", "us-east-1")];
        all.extend_from_slice(pairs);
        Config::from_env(&Env::from_pairs(all))
    }

    #[test]
    fn copies_default_to_the_source_rules() {
        let c = with(&[
            ("COPY_TO", "eu-west-1, us-west-2"),
            ("KEEP_DAILY", "7"),
            ("COPY_KEEP_LAST", "2"),
        ])
        .unwrap();
        assert_eq!(c.copies.to, ["eu-west-1", "us-west-2"]);
        assert_eq!((c.copies.rules.keep_last, c.copies.rules.daily), (2, 7));
        assert!(c.copies.kms_keys.is_empty());
        assert_eq!(c.archive_after_days, None);
        let c = with(&[
            ("COPY_TO", "eu-west-1"),
            ("COPY_KMS_KEYS", r#"{"eu-west-1": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}"#),
            ("ARCHIVE_AFTER_DAYS", "90"),
        ])
        .unwrap();
        assert_eq!(c.copies.kms_keys.len(), 1);
        assert_eq!(c.archive_after_days, Some(90));
        // With no REGIONS, the function's own region is the source.
        let own = Config::from_env(&Env::from_pairs([
            ("AWS_REGION", "eu-west-1"),
            ("COPY_TO", "eu-west-1"),
        ]));
        assert!(
            own.unwrap_err()
                .to_string()
                .contains("eu-west-1 is one of them")
        );
    }

    #[test]
    fn bad_copy_settings_name_the_variable_and_why() {
        let key = "arn:aws:kms:eu-west-1:123456789012:key/k";
        for (pairs, var, says) in [
            (
                vec![("COPY_TO", "eu-west-1,moon-1")],
                "COPY_TO",
                "AWS region names",
            ),
            (
                vec![("COPY_TO", "us-east-1")],
                "COPY_TO",
                "us-east-1 is one of them",
            ),
            (
                vec![("COPY_TO", "eu-west-1,eu-west-2,eu-west-3,eu-central-1")],
                "COPY_TO",
                "at most 3",
            ),
            (
                vec![("COPY_TO", "eu-west-1"), ("COPY_KMS_KEYS", "eu-west-1=k")],
                "COPY_KMS_KEYS",
                "a JSON map",
            ),
            (
                vec![
                    ("COPY_TO", "eu-west-1"),
                    ("COPY_KMS_KEYS", r#"{"eu-west-1": "alias/backups"}"#),
                ],
                "COPY_KMS_KEYS",
                "is not a KMS key ARN",
            ),
            (
                vec![
                    ("COPY_TO", "eu-west-2"),
                    ("COPY_KMS_KEYS", &format!(r#"{{"eu-west-1": "{key}"}}"#)),
                ],
                "COPY_KMS_KEYS",
                "eu-west-1 is not in COPY_TO",
            ),
            (
                vec![
                    ("COPY_TO", "eu-west-2"),
                    ("COPY_KMS_KEYS", &format!(r#"{{"eu-west-2": "{key}"}}"#)),
                ],
                "COPY_KMS_KEYS",
                "is in eu-west-1",
            ),
            (
                vec![("ARCHIVE_AFTER_DAYS", "89")],
                "ARCHIVE_AFTER_DAYS",
                "from 90",
            ),
        ] {
            let err = with(&pairs).unwrap_err().to_string();
            assert!(err.contains(var) && err.contains(says), "{pairs:?}: {err}");
        }
    }
}
