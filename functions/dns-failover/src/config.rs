//! Settings: the failover groups (JSON, from FAILOVER_GROUPS or the SSM parameter named by
//! GROUPS_PARAMETER) and the function's own variables. Every error names the group and field.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use fleetkeeper::config::known_region;
use fleetkeeper::http::AuthMode;
use fleetkeeper::{ConfigError, Env, Mode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum RecordType {
    A,
    AAAA,
    CNAME,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::AAAA => "AAAA",
            RecordType::CNAME => "CNAME",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// GET `url`; healthy when the status is within `status` and the body holds `body_contains`.
    Http {
        url: String,
        status: (u16, u16),
        body_contains: Option<String>,
    },
    /// A TCP connection to `host:port` opens.
    Tcp { host: String, port: u16 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub check: Check,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    /// The zone's name with its trailing dot, lowercased.
    pub zone: String,
    pub private: bool,
    /// Skips the lookup when set (two private zones of one name, say).
    pub zone_id: Option<String>,
    /// The record's name with its trailing dot, lowercased.
    pub record: String,
    pub record_type: RecordType,
    pub ttl: i64,
    pub primary: Vec<String>,
    pub standby: Vec<String>,
    pub health_check: HealthCheck,
    pub fail_after: u32,
    pub recover_after: u32,
    /// A CloudWatch alarm whose state changes count as probe results for this group.
    pub alarm: Option<String>,
    /// The regions whose probes vote (each runs a deployment). Empty: the function's own region
    /// alone decides from its own probe, without votes.
    pub probe_regions: Vec<String>,
    /// How many fresh votes must agree for a failure (or a recovery) to count.
    pub quorum: usize,
    pub failback: Failback,
}

/// Whether a recovered primary takes the record back by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Failback {
    /// After `recover_after` healthy decisions.
    Auto,
    /// Only when a person asks for the failback.
    Manual,
}

impl Group {
    /// Whether this group decides from regions' votes rather than from one probe.
    pub fn votes(&self) -> bool {
        !self.probe_regions.is_empty()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    zone: String,
    #[serde(default)]
    private: bool,
    #[serde(default)]
    zone_id: Option<String>,
    record: String,
    #[serde(rename = "type")]
    record_type: String,
    #[serde(default = "default_ttl")]
    ttl: i64,
    primary: Vec<String>,
    standby: Vec<String>,
    health_check: RawCheck,
    #[serde(default = "default_threshold")]
    fail_after: u32,
    #[serde(default = "default_threshold")]
    recover_after: u32,
    #[serde(default)]
    alarm: Option<String>,
    #[serde(default)]
    probe_regions: Vec<String>,
    #[serde(default)]
    quorum: Option<usize>,
    #[serde(default)]
    failback: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    tcp: Option<String>,
    #[serde(default)]
    status: Option<(u16, u16)>,
    #[serde(default)]
    body_contains: Option<String>,
    #[serde(default = "default_timeout")]
    timeout_ms: u64,
}

fn default_ttl() -> i64 {
    60
}
fn default_threshold() -> u32 {
    3
}
fn default_timeout() -> u64 {
    2000
}

/// A domain name, lowercased, with its trailing dot.
fn fqdn(name: &str) -> Option<String> {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*')
        });
    ok.then(|| format!("{name}."))
}

/// Reads the groups' JSON (a list of groups). `source` names where it came from in errors.
pub fn parse_groups(text: &str, source: &str) -> Result<Vec<Group>, ConfigError> {
    parse_groups_in(text, source, &[])
}

/// As [`parse_groups`], with the probe regions (`PROBE_REGIONS`) of groups that name none.
pub fn parse_groups_in(
    text: &str,
    source: &str,
    probe_regions: &[String],
) -> Result<Vec<Group>, ConfigError> {
    let bad = |what: String| ConfigError::invalid(source, &clip(text), what);
    let values: Vec<Value> = match serde_json::from_str(text) {
        Ok(Value::Array(v)) => v,
        Ok(_) => return Err(bad("a JSON list of failover groups".into())),
        Err(e) => {
            return Err(bad(format!(
                "a JSON list of failover groups (not valid JSON: {e})"
            )));
        }
    };
    if values.is_empty() {
        return Err(bad("at least one failover group".into()));
    }
    let mut groups: Vec<Group> = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        let label = match v.get("name").and_then(Value::as_str) {
            Some(n) => format!("group {n:?}"),
            None => format!("group #{}", i + 1),
        };
        let mut raw: RawGroup =
            serde_json::from_value(v).map_err(|e| bad(format!("{label}: {e}")))?;
        if raw.probe_regions.is_empty() {
            raw.probe_regions = probe_regions.to_vec();
        }
        let g =
            validate(raw).map_err(|(field, why)| bad(format!("{label}: field {field}: {why}")))?;
        if groups.iter().any(|o| o.name == g.name) {
            return Err(bad(format!("{label}: field name: used by two groups")));
        }
        groups.push(g);
    }
    Ok(groups)
}

