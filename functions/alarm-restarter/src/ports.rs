//! The AWS calls, behind one capability trait: read the alarm's instances, keep the history tag, and restart one instance
//! by the configured strategy.

use aws_sdk_ec2::types::Filter;

use fleetkeeper::AwsError;
use fleetkeeper::ec2::{Instance, describe_instances, dry_run_ok};
use fleetkeeper::error::aws_err;

use crate::config::Strategy;
use crate::history::EventKey;

/// The SSM Automation runbook that stops and starts an instance.
pub const RESTART_RUNBOOK: &str = "AWS-RestartEC2Instance";
/// The Run Command document for shell scripts on Linux.
pub const SHELL_DOCUMENT: &str = "AWS-RunShellScript";

/// One region's clients.
pub struct Region {
    pub name: String,
    pub ec2: aws_sdk_ec2::Client,
    pub ssm: aws_sdk_ssm::Client,
}

/// What a restart request returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    /// `automation-execution-id`, `command-id`, or `reboot`.
    pub kind: &'static str,
    pub id: Option<String>,
}

/// One region's instances, as alarm-restarter reaches them: tests can answer in memory.
pub trait Instances {
    /// The region's name.
    fn name(&self) -> &str;
    /// The instances among `ids` that exist.
    fn describe(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<Instance>, AwsError>> + Send;
    fn set_tag(
        &self,
        id: &str,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Asks for the restart by `strategy`; `dry_run` asks without restarting where AWS can.
    fn restart(
        &self,
        id: &str,
        strategy: &Strategy,
        alarm_name: &str,
        event: EventKey,
        dry_run: bool,
    ) -> impl Future<Output = Result<Requested, AwsError>> + Send;
}

impl Instances for Region {
    fn name(&self) -> &str {
        &self.name
    }

    /// The instances among `ids` that exist (a filter, not InstanceIds, so an unknown id is
    /// simply absent instead of failing the whole call).
    async fn describe(&self, ids: &[String]) -> Result<Vec<Instance>, AwsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let filter = Filter::builder()
            .name("instance-id")
            .set_values(Some(ids.to_vec()))
            .build();
        describe_instances(&self.ec2, vec![filter]).await
    }

    async fn set_tag(&self, id: &str, key: &str, value: &str) -> Result<(), AwsError> {
        fleetkeeper::tagging::create_tag(&self.ec2, &[id.to_owned()], key, value).await
    }

    /// Asks for the restart. `dry_run` only reaches AWS for `reboot` (EC2 checks permissions
    /// and state); SSM has no dry run, so nothing is sent.
    async fn restart(
        &self,
        id: &str,
        strategy: &Strategy,
        alarm_name: &str,
        event: EventKey,
        dry_run: bool,
    ) -> Result<Requested, AwsError> {
        match strategy {
            Strategy::Reboot => {
                let sent = self
                    .ec2
                    .reboot_instances()
                    .instance_ids(id)
                    .dry_run(dry_run)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(aws_err("ec2:RebootInstances"));
                dry_run_ok(sent)?;
                Ok(Requested {
                    kind: "reboot",
                    id: None,
                })
            }
            _ if dry_run => Ok(Requested {
                kind: "none",
                id: None,
            }),
            Strategy::Automation { assume_role } => {
                let mut call = self
                    .ssm
                    .start_automation_execution()
                    .document_name(RESTART_RUNBOOK)
                    .parameters("InstanceId", vec![id.to_owned()])
                    // The same change for the same instance starts one execution, even when two
                    // deliveries race past the history check.
                    .client_token(client_token(event, id));
                if let Some(role) = assume_role {
                    call = call.parameters("AutomationAssumeRole", vec![role.clone()]);
                }
                let out = call
                    .send()
                    .await
                    .map_err(aws_err("ssm:StartAutomationExecution"))?;
                Ok(Requested {
                    kind: "automation-execution-id",
                    id: out.automation_execution_id().map(str::to_owned),
                })
            }
            Strategy::RunCommand => {
                let out = self
                    .ssm
                    .send_command()
                    .document_name(SHELL_DOCUMENT)
                    .instance_ids(id)
                    .parameters("commands", vec![reboot_script(event)])
                    .comment(comment(alarm_name))
                    .timeout_seconds(600)
                    .send()
                    .await
                    .map_err(aws_err("ssm:SendCommand"))?;
                Ok(Requested {
                    kind: "command-id",
                    id: out
                        .command()
                        .and_then(|c| c.command_id())
                        .map(str::to_owned),
                })
            }
        }
    }
}

/// Exit code 194 asks the SSM agent to reboot and then run the script again, so the second
/// run must see that the reboot happened and exit 0. The marker lives in /var/tmp, which
/// survives reboots, and is named for the alarm change.
pub fn reboot_script(event: EventKey) -> String {
    format!(
        "marker=/var/tmp/fleetkeeper-restart-{event}; \
         if [ -e \"$marker\" ]; then rm -f \"$marker\"; exit 0; fi; \
         touch \"$marker\"; exit 194"
    )
}

/// Run Command comments are at most 100 characters.
fn comment(alarm_name: &str) -> String {
    let text = format!("fleetkeeper alarm-restarter: {alarm_name}");
    text.chars().take(100).collect()
}

/// A UUID-shaped idempotency token (StartAutomationExecution requires UUID format) derived
/// from the alarm change and the instance.
pub fn client_token(event: EventKey, id: &str) -> String {
    let hash = |seed: u64| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
        for b in event.to_string().bytes().chain([0u8]).chain(id.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    };
    let (a, b) = (hash(0), hash(0x9e37_79b9_7f4a_7c15));
    // Version 4 and RFC 4122 variant bits, so any UUID parser accepts it.
    let a = (a & !0xf000) | 0x4000;
    let b = (b & !(0xc000 << 48)) | (0x8000 << 48);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_tokens_are_uuids_per_change_and_instance() {
        let e = EventKey(0x1234_5678);
        let t = client_token(e, "i-0a1b2c3d4e5f60718");
        assert_eq!(t, client_token(e, "i-0a1b2c3d4e5f60718"));
        assert_ne!(t, client_token(e, "i-0f1e2d3c4b5a69788"));
        assert_ne!(
            t,
            client_token(EventKey(0x1234_5679), "i-0a1b2c3d4e5f60718")
        );
        let parts: Vec<&str> = t.split('-').collect();
        let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        assert_eq!(lens, [8, 4, 4, 4, 12], "{t}");
        assert!(parts[2].starts_with('4'), "{t}");
        assert!(
            matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
            "{t}"
        );
    }

    #[test]
    fn reboot_script_runs_once_across_the_reboot() {
        let script = reboot_script(EventKey(0xabcdef01));
        assert!(script.contains("/var/tmp/fleetkeeper-restart-abcdef01"));
        assert!(script.ends_with("exit 194"));
        assert!(script.contains("exit 0"));
        assert!(comment(&"x".repeat(200)).chars().count() <= 100);
        // Run it as the agent would: the first run asks for the reboot, the rerun after it
        // finishes cleanly and leaves nothing behind.
        let script = reboot_script(EventKey(std::process::id()));
        let run = || {
            std::process::Command::new("sh")
                .args(["-c", &script])
                .status()
                .unwrap()
                .code()
        };
        assert_eq!(run(), Some(194));
        assert_eq!(run(), Some(0));
        assert_eq!(run(), Some(194));
        assert_eq!(run(), Some(0));
    }
}

/// In-memory ports for unit tests: one region's instances, their tags, and the restarts asked.
#[cfg(test)]
pub mod fake {
    use std::sync::Mutex;

