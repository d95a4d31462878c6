//! Each group's hysteresis state, one SSM parameter per group (`<STATE_PREFIX>/<group>`), so
//! no database is needed.

use aws_sdk_ssm::types::ParameterType;
use serde::{Deserialize, Serialize};

use fleetkeeper::AwsError;
use fleetkeeper::error::aws_err;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Primary,
    Standby,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Primary => Side::Standby,
            Side::Standby => Side::Primary,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    pub side: Side,
    /// Consecutive failed probes of the primary.
    pub failures: u32,
    /// Consecutive passed probes of the primary.
    pub successes: u32,
    /// Set by a manual failover: automatic flips wait until a manual failback.
    #[serde(default)]
    pub held: bool,
    /// The last alarm change counted (alarm name and state timestamp), so a repeated
    /// delivery is not counted twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_alarm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

impl GroupState {
    pub fn on(side: Side) -> Self {
        GroupState {
            side,
            failures: 0,
            successes: 0,
            held: false,
            last_alarm: None,
            last_change_id: None,
            updated_at: None,
        }
    }
}

pub struct StateStore {
    pub ssm: aws_sdk_ssm::Client,
    pub prefix: String,
}

impl StateStore {
    pub fn parameter(&self, group: &str) -> String {
        format!("{}/{group}", self.prefix)
    }

    /// None when the group has no state yet. Unreadable state is an error naming the
    /// parameter: guessing could flip a record.
    pub async fn load(&self, group: &str) -> Result<Option<GroupState>, StateError> {
        let name = self.parameter(group);
        let out = match self.ssm.get_parameter().name(&name).send().await {
            Ok(o) => o,
            Err(e) => {
                let e = aws_err("ssm:GetParameter")(e);
                if e.code() == Some("ParameterNotFound") {
                    return Ok(None);
                }
                return Err(StateError::Aws(e));
            }
        };
        let text = out.parameter().and_then(|p| p.value()).unwrap_or_default();
        serde_json::from_str(text)
            .map(Some)
            .map_err(|e| StateError::Unreadable(format!("parameter {name} is not a group state ({e}); delete it to start again from the record")))
    }

    pub async fn save(&self, group: &str, state: &GroupState) -> Result<(), AwsError> {
        let value = serde_json::to_string(state).unwrap_or_default();
        self.ssm
            .put_parameter()
            .name(self.parameter(group))
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(aws_err("ssm:PutParameter"))?;
        Ok(())
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
/// What one probe or alarm said of the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Observation {
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flip {
    Failover,
    Failback,
}

impl Flip {
    pub fn to(self) -> Side {
        match self {
            Flip::Failover => Side::Standby,
            Flip::Failback => Side::Primary,
        }
    }
}
