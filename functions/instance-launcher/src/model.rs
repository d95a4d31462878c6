//! instance-launcher's own types, which both features (the launch form and "your
//! instances"), their plans and the ports speak of: who the caller is, a launch, a claim
//! book, and a refused field.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use fleetkeeper::ec2::Instance;
use fleetkeeper::tags::{LAUNCHED_BY_TAG, OWNER_TAG, TOKEN_TAG};

/// The name reports and logs give the function.
pub const FUNCTION: &str = "instance-launcher";

pub const OWNER_MAX: usize = 254;

/// One launch as planned: what RunInstances is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub instance_type: String,
    /// RunInstances' ClientToken (EC2 keeps it for a while and answers a repeat with the same
    /// instance), also kept as a tag for the check before launching.
    pub token: String,
    /// On the instance and on its volumes.
    pub tags: Vec<(String, String)>,
    pub expires_at: Timestamp,
}

/// The states a listed instance may be in: the ones that still bill or can be started.
pub const LISTED_STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];

/// Whose instances: the IAM caller (matched on `fleetkeeper:launched-by`) or, behind a
/// shared-secret proxy that signs nobody in, the owner e-mail given on the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Caller(String),
    Owner(String),
}

impl Who {
    /// The tag an instance of theirs carries: (key, value).
    pub fn tag(&self) -> (&'static str, &str) {
        match self {
            Who::Caller(arn) => (LAUNCHED_BY_TAG, arn),
            Who::Owner(email) => (OWNER_TAG, email),
        }
    }

    /// A digest (hex SHA-256) of who they are and `salt`: a name for them that can be shown
    /// or used as a key, and that no other caller's gives.
    pub fn digest(&self, salt: &str) -> String {
        use sha2::{Digest, Sha256};
        let (kind, name) = self.tag();
        Sha256::new()
            .chain_update(kind.as_bytes())
            .chain_update(b"=")
            .chain_update(name.as_bytes())
            .chain_update(b"\n")
            .chain_update(salt.as_bytes())
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Who, as a message names them: the caller's ARN, or the owner e-mail.
    pub fn name(&self) -> &str {
        self.tag().1
    }

    /// Theirs, and launched by instance-launcher (others are not this page's to touch).
    pub fn owns(&self, i: &Instance) -> bool {
        let (key, value) = self.tag();
        // launched-by is cut to 256 characters at launch, as tag values must be.
        let value: String = value.chars().take(256).collect();
        i.tags.contains_key(TOKEN_TAG) && i.tags.get(key).map(String::as_str) == Some(&value)
    }

    /// The owner e-mail to carry in links and forms (none for an IAM caller).
    pub fn owner(&self) -> Option<&str> {
        match self {
            Who::Owner(e) => Some(e),
            Who::Caller(_) => None,
        }
    }
}

/// Reads the owner e-mail given on the page (shared-secret mode): lowercased, checked as the
/// launch form checks it.
pub fn owner_of(given: Option<&str>) -> Result<Who, FieldError> {
    let given = given.map(str::trim).unwrap_or_default();
    if given.is_empty() {
        return Err(FieldError::new(
            "owner",
            "give the owner e-mail the instances were launched for",
        ));
    }
    let owner = given.to_ascii_lowercase();
    if owner.len() > OWNER_MAX || !is_email(&owner) {
        return Err(FieldError::new(
            "owner",
            "must be an e-mail address such as jane@example.com",
        ));
    }
    Ok(Who::Owner(owner))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// The raw values as sent, kept to fill the form again beside its errors.
pub type Raw = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// One message per bad field.
    Fields(Vec<FieldError>, Raw),
    /// The body as a whole (not JSON, not an object, not UTF-8).
    Body(String),
}

/// A deliberately plain check: one @, a dotted domain, no spaces or markup characters.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-'".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

/// The caller's claims, as the object holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    pub claims: Vec<Claim>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The launch token: the instance it becomes carries it as a tag.
    pub token: String,
    /// When it was claimed, in Unix seconds.
    pub at: i64,
}
