//! Seals (feature `seal`): the proof that a resource is fleetkeeper's own, which a tag alone
//! cannot give.
//!
//! Anyone with `ec2:CreateTags` can write fleetkeeper's tags, or copy every tag of a genuine
//! resource onto a foreign one. Opting in may rest on a tag; destroying may not. So what
//! fleetkeeper makes and may later delete, stop or terminate carries `fleetkeeper:seal`: an
//! HMAC-SHA256, keyed by a secret only the function roles can read, over the resource's own id
//! and the tags that authorise acting on it. A copied seal names another id; an altered tag
//! changes the message: either way it does not verify, and the resource is left alone.
//!
//! The key is the Secrets Manager secret `SEAL_SECRET` (default `fleetkeeper/seal-key`). A
//! seal names the secret version it was made with, and every version still verifies, so a
//! rotation orphans nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::{AwsError, aws_err};

/// The tag that carries the seal.
pub const SEAL_TAG: &str = "fleetkeeper:seal";
/// Where the key is, unless `SEAL_SECRET` says otherwise.
pub const DEFAULT_SECRET: &str = "fleetkeeper/seal-key";
/// The reason every resource without a valid seal is left alone with.
pub const NOT_OURS: &str = "fleetkeeper tags without a valid seal: not ours";
/// Shorter keys are refused: HMAC-SHA256 wants at least 32 bytes of secret.
pub const MIN_KEY_BYTES: usize = 32;
/// The seal's format: `fk1.<key version>.<mac>`.
const FORMAT: &str = "fk1";

/// One version of the key. Its bytes never reach a log: Debug shows the version only.
#[derive(Clone)]
pub struct Key {
    pub version: String,
    secret: Vec<u8>,
}

impl Key {
    pub fn new(version: impl Into<String>, secret: impl Into<Vec<u8>>) -> Result<Key, String> {
        let (version, secret) = (version.into(), secret.into());
        if secret.len() < MIN_KEY_BYTES {
            return Err(format!(
                "seal key version {version} is {} bytes, fewer than {MIN_KEY_BYTES}",
                secret.len()
            ));
        }
        if version.is_empty() || version.contains('.') {
            return Err(format!("seal key version {version:?} is not a version id"));
        }
        Ok(Key { version, secret })
    }

    fn mac(&self, resource_id: &str, claims: &BTreeMap<String, String>) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret).expect("HMAC takes any key");
        // Length-prefixed, so no two (id, claims) share a message.
        let mut part = |s: &str| {
            mac.update(&(s.len() as u64).to_be_bytes());
            mac.update(s.as_bytes());
        };
        part(FORMAT);
        part(resource_id);
        for (k, v) in claims {
            part(k);
            part(v);
        }
        mac
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Key {{ version: {:?}, secret: [redacted] }}",
            self.version
        )
    }
}

