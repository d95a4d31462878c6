//! The group states in SSM Parameter Store, one parameter per group
//! (`<STATE_PREFIX>/<group>`), so no database is needed; each probe region's vote beside it
//! (`<STATE_PREFIX>/<group>/votes/<region>`); the claims that let one decider at a time change
//! a shared state (`<STATE_PREFIX>/<group>/claims/<version>`); and each group's manual command,
//! under another prefix (`<COMMAND_PREFIX>/<group>`) that another role writes. All of it in
//! the one state region every deployment names.
//!
//! SSM has no conditional write, but creating a parameter that exists fails: a claim is the
//! parameter for the next version, created without overwrite. Exactly one decider creates it;
//! the others have lost and decide again on what the winner saves. The winner checks that the
//! state is still at the version it read (a claim outlives its save only briefly), saves the
//! state with the claimed version, and deletes its claim. A claim left by a run that died is
//! stepped over once it is older than any run can last.

use aws_sdk_ssm::types::ParameterType;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use fleetkeeper::AwsError;
use fleetkeeper::error::aws_err;

use super::States;
use crate::model::{Command, GroupState, Vote};

/// A claim older than this was left by a run that died (a Lambda run lasts 15 minutes at most).
pub const CLAIM_STALE_SECONDS: i64 = 16 * 60;

/// Who holds a claim on a group's next version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The region whose run holds it.
    pub by: String,
    /// RFC 3339.
    pub at: String,
}

/// Why a claim was not won.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimError {
    /// Another decider holds the version (or the state moved on since it was read).
    Lost(Claim),
    Aws(AwsError),
}

impl std::fmt::Display for ClaimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClaimError::Lost(c) => write!(f, "{} is deciding this group (since {})", c.by, c.at),
            ClaimError::Aws(e) => write!(f, "{e}"),
        }
    }
}

pub struct StateStore {
    pub ssm: aws_sdk_ssm::Client,
    pub prefix: String,
    pub command_prefix: String,
}

impl StateStore {
    pub fn parameter(&self, group: &str) -> String {
        format!("{}/{group}", self.prefix)
    }

    pub fn command_parameter(&self, group: &str) -> String {
        format!("{}/{group}", self.command_prefix)
    }

    pub fn vote_parameter(&self, group: &str, region: &str) -> String {
        format!("{}/{group}/votes/{region}", self.prefix)
    }

    pub fn claim_parameter(&self, group: &str, version: u64) -> String {
        format!("{}/{group}/claims/{version}", self.prefix)
    }

    /// Creates `name` unless it exists: Ok(false) when it does.
    async fn create(&self, name: String, value: String) -> Result<bool, AwsError> {
        match self
            .ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(false)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = aws_err("ssm:PutParameter")(e);
                if e.code() == Some("ParameterAlreadyExists") {
                    return Ok(false);
                }
                Err(e)
            }
        }
    }

    /// A parameter's value, None when it does not exist.
    async fn read(&self, name: &str) -> Result<Option<String>, StateError> {
        match self.ssm.get_parameter().name(name).send().await {
            Ok(o) => Ok(Some(
                o.parameter()
                    .and_then(|p| p.value())
                    .unwrap_or_default()
                    .to_owned(),
            )),
            Err(e) => {
                let e = aws_err("ssm:GetParameter")(e);
                if e.code() == Some("ParameterNotFound") {
                    return Ok(None);
                }
                Err(StateError::Aws(e))
            }
        }
    }

    async fn write(&self, name: String, value: String) -> Result<(), AwsError> {
        self.ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(aws_err("ssm:PutParameter"))?;
        Ok(())
    }
}

