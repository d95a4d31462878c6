//! Stopping and terminating one instance (feature `ec2`). Apart from `ec2` so that a function
//! reading instances is not counted by the IAM check as stopping or terminating them.

use crate::error::{AwsError, aws_err};

pub async fn stop_instance(client: &aws_sdk_ec2::Client, id: &str) -> Result<(), AwsError> {
    client
        .stop_instances()
        .instance_ids(id)
        .send()
        .await
        .map_err(aws_err("ec2:StopInstances"))?;
    Ok(())
}

pub async fn terminate_instance(client: &aws_sdk_ec2::Client, id: &str) -> Result<(), AwsError> {
    client
        .terminate_instances()
        .instance_ids(id)
        .send()
        .await
        .map_err(aws_err("ec2:TerminateInstances"))?;
    Ok(())
}
