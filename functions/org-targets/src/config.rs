//! Settings from environment variables.

use fleetkeeper::org::valid_account_id;
use fleetkeeper::{ConfigError, Env};

/// Where the accounts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounts {
    /// `ORGANIZATION_UNITS`: OU ids (`ou-...`) or the root (`r-...`), searched below.
    Units(Vec<String>),
    /// `ACCOUNT_IDS`: a plain list.
    Listed(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub accounts: Accounts,
    /// `EXCLUDE_ACCOUNTS`: never targeted (the management account, say).
    pub exclude: Vec<String>,
    /// `REGIONS`: every account is crossed with these.
    pub regions: Vec<String>,
    /// `MEMBER_ROLE_NAME`: the role each member account has (infra/member-role.yaml).
    pub member_role: String,
    /// `PARTITION`: aws, aws-cn, aws-us-gov.
    pub partition: String,
    /// `BUCKET`: where manifests, per-target reports and summaries go.
    pub bucket: String,
    /// `MAX_CONCURRENCY`: targets at once in the map (Distributed Map allows 10,000).
    pub max_concurrency: u64,
    /// `TOLERATED_FAILURE_PERCENTAGE`: failed map items before the map itself fails.
    pub tolerated_failure_percentage: u64,
    /// `MAX_ROUNDS`: how many times one target is invoked while work remains.
    pub max_rounds: u64,
    /// `ORG_MAX_ACTIONS`: nightly-stopper's stops and starts over the whole organisation.
    pub max_actions: usize,
    /// `ORG_MAX_DELETES`: snapshot-janitor's deletions over the whole organisation.
    pub max_deletes: usize,
}

const UNITS: &str = "ORGANIZATION_UNITS";
const IDS: &str = "ACCOUNT_IDS";

fn valid_unit(s: &str) -> bool {
    let ok = |rest: &str| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    s.strip_prefix("ou-").is_some_and(ok) || s.strip_prefix("r-").is_some_and(ok)
}

fn account_list(env: &Env, var: &str) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::new();
    for id in env.list(var) {
        if !valid_account_id(&id) {
            return Err(ConfigError::invalid(
                var,
                &id,
                "12-digit account ids, comma-separated",
            ));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let units = env.list(UNITS);
        for u in &units {
            if !valid_unit(u) {
                return Err(ConfigError::invalid(
                    UNITS,
                    u,
                    "organizational unit ids (ou-ab12-cdefgh34) or the root id (r-ab12), comma-separated",
                ));
            }
        }
        let ids = account_list(env, IDS)?;
        let accounts = match (units.is_empty(), ids.is_empty()) {
            (false, true) => Accounts::Units(units),
            (true, false) => Accounts::Listed(ids),
            (true, true) => {
                return Err(ConfigError::Missing {
                    var: format!("{UNITS} or {IDS}"),
                    expected: "the OUs to search (ou-...) or a list of account ids".into(),
                });
            }
            (false, false) => {
                return Err(ConfigError::invalid(
                    IDS,
                    &ids.join(","),
                    format!("set either {UNITS} or {IDS}, not both"),
                ));
            }
        };
        let regions = env.regions("REGIONS")?;
        if regions.is_empty() {
            return Err(ConfigError::Missing {
                var: "REGIONS".into(),
                expected: "the regions to cross every account with, such as eu-west-1,us-east-1"
                    .into(),
            });
        }
        let member_role = env.string("MEMBER_ROLE_NAME", "fleetkeeper-member");
        if member_role.is_empty()
            || member_role.len() > 64
            || !member_role
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
        {
            return Err(ConfigError::invalid(
                "MEMBER_ROLE_NAME",
                &member_role,
                "an IAM role name",
            ));
        }
        let partition = env.string("PARTITION", "aws");
        if !matches!(partition.as_str(), "aws" | "aws-cn" | "aws-us-gov") {
            return Err(ConfigError::invalid(
                "PARTITION",
                &partition,
                "aws, aws-cn or aws-us-gov",
            ));
        }
        Ok(Config {
            accounts,
            exclude: account_list(env, "EXCLUDE_ACCOUNTS")?,
            regions,
            member_role,
            partition,
            bucket: env.required("BUCKET", "the S3 bucket for the run's manifest and reports")?,
            max_concurrency: env.u64_in("MAX_CONCURRENCY", 100, 1, 10_000)?,
            tolerated_failure_percentage: env.u64_in("TOLERATED_FAILURE_PERCENTAGE", 10, 0, 100)?,
            max_rounds: env.u64_in("MAX_ROUNDS", 5, 1, 50)?,
            max_actions: env.u64_in("ORG_MAX_ACTIONS", 2_000, 0, 1_000_000)? as usize,
            max_deletes: env.u64_in("ORG_MAX_DELETES", 20_000, 0, 10_000_000)? as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut all = vec![("REGIONS", "us-east-1,eu-west-1"), ("BUCKET", "org-runs")];
        all.extend_from_slice(pairs);
        Config::from_env(&Env::of(&all))
    }

    #[test]
    fn units_or_a_list_and_the_defaults() {
        let c = with(&[("ORGANIZATION_UNITS", "ou-ab12-cdefgh34, r-ab12")]).unwrap();
        assert_eq!(
            c.accounts,
            Accounts::Units(vec!["ou-ab12-cdefgh34".into(), "r-ab12".into()])
        );
        assert_eq!(
            (
                c.max_concurrency,
                c.tolerated_failure_percentage,
                c.max_rounds
            ),
            (100, 10, 5)
        );
        assert_eq!(
            (c.member_role.as_str(), c.partition.as_str()),
            ("fleetkeeper-member", "aws")
        );
        let c = with(&[("ACCOUNT_IDS", "111111111111,222222222222,111111111111")]).unwrap();
        assert_eq!(
            c.accounts,
            Accounts::Listed(vec!["111111111111".into(), "222222222222".into()])
        );
    }

    #[test]
    fn bad_settings_name_the_variable() {
        for (pairs, var) in [
            (
                vec![("ORGANIZATION_UNITS", "engineering")],
                "ORGANIZATION_UNITS",
            ),
            (vec![("ACCOUNT_IDS", "1234")], "ACCOUNT_IDS"),
            (vec![], "ORGANIZATION_UNITS or ACCOUNT_IDS"),
            (
                vec![
                    ("ACCOUNT_IDS", "111111111111"),
                    ("ORGANIZATION_UNITS", "r-ab12"),
                ],
                "not both",
            ),
            (
                vec![("ACCOUNT_IDS", "111111111111"), ("EXCLUDE_ACCOUNTS", "x")],
                "EXCLUDE_ACCOUNTS",
            ),
            (
                vec![("ACCOUNT_IDS", "111111111111"), ("REGIONS", "moon-1")],
                "REGIONS",
            ),
            (
                vec![("ACCOUNT_IDS", "111111111111"), ("MAX_CONCURRENCY", "0")],
                "MAX_CONCURRENCY",
            ),
            (
                vec![("ACCOUNT_IDS", "111111111111"), ("MEMBER_ROLE_NAME", "a b")],
                "MEMBER_ROLE_NAME",
            ),
        ] {
            let e = with(&pairs).unwrap_err().to_string();
            assert!(e.contains(var), "{pairs:?}: {e}");
        }
        let e = Config::from_env(&Env::of(&[
            ("ACCOUNT_IDS", "111111111111"),
            ("REGIONS", "us-east-1"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("BUCKET"), "{e}");
    }
}