/// The tags a seal covers on a resource whose fleetkeeper tags never change once written (a
/// snapshot): every `fleetkeeper:` tag but the seal itself. Adding, changing or removing any of
/// them breaks the seal.
pub fn fleetkeeper_claims(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tags.iter()
        .filter(|(k, _)| k.starts_with("fleetkeeper:") && k.as_str() != SEAL_TAG)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The tags a lease's seal covers on an instance: who owns it, how it was launched, when its
/// lease ends and whether it was stopped for that. Every fleetkeeper role that changes one of
/// them (a launch, an extension, the expiry stop) seals again in the same step; a change by
/// anyone else breaks the seal, and the instance is left alone. Other tags (the warning
/// remembered, a schedule's last action, its Name) may change freely.
pub const LEASE_CLAIMS: [&str; 6] = [
    crate::tags::OWNER_TAG,
    crate::tags::TOKEN_TAG,
    crate::tags::LAUNCHED_BY_TAG,
    crate::tags::EXPIRES_TAG,
    crate::tags::EXPIRED_TAG,
    crate::tags::EXTENSIONS_TAG,
];

pub fn lease_claims(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tags.iter()
        .filter(|(k, _)| LEASE_CLAIMS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// An adopt request (`{"action": "adopt"}`, optionally with `"ids"`): the upgrade path for
/// resources fleetkeeper made before seals, and for hand-made ones, on an operator's word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adopt {
    /// List every unsealed resource with the function's tags, and what agrees with them.
    /// Changes nothing.
    List,
    /// Seal exactly these.
    Seal(Vec<String>),
}

/// The adopt request in `event`, if its `action` is `adopt`: None for any other event (the
/// caller judges those). `"ids"` must be a non-empty list of ids starting with `prefix`
/// (`snap-`, `i-`).
pub fn adopt_request(
    event: &serde_json::Map<String, serde_json::Value>,
    prefix: &str,
) -> Result<Option<Adopt>, crate::Error> {
    use serde_json::Value;
    if event.get("action").and_then(Value::as_str) != Some("adopt") {
        return Ok(None);
    }
    let example = format!("{prefix}0123456789abcdef0");
    match event.get("ids") {
        None | Some(Value::Null) => Ok(Some(Adopt::List)),
        Some(Value::Array(ids)) if !ids.is_empty() => ids
            .iter()
            .map(|id| match id.as_str() {
                Some(s) if s.starts_with(prefix) && s.len() > prefix.len() => Ok(s.to_owned()),
                _ => Err(crate::Error::input(format!(
                    "\"ids\" must be ids such as {example}, got {}",
                    crate::error::brief(id)
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|ids| Some(Adopt::Seal(ids))),
        Some(other) => Err(crate::Error::input(format!(
            "\"ids\" must be a non-empty list of ids such as {example}, got {}",
            crate::error::brief(other)
        ))),
    }
}

/// What a resource's seal proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// Made by fleetkeeper, for this id, with these claims.
    Valid,
    /// No seal: made before seals, by hand, or by someone else. Kept, and listed for adoption.
    Unsealed,
    /// A seal that does not verify here: copied from another resource, or its tags altered.
    Forged,
    /// Sealed with a key version that is gone (deleted from the secret).
    UnknownKey(String),
}

impl Proof {
    pub fn is_valid(&self) -> bool {
        *self == Proof::Valid
    }

    /// Why a resource with this proof is left alone (None when valid).
    pub fn reason(&self) -> Option<String> {
        match self {
            Proof::Valid => None,
            Proof::Unsealed => Some(format!(
                "{NOT_OURS} (no seal; if fleetkeeper made it before seals, adopt it)"
            )),
            Proof::Forged => Some(format!(
                "{NOT_OURS} (its seal does not match this resource: tags copied from another or altered)"
            )),
            Proof::UnknownKey(v) => Some(format!(
                "{NOT_OURS} (sealed with key version {v}, which the secret no longer has)"
            )),
        }
    }
}

/// The keys a run seals and verifies with: the current version, and the older versions that
/// the seals it met name.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    current: Option<Key>,
    versions: BTreeMap<String, Key>,
}

impl KeyRing {
    pub fn new(current: Key) -> KeyRing {
        let mut ring = KeyRing::default();
        ring.versions
            .insert(current.version.clone(), current.clone());
        ring.current = Some(current);
        ring
    }

    /// An older version, for verifying what it sealed.
    pub fn add(&mut self, key: Key) {
        self.versions.insert(key.version.clone(), key);
    }

    pub fn current_version(&self) -> Option<&str> {
        self.current.as_ref().map(|k| k.version.as_str())
    }

    /// The seal for `resource_id` with `claims`, made with the current key; an error (for the
    /// report, as the CreateTags that would have written it) when the ring has no current key.
    pub fn seal(
        &self,
        resource_id: &str,
        claims: &BTreeMap<String, String>,
    ) -> Result<String, AwsError> {
        let key = self.current.as_ref().ok_or_else(|| {
            AwsError::service("ec2:CreateTags", "NoSealKey", "no seal key to seal it with")
        })?;
        let mac = key.mac(resource_id, claims).finalize().into_bytes();
        Ok(format!(
            "{FORMAT}.{}.{}",
            key.version,
            URL_SAFE_NO_PAD.encode(mac)
        ))
    }

    /// What `tags` (their seal over `claims`) prove for `resource_id`.
    pub fn check(
        &self,
        resource_id: &str,
        tags: &BTreeMap<String, String>,
        claims: &BTreeMap<String, String>,
    ) -> Proof {
        let Some(seal) = tags.get(SEAL_TAG) else {
            return Proof::Unsealed;
        };
        let Some((version, mac)) = parse(seal) else {
            return Proof::Forged;
        };
        let Some(key) = self.versions.get(version) else {
            return Proof::UnknownKey(version.to_owned());
        };
        match key.mac(resource_id, claims).verify_slice(&mac) {
            Ok(()) => Proof::Valid,
            Err(_) => Proof::Forged,
        }
    }
}

/// The key versions that `seals` name (to fetch before checking them).
pub fn versions_named<'a>(seals: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    seals
        .into_iter()
        .filter_map(|s| parse(s).map(|(v, _)| v.to_owned()))
        .collect()
}

fn parse(seal: &str) -> Option<(&str, Vec<u8>)> {
    let mut parts = seal.split('.');
    let (format, version, mac) = (parts.next()?, parts.next()?, parts.next()?);
    if format != FORMAT || parts.next().is_some() || version.is_empty() {
        return None;
    }
    Some((version, URL_SAFE_NO_PAD.decode(mac).ok()?))
}

/// The key in Secrets Manager: the current version at each run, older versions as seals name
/// them. A version's value never changes, so what was read is kept for the life of the
/// process; only which version is current is read again.
#[derive(Debug, Clone)]
pub struct SecretKeys {
    client: aws_sdk_secretsmanager::Client,
    secret: String,
}

impl SecretKeys {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret: impl Into<String>) -> SecretKeys {
        SecretKeys {
            client,
            secret: secret.into(),
        }
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The ring for a run: the current version, and each of `versions` the secret still has
    /// (one it no longer has verifies nothing: what it sealed is left alone, and said so).
    pub async fn ring(&self, versions: &BTreeSet<String>) -> Result<KeyRing, AwsError> {
        let mut ring = KeyRing::new(self.read(None).await?);
        for v in versions {
            if ring.versions.contains_key(v) {
                continue;
            }
            match self.read(Some(v)).await {
                Ok(key) => ring.add(key),
                Err(e) if e.code() == Some("ResourceNotFoundException") => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ring)
    }

    async fn read(&self, version: Option<&str>) -> Result<Key, AwsError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret)
            .set_version_id(version.map(str::to_owned))
            .send()
            .await
            .map_err(aws_err("secretsmanager:GetSecretValue"))?;
        let version = out.version_id().unwrap_or_default();
        let value = out.secret_string().unwrap_or_default();
        Key::new(version, value.as_bytes()).map_err(|why| {
            AwsError::service(
                "secretsmanager:GetSecretValue",
                "InvalidSealKey",
                &format!("the seal key {}: {why}", self.secret),
            )
        })
    }
}

/// Where a function's seal keys come from: the secret, or a ring given outright (tests, and
/// the in-memory ports).
#[derive(Debug, Clone)]
pub enum Keys {
    Secret(SecretKeys),
    Fixed(KeyRing),
}

impl Keys {
    /// The ring for a run that met seals naming `versions`.
    pub async fn ring(&self, versions: &BTreeSet<String>) -> Result<KeyRing, AwsError> {
        match self {
            Keys::Secret(s) => s.ring(versions).await,
            Keys::Fixed(ring) => Ok(ring.clone()),
        }
    }

    /// The ring for the resources a run met (their tags): the versions their seals name.
    pub async fn ring_for<'a>(
        &self,
        tags: impl IntoIterator<Item = &'a BTreeMap<String, String>>,
    ) -> Result<KeyRing, AwsError> {
        let seals = tags.into_iter().filter_map(|t| t.get(SEAL_TAG));
        self.ring(&versions_named(seals)).await
    }

    /// What the report calls the key when it cannot be read.
    pub fn name(&self) -> &str {
        match self {
            Keys::Secret(s) => s.secret(),
            Keys::Fixed(_) => "(fixed key ring)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(version: &str, fill: u8) -> Key {
        Key::new(version, vec![fill; 32]).unwrap()
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_seal_verifies_only_on_its_own_resource_with_its_own_tags() {
        let ring = KeyRing::new(key("v-1", 7));
        let mut genuine = tags(&[
            ("Name", "db"),
            ("fleetkeeper:managed-by", "snapshot-janitor"),
            ("fleetkeeper:policy", "daily"),
        ]);
        let claims = fleetkeeper_claims(&genuine);
        assert!(!claims.contains_key("Name"), "other tags are not claims");
        let seal = ring.seal("snap-1", &claims).unwrap();
        assert!(seal.starts_with("fk1.v-1."), "{seal}");
        genuine.insert(SEAL_TAG.into(), seal);
        let check =
            |id: &str, t: &BTreeMap<String, String>| ring.check(id, t, &fleetkeeper_claims(t));
        assert_eq!(check("snap-1", &genuine), Proof::Valid);
        // Every tag, seal included, copied onto a foreign snapshot: the id differs.
        assert_eq!(check("snap-2", &genuine), Proof::Forged);
        // A claim altered (a shorter retention), added or removed on the genuine one.
        let mut altered = genuine.clone();
        altered.insert("fleetkeeper:policy".into(), "hourly".into());
        assert_eq!(check("snap-1", &altered), Proof::Forged);
        let mut added = genuine.clone();
        added.insert("fleetkeeper:set-id".into(), "x".into());
        assert_eq!(check("snap-1", &added), Proof::Forged);
        // Other tags may change freely.
        let mut renamed = genuine.clone();
        renamed.insert("Name".into(), "db-old".into());
        assert_eq!(check("snap-1", &renamed), Proof::Valid);
        // No seal, a malformed one, a key of another deployment.
        genuine.remove(SEAL_TAG);
        assert_eq!(check("snap-1", &genuine), Proof::Unsealed);
        genuine.insert(SEAL_TAG.into(), "fk1.v-1.!!!".into());
        assert_eq!(check("snap-1", &genuine), Proof::Forged);
        let other = KeyRing::new(key("v-1", 8));
        genuine.insert(SEAL_TAG.into(), other.seal("snap-1", &claims).unwrap());
        assert_eq!(check("snap-1", &genuine), Proof::Forged);
    }

    #[test]
    fn a_rotation_orphans_nothing_and_a_deleted_version_verifies_nothing() {
        let old = KeyRing::new(key("v-1", 1));
        let claims = tags(&[("fleetkeeper:managed-by", "snapshot-janitor")]);
        let mut t = claims.clone();
        t.insert(SEAL_TAG.into(), old.seal("snap-1", &claims).unwrap());
        let mut rotated = KeyRing::new(key("v-2", 2));
        assert_eq!(
            versions_named(t.get(SEAL_TAG)),
            BTreeSet::from(["v-1".to_owned()])
        );
        assert_eq!(
            rotated.check("snap-1", &t, &claims),
            Proof::UnknownKey("v-1".into())
        );
        rotated.add(key("v-1", 1));
        assert_eq!(rotated.check("snap-1", &t, &claims), Proof::Valid);
        assert!(
            rotated
                .seal("snap-9", &claims)
                .unwrap()
                .starts_with("fk1.v-2.")
        );
        assert!(
            Proof::UnknownKey("v-1".into())
                .reason()
                .unwrap()
                .contains(NOT_OURS)
        );
    }

    #[test]
    fn adopt_requests_and_their_bad_ids() {
        use serde_json::json;
        let obj = |v: serde_json::Value| v.as_object().unwrap().clone();
        assert_eq!(adopt_request(&obj(json!({})), "i-").unwrap(), None);
        assert_eq!(
            adopt_request(&obj(json!({"action": "evaluate"})), "i-").unwrap(),
            None
        );
        assert_eq!(
            adopt_request(&obj(json!({"action": "adopt"})), "i-").unwrap(),
            Some(Adopt::List)
        );
        assert_eq!(
            adopt_request(&obj(json!({"action": "adopt", "ids": ["i-1"]})), "i-").unwrap(),
            Some(Adopt::Seal(vec!["i-1".into()]))
        );
        for (bad, says) in [
            (json!({"action": "adopt", "ids": []}), "non-empty list"),
            (
                json!({"action": "adopt", "ids": ["snap-1"]}),
                "ids such as i-0123456789abcdef0",
            ),
            (json!({"action": "adopt", "ids": "i-1"}), "non-empty list"),
        ] {
            let e = adopt_request(&obj(bad.clone()), "i-")
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn short_keys_are_refused_and_never_printed() {
        let e = Key::new("v-1", b"short".to_vec()).unwrap_err();
        assert!(e.contains("fewer than 32"), "{e}");
        let k = Key::new("v-1", vec![b'x'; 40]).unwrap();
        assert!(!format!("{k:?}").contains("xxxx"), "{k:?}");
    }
}