fn validate(raw: RawGroup) -> Result<Group, (&'static str, String)> {
    let name_ok = !raw.name.is_empty()
        && raw.name.len() <= 64
        && raw
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !name_ok {
        return Err(("name", "1-64 letters, digits, '-' or '_'".into()));
    }
    let zone = fqdn(&raw.zone).ok_or(("zone", format!("{:?} is not a domain name", raw.zone)))?;
    let record =
        fqdn(&raw.record).ok_or(("record", format!("{:?} is not a domain name", raw.record)))?;
    if record != zone && !record.ends_with(&format!(".{zone}")) {
        return Err(("record", format!("{record} is not in zone {zone}")));
    }
    let record_type = match raw.record_type.as_str() {
        "A" => RecordType::A,
        "AAAA" => RecordType::AAAA,
        "CNAME" => RecordType::CNAME,
        other => return Err(("type", format!("{other:?} is not A, AAAA or CNAME"))),
    };
    if record_type == RecordType::CNAME && record == zone {
        return Err(("type", "a CNAME cannot stand at the zone apex".into()));
    }
    if !(0..=86_400).contains(&raw.ttl) {
        return Err(("ttl", "0 to 86400 seconds".into()));
    }
    let check_values =
        |field: &'static str, vals: &[String]| -> Result<Vec<String>, (&'static str, String)> {
            if vals.is_empty() {
                return Err((field, "at least one value".into()));
            }
            let mut out = Vec::new();
            for (i, v) in vals.iter().enumerate() {
                let v = v.trim();
                let ok = match record_type {
                    RecordType::A => v.parse::<Ipv4Addr>().is_ok(),
                    RecordType::AAAA => v.parse::<Ipv6Addr>().is_ok(),
                    RecordType::CNAME => fqdn(v).is_some(),
                };
                if !ok {
                    let what = match record_type {
                        RecordType::A => "an IPv4 address",
                        RecordType::AAAA => "an IPv6 address",
                        RecordType::CNAME => "a domain name",
                    };
                    return Err((field, format!("{field}[{i}] {v:?} is not {what}")));
                }
                out.push(match record_type {
                    RecordType::CNAME => fqdn(v).unwrap_or_default(),
                    _ => v.to_owned(),
                });
            }
            if record_type == RecordType::CNAME && out.len() != 1 {
                return Err((field, "a CNAME has exactly one value".into()));
            }
            out.sort();
            out.dedup();
            Ok(out)
        };
    let primary = check_values("primary", &raw.primary)?;
    let standby = check_values("standby", &raw.standby)?;
    if primary == standby {
        return Err((
            "standby",
            "the same values as primary: nothing to fail over to".into(),
        ));
    }
    let c = raw.health_check;
    if !(100..=10_000).contains(&c.timeout_ms) {
        return Err(("health_check.timeout_ms", "100 to 10000".into()));
    }
    let check = match (c.url, c.tcp) {
        (Some(url), None) => {
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://"))
                || url
                    .parse::<hyper::Uri>()
                    .map_or(true, |u| u.host().is_none())
            {
                return Err((
                    "health_check.url",
                    format!("{url:?} is not an http:// or https:// URL"),
                ));
            }
            let status = c.status.unwrap_or((200, 399));
            if status.0 > status.1 || status.0 < 100 || status.1 > 599 {
                return Err((
                    "health_check.status",
                    "[lowest, highest] within 100..599".into(),
                ));
            }
            Check::Http {
                url,
                status,
                body_contains: c.body_contains.filter(|b| !b.is_empty()),
            }
        }
        (None, Some(tcp)) => {
            if c.status.is_some() || c.body_contains.is_some() {
                return Err((
                    "health_check",
                    "status and body_contains go with url, not tcp".into(),
                ));
            }
            let (host, port) = tcp
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
                .filter(|(h, p)| !h.is_empty() && *p > 0)
                .ok_or(("health_check.tcp", format!("{tcp:?} is not host:port")))?;
            Check::Tcp {
                host: host.to_owned(),
                port,
            }
        }
        _ => return Err(("health_check", "exactly one of url or tcp".into())),
    };
    if !(1..=10).contains(&raw.fail_after) {
        return Err(("fail_after", "1 to 10".into()));
    }
    if !(1..=10).contains(&raw.recover_after) {
        return Err(("recover_after", "1 to 10".into()));
    }
    let mut probe_regions: Vec<String> = Vec::new();
    for r in &raw.probe_regions {
        if !known_region(r) {
            return Err((
                "probe_regions",
                format!("{r:?} is not a known AWS region (such as us-east-1, eu-west-1)"),
            ));
        }
        if probe_regions.contains(r) {
            return Err(("probe_regions", format!("{r} is listed twice")));
        }
        probe_regions.push(r.clone());
    }
    let voters = probe_regions.len().max(1);
    let quorum = raw.quorum.unwrap_or(voters / 2 + 1);
    if quorum == 0 || quorum > voters {
        return Err((
            "quorum",
            format!("{quorum} is not between 1 and the number of probe_regions ({voters})"),
        ));
    }
    let failback = match raw.failback.as_deref() {
        None | Some("auto") => Failback::Auto,
        Some("manual") => Failback::Manual,
        Some(other) => return Err(("failback", format!("{other:?} is not auto or manual"))),
    };
    Ok(Group {
        name: raw.name,
        zone,
        private: raw.private,
        zone_id: raw
            .zone_id
            .map(|z| z.trim_start_matches("/hostedzone/").to_owned()),
        record,
        record_type,
        ttl: raw.ttl,
        primary,
        standby,
        health_check: HealthCheck {
            check,
            timeout: Duration::from_millis(c.timeout_ms),
        },
        fail_after: raw.fail_after,
        recover_after: raw.recover_after,
        alarm: raw.alarm,
        probe_regions,
        quorum,
        failback,
    })
}