impl States for StateStore {
    async fn load(&self, group: &str) -> Result<Option<GroupState>, StateError> {
        let name = self.parameter(group);
        let Some(text) = self.read(&name).await? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StateError::Unreadable(format!("parameter {name} is not a group state ({e}); delete it to start again from the record")))
    }

    async fn save(&self, group: &str, state: &GroupState) -> Result<(), AwsError> {
        let value = serde_json::to_string(state).unwrap_or_default();
        self.write(self.parameter(group), value).await
    }

    async fn command(&self, group: &str) -> Result<Option<Command>, StateError> {
        let name = self.command_parameter(group);
        let Some(text) = self.read(&name).await? else {
            return Ok(None);
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            StateError::Unreadable(format!(
                "parameter {name} is not a manual command ({e}); delete it"
            ))
        })
    }

    async fn ask(&self, group: &str, command: &Command) -> Result<(), AwsError> {
        let value = serde_json::to_string(command).unwrap_or_default();
        self.write(self.command_parameter(group), value).await
    }

    async fn vote(&self, group: &str, vote: &Vote) -> Result<(), AwsError> {
        let value = serde_json::to_string(vote).unwrap_or_default();
        self.write(self.vote_parameter(group, &vote.region), value)
            .await
    }

    async fn votes(&self, group: &str, regions: &[String]) -> Result<Vec<Vote>, AwsError> {
        let mut out = Vec::new();
        // GetParameters takes ten names at a time.
        for chunk in regions.chunks(10) {
            let names: Vec<String> = chunk
                .iter()
                .map(|r| self.vote_parameter(group, r))
                .collect();
            let got = self
                .ssm
                .get_parameters()
                .set_names(Some(names))
                .send()
                .await
                .map_err(aws_err("ssm:GetParameters"))?;
            for p in got.parameters() {
                match serde_json::from_str::<Vote>(p.value().unwrap_or_default()) {
                    Ok(v) => out.push(v),
                    // Counted as no vote, and the report names the region as such.
                    Err(e) => {
                        tracing::warn!(parameter = p.name().unwrap_or_default(), error = %e, "a vote that is not one")
                    }
                }
            }
        }
        Ok(out)
    }

    async fn claim(
        &self,
        group: &str,
        base: u64,
        by: &str,
        now: Timestamp,
    ) -> Result<u64, ClaimError> {
        let mine = Claim {
            by: by.to_owned(),
            at: now.to_string(),
        };
        let value = serde_json::to_string(&mine).unwrap_or_default();
        let mut version = base + 1;
        // A few stale claims in a row at most: each was a run that died.
        for _ in 0..5 {
            let name = self.claim_parameter(group, version);
            if self
                .create(name.clone(), value.clone())
                .await
                .map_err(ClaimError::Aws)?
            {
                // Won the version; the state must still be where it was read.
                let now_at = self
                    .load(group)
                    .await
                    .map_err(|e| match e {
                        StateError::Aws(e) => ClaimError::Aws(e),
                        StateError::Unreadable(m) => {
                            ClaimError::Aws(AwsError::service("ssm:GetParameter", "Unreadable", &m))
                        }
                    })?
                    .map_or(0, |s| s.version);
                if now_at != base {
                    self.release(group, version, version).await;
                    return Err(ClaimError::Lost(Claim {
                        by: "another region".into(),
                        at: format!("version {now_at}"),
                    }));
                }
                return Ok(version);
            }
            let held = self
                .read(&name)
                .await
                .ok()
                .flatten()
                .and_then(|t| serde_json::from_str::<Claim>(&t).ok());
            let stale = held
                .as_ref()
                .and_then(|c| c.at.parse::<Timestamp>().ok())
                .is_none_or(|at| now.as_second() - at.as_second() > CLAIM_STALE_SECONDS);
            if !stale {
                return Err(ClaimError::Lost(held.unwrap_or(Claim {
                    by: "another region".into(),
                    at: "just now".into(),
                })));
            }
            tracing::warn!(
                group,
                version,
                "stepping over a claim left by a run that died"
            );
            version += 1;
        }
        Err(ClaimError::Lost(Claim {
            by: "runs that died".into(),
            at: format!("claims up to version {version}"),
        }))
    }

    async fn release(&self, group: &str, from: u64, to: u64) {
        for version in from.max(1)..=to {
            let name = self.claim_parameter(group, version);
            if let Err(e) = self.ssm.delete_parameter().name(&name).send().await {
                let e = aws_err("ssm:DeleteParameter")(e);
                if e.code() != Some("ParameterNotFound") {
                    tracing::warn!(parameter = %name, error = %e, "a claim was not deleted; the next decider steps over it");
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateError {
    Aws(AwsError),
    Unreadable(String),
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::Aws(e) => write!(f, "{e}"),
            StateError::Unreadable(m) => f.write_str(m),
        }
    }
}
