//! The group states in SSM Parameter Store, one parameter per group
//! (`<STATE_PREFIX>/<group>`), so no database is needed; and each group's manual command,
//! under another prefix (`<COMMAND_PREFIX>/<group>`) that another role writes.

use aws_sdk_ssm::types::ParameterType;

use fleetkeeper::AwsError;
use fleetkeeper::error::aws_err;

use super::States;
use crate::model::{Command, GroupState};

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
