//! Apply: write what a step decided where the next steps (and people) read it: the manifest,
//! the organisation summary. And read back what the targets wrote.

use futures_util::{StreamExt, stream};
use serde::Serialize;

use fleetkeeper::AwsError;
use fleetkeeper::org::{Phase, Summary, Target};

use crate::ports::Store;

/// Reads at once when gathering the targets' summaries.
const READS_AT_ONCE: usize = 32;

pub fn manifest_key(run: &str) -> String {
    format!("runs/{run}/targets.json")
}

/// The targets the apply phase runs: those whose plan reported (written by the tally).
pub fn apply_key(run: &str) -> String {
    format!("runs/{run}/apply-targets.json")
}

pub fn summary_key(run: &str) -> String {
    format!("runs/{run}/summary.json")
}

pub async fn write_json<S: Store, T: Serialize>(
    store: &S,
    key: &str,
    value: &T,
) -> Result<(), AwsError> {
    let body = serde_json::to_vec(value).expect("plain data serializes");
    store.put(key, body).await
}

/// A list of targets (the run's manifest, or its apply list). None when it is not there (a
/// run id that never ran).
pub async fn read_targets<S: Store>(
    store: &S,
    key: &str,
) -> Result<Option<Result<Vec<Target>, String>>, AwsError> {
    let Some(body) = store.get(key).await? else {
        return Ok(None);
    };
    Ok(Some(
        serde_json::from_slice(&body).map_err(|e| format!("{key}: {e}")),
    ))
}

/// A key and what reading it gave.
type ObjectRead = (String, Result<Option<Vec<u8>>, AwsError>);

/// Every summary the targets wrote for one phase; an object that does not read is named.
pub async fn read_summaries<S: Store + Sync>(
    store: &S,
    run: &str,
    phase: Phase,
) -> Result<(Vec<Summary>, Vec<String>), AwsError> {
    let keys = store
        .list(&format!("runs/{run}/{}/", phase.as_str()))
        .await?;
    let read: Vec<ObjectRead> = stream::iter(keys)
        .map(|key| async move {
            let body = store.get(&key).await;
            (key, body)
        })
        .buffer_unordered(READS_AT_ONCE)
        .collect()
        .await;
    let mut summaries = Vec::new();
    let mut unreadable = Vec::new();
    #[derive(serde::Deserialize)]
    struct Written {
        summary: Summary,
    }
    for (key, body) in read {
        match body? {
            Some(bytes) => match serde_json::from_slice::<Written>(&bytes) {
                Ok(w) => summaries.push(w.summary),
                Err(e) => unreadable.push(format!("{key}: {e}")),
            },
            None => unreadable.push(format!("{key}: gone while reading")),
        }
    }
    Ok((summaries, unreadable))
}
