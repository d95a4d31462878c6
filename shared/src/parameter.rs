//! SSM parameters that hold settings (feature `ssm`): read one, decrypted, and keep what it
//! holds for a while, so a change takes effect within minutes without a redeploy and a warm
//! function does not call SSM on every invocation.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{AwsError, aws_err};

/// How long what a parameter held is used before it is read again.
pub const REREAD_AFTER: Duration = Duration::from_secs(300);

/// The parameter's value (SecureStrings decrypted).
pub async fn read(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<String, AwsError> {
    let out = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(aws_err("ssm:GetParameter"))?;
    Ok(out
        .parameter()
        .and_then(|p| p.value())
        .unwrap_or_default()
        .to_owned())
}

/// A value read from somewhere slow, kept for `ttl`.
#[derive(Debug)]
pub struct Cached<T> {
    ttl: Duration,
    slot: Mutex<Option<(Arc<T>, Instant)>>,
}

impl<T> Cached<T> {
    pub fn new(ttl: Duration) -> Self {
        Cached {
            ttl,
            slot: Mutex::new(None),
        }
    }

    /// The value kept, while it is younger than the ttl.
    pub fn fresh(&self) -> Option<Arc<T>> {
        let slot = self.slot.lock().ok()?;
        slot.as_ref()
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| Arc::clone(v))
    }

    /// Keeps `value` from now on.
    pub fn store(&self, value: T) -> Arc<T> {
        let value = Arc::new(value);
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Some((Arc::clone(&value), Instant::now()));
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_for_the_ttl_only() {
        let c = Cached::new(Duration::from_millis(30));
        assert!(c.fresh().is_none());
        c.store(7);
        assert_eq!(c.fresh().as_deref(), Some(&7));
        std::thread::sleep(Duration::from_millis(40));
        assert!(c.fresh().is_none());
    }
}
