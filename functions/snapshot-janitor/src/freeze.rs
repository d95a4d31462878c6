//! The freeze around an application-consistent set: the configured document's `phase=pre` on
//! the instance, the set at one instant, then `phase=post`. The thaw is always sent once a pre
//! command went out, whatever came of it (a script may freeze and then fail, or time out
//! frozen), and after a CreateSnapshots that failed too. A post that fails is tried once more;
//! still failing, it is a failure of its own: a filesystem may still be frozen.
//!
//! The commands come only from `CONSISTENCY_DOCUMENT`, never from a tag: a tag that named
//! commands would let anyone who may tag an instance run code on it as root.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fleetkeeper::AwsError;
use fleetkeeper::exec::Budget;

use crate::config::{Freeze, OnPreFailure};
use crate::model::{CONSISTENCY_TAG, Consistency, FREEZE_MS_TAG};
use crate::plan::create::CreateSet;
use crate::ports::{CommandStatus, Commands, Ebs, SetMember};

/// What one set's freeze, snapshots and thaw came to.
#[derive(Debug)]
pub struct Frozen {
    /// The set (None: not taken, the pre phase failed under ON_PRE_FAILURE=skip, or the
    /// freeze was refused before anything ran).
    pub set: Option<Result<Vec<SetMember>, AwsError>>,
    /// What the snapshots say they are.
    pub consistency: Consistency,
    /// The tags the snapshots were made with.
    pub tags: BTreeMap<String, String>,
    /// The tags written with the seal: the freeze time.
    pub after: BTreeMap<String, String>,
    /// From the pre phase's success to the post phase's.
    pub freeze_ms: Option<u64>,
    /// Why no freeze took place (the pre phase, a refused request).
    pub not_frozen: Option<String>,
    /// Why the thaw was not confirmed, after one retry.
    pub thaw_failed: Option<String>,
}

/// How one phase ended.
enum Phase {
    Done,
    /// Sent, and it failed or ran out of time: it may have acted.
    Failed(String),
    /// Never sent (the instance not managed by SSM, the document missing): nothing ran.
    NotSent(String),
}

/// Sends `phase` and waits for it, for the freeze timeout at most (and never past the budget).
async fn phase<P: Commands + Sync>(
    port: &P,
    instance_id: &str,
    document: &str,
    phase: &str,
    freeze: &Freeze,
    budget: Budget,
) -> Phase {
    let id = match port.send_command(instance_id, document, phase).await {
        Ok(id) => id,
        Err(e) => return Phase::NotSent(format!("the {phase} phase was not sent: {e}")),
    };
    let wait = budget
        .remaining()
        .map_or(freeze.timeout, |left| left.min(freeze.timeout));
    let started = Instant::now();
    let mut last_error = None;
    loop {
        match port.command_status(&id, instance_id).await {
            Ok(CommandStatus::Success) => return Phase::Done,
            Ok(CommandStatus::Failed(why)) => {
                return Phase::Failed(format!("the {phase} phase failed ({why})"));
            }
            Ok(CommandStatus::Running) => {}
            // Read again until the timeout; said if it was the last word.
            Err(e) => last_error = Some(e.to_string()),
        }
        if started.elapsed() >= wait {
            let said = last_error
                .map(|e| format!("; last read: {e}"))
                .unwrap_or_default();
            return Phase::Failed(format!(
                "the {phase} phase did not finish within {} s (command {id}){said}",
                wait.as_secs()
            ));
        }
        tokio::time::sleep(freeze.poll.min(Duration::from_secs(5))).await;
    }
}

/// The post phase, once more if it fails: None when it succeeded.
async fn thaw<P: Commands + Sync>(
    port: &P,
    instance_id: &str,
    document: &str,
    freeze: &Freeze,
    budget: Budget,
) -> Option<String> {
    let mut why = String::new();
    for attempt in 0..2 {
        match phase(port, instance_id, document, "post", freeze, budget).await {
            Phase::Done => return None,
            Phase::Failed(w) | Phase::NotSent(w) => why = w,
        }
        if attempt == 0 {
            tracing::warn!(instance = instance_id, reason = %why, "thaw failed; trying once more");
        }
    }
    Some(format!(
        "{why}, twice: a filesystem of {instance_id} may still be frozen; run the document's post phase on it by hand"
    ))
}