fn clip(text: &str) -> String {
    let t: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        format!("{t}...")
    } else {
        t
    }
}

/// Where the groups come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupsSource {
    Inline(Vec<Group>),
    /// Read (and re-read on each cold start) from this SSM parameter.
    Parameter(String),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub groups: GroupsSource,
    /// `STATE_PREFIX`: the state of group `g` lives in parameter `<prefix>/<g>`.
    pub state_prefix: String,
    /// `CHANGE_WAIT_SECONDS` / `CHANGE_POLL_MS`: how long to wait for INSYNC, how often to ask.
    pub change_wait: Duration,
    pub change_poll: Duration,
    pub auth: AuthMode,
    /// `COMMAND_PREFIX`: the manual command of group `g` lives in parameter `<prefix>/<g>`,
    /// written by the URL side only.
    pub command_prefix: String,
    /// `CONTROL_ONLY`: this function is the URL side (the template's dns-failover-control): it
    /// answers status and writes manual commands, never probes, moves records or writes a
    /// state; the scheduled function applies a command at its next run.
    pub control_only: bool,
    /// `CONTROL_PRINCIPALS`: if set, only these IAM identities (ARNs, or prefixes ending in
    /// `*`) may fail over or back; everyone authenticated may read status.
    pub control_principals: Vec<String>,
    /// `SESSION_ROLES`: roles whose session names an identity provider sets.
    pub session_roles: Vec<String>,
    pub mode: Mode,
    /// `PROBE_REGIONS`: the probe regions of groups that name none (empty: no votes).
    pub probe_regions: Vec<String>,
    /// `AWS_REGION`: where this deployment runs and probes from (its votes are this region's).
    pub region: String,
    /// `STATE_REGION`: where the states, votes and commands live (default: `region`). Every
    /// deployment of one set of groups names the same one.
    pub state_region: String,
    /// `VOTE_TTL_SECONDS`: a vote older than this does not count.
    pub vote_ttl: Duration,
    /// `ROUND_SECONDS`: a group deciding from votes counts one decision per round, whichever
    /// region takes it first (the others' runs only vote).
    pub round: Duration,
    /// `CONTEST_WINDOW_MINUTES`: a record found changed again this soon after it was put back is
    /// contested, and left for a person.
    pub contest_window: Duration,
}

