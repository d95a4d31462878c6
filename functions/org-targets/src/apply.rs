//! Apply: write what a step decided where the next steps (and people) read it: the manifest,
//! the organisation summary. And read back what the targets wrote.

use futures_util::{StreamExt, stream};
use serde::Serialize;

use fleetkeeper::org::{Phase, Summary, Target};
use fleetkeeper::{AwsError, Error};

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

/// What a key of the store holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored<T> {
    /// Not there (a run id that never ran, a step that never wrote).
    Missing,
    /// There, but not what it should be: why, naming the key.
    Unreadable(String),
    Found(T),
}

/// A list of targets (the run's manifest, or its apply list).
pub async fn read_targets<S: Store>(store: &S, key: &str) -> Result<Stored<Vec<Target>>, AwsError> {
    Ok(match store.get(key).await? {
        None => Stored::Missing,
        Some(body) => match serde_json::from_slice(&body) {
            Ok(targets) => Stored::Found(targets),
            Err(e) => Stored::Unreadable(format!("{key}: {e}")),
        },
    })
}

/// Every summary the targets wrote for one phase, and the objects that did not read, named.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    pub summaries: Vec<Summary>,
    pub unreadable: Vec<String>,
}

/// A key and what reading it gave.
struct ObjectRead {
    key: String,
    body: Result<Option<Vec<u8>>, AwsError>,
}

/// Every summary the targets wrote for one phase.
pub async fn read_summaries<S: Store + Sync>(
    store: &S,
    run: &str,
    phase: Phase,
) -> Result<Gathered, AwsError> {
    let keys = store
        .list(&format!("runs/{run}/{}/", phase.as_str()))
        .await?;
    let read: Vec<ObjectRead> = stream::iter(keys)
        .map(|key| async move {
            let body = store.get(&key).await;
            ObjectRead { key, body }
        })
        .buffer_unordered(READS_AT_ONCE)
        .collect()
        .await;
    let mut gathered = Gathered::default();
    #[derive(serde::Deserialize)]
    struct Written {
        summary: Summary,
    }
    for ObjectRead { key, body } in read {
        match body? {
            Some(bytes) => match serde_json::from_slice::<Written>(&bytes) {
                Ok(w) => gathered.summaries.push(w.summary),
                Err(e) => gathered.unreadable.push(format!("{key}: {e}")),
            },
            None => gathered
                .unreadable
                .push(format!("{key}: gone while reading")),
        }
    }
    Ok(gathered)
}

/// A store call that failed: logged, and the step fails as a whole.
pub fn failed_to(what: &str, e: AwsError) -> Error {
    tracing::error!(error = %e, "{what}");
    Error::from(e)
}

/// Every summary one phase of the run wrote.
pub async fn gathered<S: Store + Sync>(
    store: &S,
    run: &str,
    phase: Phase,
) -> Result<Gathered, Error> {
    read_summaries(store, run, phase)
        .await
        .map_err(|e| failed_to("reading the targets' summaries failed", e))
}

pub async fn manifest_of<S: Store>(store: &S, run: &str) -> Result<Vec<Target>, Error> {
    targets_at(store, &manifest_key(run)).await?.ok_or_else(|| {
        Error::input(format!(
            "run {run} has no manifest ({}): was the targets step run?",
            manifest_key(run)
        ))
    })
}

/// A list of targets in the store; None when it is not there.
pub async fn targets_at<S: Store>(store: &S, key: &str) -> Result<Option<Vec<Target>>, Error> {
    match read_targets(store, key)
        .await
        .map_err(|e| failed_to("reading a list of targets failed", e))?
    {
        Stored::Found(targets) => Ok(Some(targets)),
        Stored::Unreadable(why) => Err(Error::input(format!(
            "a list of targets does not read: {why}"
        ))),
        Stored::Missing => Ok(None),
    }
}
