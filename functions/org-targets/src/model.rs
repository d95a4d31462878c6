//! org-targets' own types, which the plan and the ports both speak of.

/// An account as Organizations (or ACCOUNT_IDS) gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// ACTIVE, SUSPENDED, PENDING_CLOSURE ...
    pub status: String,
}
