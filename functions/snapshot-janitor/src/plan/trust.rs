//! Which snapshots are ours: those whose seal verifies. Pure.
//!
//! The managed-by tag only finds candidates; anyone can write it, or copy every tag of one of
//! our snapshots onto theirs. Only a snapshot whose `fleetkeeper:seal` verifies for its own id
//! and its fleetkeeper tags is planned for (counts for its period, is kept or deleted by
//! retention, archived, copied). Every other one is left alone and reported.

use fleetkeeper::seal::{KeyRing, Proof, fleetkeeper_claims};

use crate::plan::retention::Snapshot;

/// A snapshot with our tags but without a valid seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotOurs {
    pub snapshot: Snapshot,
    pub proof: Proof,
}

impl NotOurs {
    pub fn reason(&self) -> String {
        self.proof.reason().unwrap_or_default()
    }

    /// A seal that does not verify here: someone copied or altered fleetkeeper's tags.
    pub fn forged(&self) -> bool {
        self.proof == Proof::Forged
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trusted {
    pub ours: Vec<Snapshot>,
    pub not_ours: Vec<NotOurs>,
}

/// The snapshots split by what their seals prove.
pub fn sort_by_seal(snapshots: Vec<Snapshot>, ring: &KeyRing) -> Trusted {
    let mut out = Trusted::default();
    for s in snapshots {
        match ring.check(&s.id, &s.tags, &fleetkeeper_claims(&s.tags)) {
            Proof::Valid => out.ours.push(s),
            proof => out.not_ours.push(NotOurs { snapshot: s, proof }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetkeeper::seal::{Key, NOT_OURS, SEAL_TAG};
    use std::collections::BTreeMap;

    fn snap(id: &str, tags: &BTreeMap<String, String>) -> Snapshot {
        Snapshot {
            id: id.into(),
            tags: tags.clone(),
            ..Default::default()
        }
    }

    #[test]
    fn every_tag_copied_onto_a_foreign_snapshot_makes_it_no_more_ours() {
        let ring = KeyRing::new(Key::new("v-1", vec![3; 32]).unwrap());
        let mut tags: BTreeMap<String, String> = [
            ("fleetkeeper:managed-by", "snapshot-janitor"),
            ("fleetkeeper:policy", "daily"),
            ("fleetkeeper:volume-id", "vol-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let seal = ring.seal("snap-ours", &fleetkeeper_claims(&tags)).unwrap();
        tags.insert(SEAL_TAG.into(), seal);
        let mut bare = tags.clone();
        bare.remove(SEAL_TAG);
        let t = sort_by_seal(
            vec![
                snap("snap-ours", &tags),
                snap("snap-copy-of-every-tag", &tags),
                snap("snap-made-before-seals", &bare),
            ],
            &ring,
        );
        assert_eq!(t.ours.len(), 1);
        assert_eq!(t.ours[0].id, "snap-ours");
        let forged = &t.not_ours[0];
        assert!(forged.forged());
        assert!(forged.reason().starts_with(NOT_OURS), "{}", forged.reason());
        let unsealed = &t.not_ours[1];
        assert_eq!(unsealed.proof, Proof::Unsealed);
        assert!(!unsealed.forged() && unsealed.reason().contains("adopt"));
    }
}