/// Takes `set` as its instance asks: crash-consistent as always, or frozen around it.
pub async fn take<E: Ebs + Commands + Sync>(
    port: &E,
    set: &CreateSet,
    freeze: &Freeze,
    budget: Budget,
) -> Frozen {
    let mut out = Frozen {
        set: None,
        consistency: Consistency::Crash,
        tags: set.tags.clone(),
        after: BTreeMap::new(),
        freeze_ms: None,
        not_frozen: None,
        thaw_failed: None,
    };
    let create = |tags: BTreeMap<String, String>| async move {
        port.create_set(&set.instance_id, set.exclude_boot, &set.description, &tags)
            .await
    };
    let document = match (set.consistency, &freeze.document) {
        (Consistency::Crash, _) => {
            out.set = Some(create(out.tags.clone()).await);
            return out;
        }
        (Consistency::Vss, _) => {
            out.not_frozen = Some(
                "vss consistency is not supported by this release (AWSEC2-CreateVssSnapshot takes the snapshots itself); tag the instance application (with a document that calls VSS) or crash".into(),
            );
            return out;
        }
        (Consistency::Application, None) => {
            out.not_frozen = Some(
                "the instance asks for application consistency but CONSISTENCY_DOCUMENT is not set; no snapshot taken".into(),
            );
            return out;
        }
        (Consistency::Application, Some(d)) => d.as_str(),
    };
    let id = set.instance_id.as_str();
    let pre = phase(port, id, document, "pre", freeze, budget).await;
    let frozen_at = Instant::now();
    let sent = !matches!(pre, Phase::NotSent(_));
    let take_it = match pre {
        Phase::Done => {
            out.consistency = Consistency::Application;
            true
        }
        Phase::Failed(why) | Phase::NotSent(why) => {
            let taken = freeze.on_pre_failure == OnPreFailure::CrashConsistent;
            out.not_frozen = Some(match taken {
                true => format!("{why}; taken crash-consistent (ON_PRE_FAILURE=crash-consistent)"),
                false => format!(
                    "{why}; no snapshot this period (ON_PRE_FAILURE=skip), the next run tries again"
                ),
            });
            taken
        }
    };
    out.tags.insert(
        CONSISTENCY_TAG.to_owned(),
        out.consistency.as_str().to_owned(),
    );
    if take_it {
        out.set = Some(create(out.tags.clone()).await);
    }
    if sent {
        out.thaw_failed = thaw(port, id, document, freeze, budget).await;
    }
    if out.consistency == Consistency::Application {
        let ms = frozen_at.elapsed().as_millis() as u64;
        out.freeze_ms = Some(ms);
        out.after.insert(FREEZE_MS_TAG.to_owned(), ms.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::fake::FakeEbs;

    fn set(consistency: Consistency) -> CreateSet {
        CreateSet {
            instance_id: "i-db".into(),
            exclude_boot: false,
            volume_ids: vec!["vol-a".into()],
            set_id: "i-db@t".into(),
            policy: "daily".into(),
            reason: "no set yet".into(),
            description: "d".into(),
            tags: BTreeMap::from([(CONSISTENCY_TAG.to_owned(), "crash".to_owned())]),
            consistency,
        }
    }

    fn freeze(on_pre_failure: OnPreFailure) -> Freeze {
        Freeze {
            document: Some("fleetkeeper-freeze".into()),
            timeout: Duration::from_millis(50),
            poll: Duration::from_millis(5),
            on_pre_failure,
        }
    }

    fn calls(port: &FakeEbs) -> Vec<String> {
        let mut calls = port.calls.lock().unwrap().clone();
        calls.dedup();
        calls
    }

    async fn run(port: &FakeEbs, c: Consistency, on: OnPreFailure) -> Frozen {
        take(port, &set(c), &freeze(on), Budget::unlimited()).await
    }

    #[tokio::test]
    async fn pre_then_the_set_then_post() {
        let port = FakeEbs::default();
        let out = run(&port, Consistency::Application, OnPreFailure::Skip).await;
        assert_eq!(
            calls(&port),
            [
                "send:pre",
                "status:pre",
                "create-set:i-db",
                "send:post",
                "status:post"
            ]
        );
        assert!(matches!(out.set, Some(Ok(_))));
        assert_eq!(out.consistency, Consistency::Application);
        assert_eq!(out.tags[CONSISTENCY_TAG], "application");
        assert!(out.after.contains_key(FREEZE_MS_TAG) && out.freeze_ms.is_some());
        assert!(out.not_frozen.is_none() && out.thaw_failed.is_none());
    }

    #[tokio::test]
    async fn a_crash_set_sends_no_command() {
        let port = FakeEbs::default();
        let out = run(&port, Consistency::Crash, OnPreFailure::Skip).await;
        assert_eq!(calls(&port), ["create-set:i-db"]);
        assert_eq!(out.tags[CONSISTENCY_TAG], "crash");
    }

    #[tokio::test]
    async fn a_failed_pre_skips_or_falls_back_out_loud_and_still_thaws() {
        let failing = || FakeEbs {
            phases: BTreeMap::from([(
                "pre".to_owned(),
                vec![CommandStatus::Failed("Failed: fsfreeze: busy".into())],
            )]),
            ..FakeEbs::default()
        };
        let port = failing();
        let out = run(&port, Consistency::Application, OnPreFailure::Skip).await;
        assert!(out.set.is_none());
        assert!(out.not_frozen.unwrap().contains("fsfreeze: busy"));
        assert_eq!(
            calls(&port),
            ["send:pre", "status:pre", "send:post", "status:post"]
        );
        let port = failing();
        let out = run(
            &port,
            Consistency::Application,
            OnPreFailure::CrashConsistent,
        )
        .await;
        assert!(matches!(out.set, Some(Ok(_))));
        assert_eq!(out.tags[CONSISTENCY_TAG], "crash");
        assert!(out.freeze_ms.is_none());
        assert!(out.not_frozen.unwrap().contains("taken crash-consistent"));
    }

    #[tokio::test]
    async fn a_pre_that_never_ends_times_out_and_is_thawed() {
        let port = FakeEbs {
            phases: BTreeMap::from([("pre".to_owned(), vec![CommandStatus::Running])]),
            ..FakeEbs::default()
        };
        let out = run(&port, Consistency::Application, OnPreFailure::Skip).await;
        assert!(out.not_frozen.unwrap().contains("did not finish within"));
        assert!(calls(&port).contains(&"send:post".to_owned()));
    }

    #[tokio::test]
    async fn a_failed_set_still_thaws_and_a_failed_post_is_tried_twice() {
        let port = FakeEbs {
            set_fails: Some(AwsError::service(
                "ec2:CreateSnapshots",
                "RequestLimitExceeded",
                "slow down",
            )),
            phases: BTreeMap::from([(
                "post".to_owned(),
                vec![CommandStatus::Failed("Failed".into())],
            )]),
            ..FakeEbs::default()
        };
        let out = run(&port, Consistency::Application, OnPreFailure::Skip).await;
        assert!(matches!(out.set, Some(Err(_))));
        let sent_post = port
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| *c == "send:post")
            .count();
        assert_eq!(sent_post, 2, "retried once");
        assert!(out.thaw_failed.unwrap().contains("may still be frozen"));
    }

    #[tokio::test]
    async fn vss_and_a_missing_document_are_refused_before_anything_runs() {
        let port = FakeEbs::default();
        let out = run(&port, Consistency::Vss, OnPreFailure::CrashConsistent).await;
        assert!(out.set.is_none() && out.not_frozen.unwrap().contains("vss"));
        let mut no_doc = freeze(OnPreFailure::Skip);
        no_doc.document = None;
        let out = take(
            &port,
            &set(Consistency::Application),
            &no_doc,
            Budget::unlimited(),
        )
        .await;
        assert!(out.not_frozen.unwrap().contains("CONSISTENCY_DOCUMENT"));
        assert!(port.calls.lock().unwrap().is_empty());
    }
}