/// A parameter path: a leading `/`, no trailing one.
fn parameter_path(env: &Env, var: &str, default: &str) -> Result<String, ConfigError> {
    let prefix = env.string(var, default);
    if !prefix.starts_with('/') || prefix.ends_with('/') {
        return Err(ConfigError::invalid(
            var,
            &prefix,
            "a parameter path such as /fleetkeeper/dns-failover (leading /, no trailing /)",
        ));
    }
    Ok(prefix)
}

impl Config {
    /// Whether other deployments may decide `group` too (it votes, or its state lives in another
    /// region): then every change of its state is claimed first. Alone, the function's one
    /// concurrency slot already keeps its runs apart.
    pub fn shared(&self, group: &Group) -> bool {
        group.votes() || self.state_region != self.region
    }

    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let probe_regions = env.regions("PROBE_REGIONS")?;
        if let Some(r) = probe_regions.iter().find(|r| !known_region(r)) {
            return Err(ConfigError::invalid(
                "PROBE_REGIONS",
                r,
                "known AWS regions such as us-east-1,eu-west-1",
            ));
        }
        let groups = match (env.get("FAILOVER_GROUPS"), env.get("GROUPS_PARAMETER")) {
            (Some(text), None) => {
                GroupsSource::Inline(parse_groups_in(&text, "FAILOVER_GROUPS", &probe_regions)?)
            }
            (None, Some(name)) => GroupsSource::Parameter(name),
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "GROUPS_PARAMETER",
                    "(set)",
                    "either FAILOVER_GROUPS or GROUPS_PARAMETER, not both",
                ));
            }
            (None, None) => {
                return Err(ConfigError::Missing {
                    var: "FAILOVER_GROUPS".into(),
                    expected: "a JSON list of failover groups, or GROUPS_PARAMETER naming an SSM parameter holding one".into(),
                });
            }
        };
        let prefix = parameter_path(env, "STATE_PREFIX", "/fleetkeeper/dns-failover")?;
        let command_prefix =
            parameter_path(env, "COMMAND_PREFIX", "/fleetkeeper/dns-failover-commands")?;
        // Two prefixes, two writers: neither may lie under the other.
        let nested = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
        if nested(&command_prefix, &prefix) || nested(&prefix, &command_prefix) {
            return Err(ConfigError::invalid(
                "COMMAND_PREFIX",
                &command_prefix,
                format!(
                    "a path outside STATE_PREFIX ({prefix}), and not above it: another role writes it"
                ),
            ));
        }
        let auth = AuthMode::from_env(env)?;
        let control_principals = env.list("CONTROL_PRINCIPALS");
        if !control_principals.is_empty() && auth != AuthMode::Iam {
            return Err(ConfigError::invalid(
                "CONTROL_PRINCIPALS",
                &control_principals.join(","),
                "only with AWS_IAM: behind a shared secret nobody is signed in, so nobody could be matched",
            ));
        }
        let region = env.string("AWS_REGION", "us-east-1");
        let state_region = env.string("STATE_REGION", &region);
        if !known_region(&state_region) {
            return Err(ConfigError::invalid(
                "STATE_REGION",
                &state_region,
                "a known AWS region such as us-east-1, the same for every deployment",
            ));
        }
        Ok(Config {
            probe_regions,
            region,
            state_region,
            vote_ttl: Duration::from_secs(env.u64_in("VOTE_TTL_SECONDS", 180, 30, 3600)?),
            round: Duration::from_secs(env.u64_in("ROUND_SECONDS", 60, 10, 3600)?),
            contest_window: Duration::from_secs(
                60 * env.u64_in("CONTEST_WINDOW_MINUTES", 60, 1, 1440)?,
            ),
            groups,
            state_prefix: prefix,
            change_wait: Duration::from_secs(env.u64_in("CHANGE_WAIT_SECONDS", 45, 0, 600)?),
            change_poll: Duration::from_millis(env.u64_in("CHANGE_POLL_MS", 2000, 10, 60_000)?),
            auth,
            command_prefix,
            control_only: env.bool("CONTROL_ONLY", false)?,
            control_principals,
            session_roles: env.list("SESSION_ROLES"),
            mode: Mode::from_env(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const WEB: &str = r#"[{
        "name": "web", "zone": "Example.com", "record": "www.example.com.", "type": "A",
        "primary": ["192.0.2.10"], "standby": ["198.51.100.20", "198.51.100.21"],
        "health_check": {"url": "https://192.0.2.10/health", "body_contains": "ok"},
        "alarm": "fleetkeeper-web-primary"
    }]"#;

    #[test]
    fn a_group_with_defaults() {
        let g = &parse_groups(WEB, "FAILOVER_GROUPS").unwrap()[0];
        assert_eq!(
            (g.zone.as_str(), g.record.as_str()),
            ("example.com.", "www.example.com.")
        );
        assert_eq!((g.ttl, g.fail_after, g.recover_after), (60, 3, 3));
        assert_eq!(
            (g.votes(), g.quorum, g.failback),
            (false, 1, Failback::Auto)
        );
        let mut three: Value = serde_json::from_str(WEB).unwrap();
        three[0]["probe_regions"] = serde_json::json!(["us-east-1", "eu-west-1", "ap-southeast-2"]);
        three[0]["failback"] = "manual".into();
        let g = &parse_groups(&three.to_string(), "FAILOVER_GROUPS").unwrap()[0];
        assert_eq!(
            (g.votes(), g.quorum, g.failback),
            (true, 2, Failback::Manual),
            "a majority"
        );
        assert_eq!(g.standby, ["198.51.100.20", "198.51.100.21"]);
        assert_eq!(g.health_check.timeout, Duration::from_secs(2));
        assert_eq!(
            g.health_check.check,
            Check::Http {
                url: "https://192.0.2.10/health".into(),
                status: (200, 399),
                body_contains: Some("ok".into())
            }
        );
        let tcp = r#"[{"name":"db","zone":"corp.internal","private":true,"record":"db.corp.internal","type":"CNAME","ttl":30,
            "primary":["db-a.corp.internal"],"standby":["db-b.corp.internal."],"health_check":{"tcp":"db-a.corp.internal:5432","timeout_ms":500},
            "fail_after":2,"recover_after":5}]"#;
        let g = &parse_groups(tcp, "FAILOVER_GROUPS").unwrap()[0];
        assert!(g.private);
        assert_eq!(g.primary, ["db-a.corp.internal."]);
        assert_eq!(
            g.health_check.check,
            Check::Tcp {
                host: "db-a.corp.internal".into(),
                port: 5432
            }
        );
    }

    #[test]
    fn bad_groups_name_group_and_field() {
        let set = |field: &str, value: Value| {
            let mut v: Value = serde_json::from_str(WEB).unwrap();
            v[0][field] = value;
            v.to_string()
        };
        let cases: Vec<(String, &str)> = vec![
            ("not json".into(), "not valid JSON"),
            ("{}".into(), "a JSON list"),
            ("[]".into(), "at least one"),
            (
                set("type", "MX".into()),
                "group \"web\": field type: \"MX\" is not A, AAAA or CNAME",
            ),
            (
                set("primary", serde_json::json!(["999.1.2.3"])),
                "field primary: primary[0] \"999.1.2.3\" is not an IPv4 address",
            ),
            (
                set("standby", serde_json::json!(["2001:db8::1"])),
                "standby[0]",
            ),
            (
                set("standby", serde_json::json!([])),
                "field standby: at least one value",
            ),
            (
                set("standby", serde_json::json!(["192.0.2.10"])),
                "nothing to fail over to",
            ),
            (
                set("record", "www.other.com".into()),
                "is not in zone example.com.",
            ),
            (set("ttl", 100_000.into()), "field ttl"),
            (set("fail_after", 0.into()), "field fail_after"),
            (
                set("health_check", serde_json::json!({})),
                "exactly one of url or tcp",
            ),
            (
                set("health_check", serde_json::json!({"url": "ftp://x"})),
                "field health_check.url",
            ),
            (
                set("health_check", serde_json::json!({"tcp": "host"})),
                "field health_check.tcp",
            ),
            (
                set(
                    "health_check",
                    serde_json::json!({"url": "http://x", "status": [500, 200]}),
                ),
                "health_check.status",
            ),
            (
                set("colour", "red".into()),
                "group \"web\": unknown field `colour`",
            ),
            (set("name", "web site".into()), "field name"),
            (
                set(
                    "probe_regions",
                    serde_json::json!(["us-east-1", "eu-west-7"]),
                ),
                "group \"web\": field probe_regions: \"eu-west-7\" is not a known AWS region",
            ),
            (
                set(
                    "probe_regions",
                    serde_json::json!(["us-east-1", "us-east-1"]),
                ),
                "listed twice",
            ),
            (
                set("quorum", 2.into()),
                "field quorum: 2 is not between 1 and the number of probe_regions (1)",
            ),
            (
                set("failback", "later".into()),
                "field failback: \"later\" is not auto or manual",
            ),
            (
                r#"[{"zone": "example.com"}]"#.into(),
                "group #1: missing field `name`",
            ),
        ];
        for (text, needle) in cases {
            let err = parse_groups(&text, "FAILOVER_GROUPS")
                .unwrap_err()
                .to_string();
            assert!(err.contains("FAILOVER_GROUPS"), "{err}");
            assert!(err.contains(needle), "{needle:?} not in: {err}");
        }
        let two = format!("[{0},{0}]", &WEB[1..WEB.len() - 1]);
        let err = parse_groups(&two, "FAILOVER_GROUPS")
            .unwrap_err()
            .to_string();
        assert!(err.contains("used by two groups"), "{err}");
    }

    #[test]
    fn settings() {
        let c = Config::from_env(&Env::of(&[("FAILOVER_GROUPS", WEB)])).unwrap();
        assert!(matches!(c.groups, GroupsSource::Inline(ref g) if g.len() == 1));
        assert_eq!(c.state_prefix, "/fleetkeeper/dns-failover");
        let c = Config::from_env(&Env::of(&[("GROUPS_PARAMETER", "/fk/groups")])).unwrap();
        assert_eq!(c.groups, GroupsSource::Parameter("/fk/groups".into()));
        for pairs in [
            &[][..],
            &[("FAILOVER_GROUPS", WEB), ("GROUPS_PARAMETER", "/x")][..],
            &[("FAILOVER_GROUPS", WEB), ("STATE_PREFIX", "fk/")][..],
        ] {
            assert!(Config::from_env(&Env::of(pairs)).is_err(), "{pairs:?}");
        }
        assert_eq!(c.command_prefix, "/fleetkeeper/dns-failover-commands");
        assert_eq!(c.state_region, "us-east-1", "its own region");
        assert_eq!(c.vote_ttl, Duration::from_secs(180));
        let voting = Config::from_env(&Env::of(&[
            ("FAILOVER_GROUPS", WEB),
            ("PROBE_REGIONS", "us-east-1,eu-west-1"),
        ]))
        .unwrap();
        let GroupsSource::Inline(g) = &voting.groups else {
            panic!()
        };
        assert_eq!((g[0].probe_regions.len(), g[0].quorum), (2, 2));
        let typo = Config::from_env(&Env::of(&[
            ("FAILOVER_GROUPS", WEB),
            ("PROBE_REGIONS", "eu-west-9"),
        ]));
        assert!(typo.unwrap_err().to_string().contains("PROBE_REGIONS"));
        let bad = Config::from_env(&Env::of(&[
            ("FAILOVER_GROUPS", WEB),
            ("STATE_REGION", "mars-1"),
        ]));
        assert!(bad.unwrap_err().to_string().contains("STATE_REGION"));
        assert!(!c.control_only && c.control_principals.is_empty());
    }

    #[test]
    fn commands_live_apart_and_principals_need_iam() {
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = vec![("FAILOVER_GROUPS", WEB)];
            pairs.extend_from_slice(extra);
            Config::from_env(&Env::of(&pairs))
        };
        // Another role writes the commands: never under the states, nor above them.
        for prefix in [
            "/fleetkeeper/dns-failover",
            "/fleetkeeper/dns-failover/commands",
            "/fleetkeeper",
        ] {
            let err = with(&[("COMMAND_PREFIX", prefix)]).unwrap_err();
            assert!(
                err.to_string().contains("COMMAND_PREFIX"),
                "{prefix}: {err}"
            );
        }
        let c = with(&[
            ("CONTROL_ONLY", "true"),
            (
                "CONTROL_PRINCIPALS",
                "arn:aws:iam::123456789012:role/oncall",
            ),
        ])
        .unwrap();
        assert!(c.control_only);
        assert_eq!(c.control_principals.len(), 1);
        // Behind a shared secret nobody is signed in: principals could match nobody.
        let err = with(&[
            ("SECRET_PARAMETER", "/fk/secret"),
            (
                "CONTROL_PRINCIPALS",
                "arn:aws:iam::123456789012:role/oncall",
            ),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("CONTROL_PRINCIPALS"), "{err}");
    }
}
