//! The group states in SSM Parameter Store, one parameter per group
//! (`<STATE_PREFIX>/<group>`), so no database is needed.

use aws_sdk_ssm::types::ParameterType;

use fleetkeeper::AwsError;
use fleetkeeper::error::aws_err;

use super::States;
use crate::state::GroupState;

pub struct StateStore {
    pub ssm: aws_sdk_ssm::Client,
    pub prefix: String,
}

impl StateStore {
    pub fn parameter(&self, group: &str) -> String {
        format!("{}/{group}", self.prefix)
    }
}

impl States for StateStore {
    async fn load(&self, group: &str) -> Result<Option<GroupState>, StateError> {
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

    async fn save(&self, group: &str, state: &GroupState) -> Result<(), AwsError> {
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