    use fleetkeeper::AwsError;
    use fleetkeeper::ec2::Instance;

    use super::{Instances, Requested};
    use crate::config::Strategy;
    use crate::history::EventKey;

    #[derive(Default)]
    pub struct FakeRegion {
        pub name: String,
        pub instances: Mutex<Vec<Instance>>,
        /// The ids a restart was asked for.
        pub restarted: Mutex<Vec<String>>,
    }

    impl FakeRegion {
        pub fn holding(name: &str, instances: Vec<Instance>) -> Self {
            FakeRegion {
                name: name.to_owned(),
                instances: Mutex::new(instances),
                ..FakeRegion::default()
            }
        }

        pub fn restarted(&self) -> Vec<String> {
            self.restarted.lock().unwrap().clone()
        }
    }

    impl Instances for FakeRegion {
        fn name(&self) -> &str {
            &self.name
        }

        async fn describe(&self, ids: &[String]) -> Result<Vec<Instance>, AwsError> {
            let all = self.instances.lock().unwrap();
            Ok(all
                .iter()
                .filter(|i| ids.contains(&i.id))
                .cloned()
                .collect())
        }

        async fn set_tag(&self, id: &str, key: &str, value: &str) -> Result<(), AwsError> {
            let mut all = self.instances.lock().unwrap();
            if let Some(i) = all.iter_mut().find(|i| i.id == id) {
                i.tags.insert(key.to_owned(), value.to_owned());
            }
            Ok(())
        }

        async fn restart(
            &self,
            id: &str,
            _: &Strategy,
            _: &str,
            _: EventKey,
            dry_run: bool,
        ) -> Result<Requested, AwsError> {
            if !dry_run {
                self.restarted.lock().unwrap().push(id.to_owned());
            }
            Ok(Requested {
                kind: "reboot",
                id: None,
            })
        }
    }
}
