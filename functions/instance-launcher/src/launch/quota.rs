//! The per-caller quota, pure. Counting the caller's instances and then launching is
//! check-then-act: ten launches at once all count the same two instances and all go ahead.
//! So every launch first takes a place in the caller's claim book, one S3 object rewritten
//! only with a conditional write (`If-Match` its ETag, or `If-None-Match: *` for the first):
//! of two launches that read the same book, one write wins and the other reads again.
//!
//! A place is held by a sealed live instance of the caller's (running or stopped), or by a
//! claim whose instance has not been seen yet, in any state: a launch in flight, younger
//! than [`CLAIM_TTL`]. (A claim whose instance was seen, even terminated since, holds nothing.)

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};

use crate::model::{Book, Claim};

/// How long a claim holds a place before its instance is seen. Far longer than a launch
/// (the function's timeout is 30 s), so a claim never lapses while its launch may still land;
/// a claim whose launch failed and could not be released frees itself after it.
pub const CLAIM_TTL: SignedDuration = SignedDuration::from_mins(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// Every place is held: by `held` instances and launches in flight.
    Full { held: usize },
    /// The book with this launch's claim added (and lapsed or landed claims dropped), to write.
    Take(Book),
}

/// Whether a launch with `token` may take a place. `live` are the tokens of the caller's
/// sealed live instances, `seen` the tokens of all their instances in any state.
pub fn take(
    book: &Book,
    live: &BTreeSet<String>,
    seen: &BTreeSet<String>,
    token: &str,
    now: Timestamp,
    max: usize,
) -> Slot {
    let mut in_flight: Vec<Claim> = book
        .claims
        .iter()
        .filter(|c| {
            !seen.contains(&c.token)
                && c.token != token
                && now.as_second() < c.at + CLAIM_TTL.as_secs()
        })
        .cloned()
        .collect();
    let held = live.len() + in_flight.len();
    if held >= max {
        return Slot::Full { held };
    }
    in_flight.push(Claim {
        token: token.to_owned(),
        at: now.as_second(),
    });
    Slot::Take(Book { claims: in_flight })
}

/// The book without `token`'s claim (its launch failed: the place is free again). None when
/// it holds no such claim.
pub fn release(book: &Book, token: &str) -> Option<Book> {
    let claims: Vec<Claim> = book
        .claims
        .iter()
        .filter(|c| c.token != token)
        .cloned()
        .collect();
    (claims.len() != book.claims.len()).then_some(Book { claims })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn claim(token: &str, t: &str) -> Claim {
        Claim {
            token: token.into(),
            at: at(t).as_second(),
        }
    }

    fn live(tokens: &[&str]) -> BTreeSet<String> {
        tokens.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn instances_and_launches_in_flight_hold_places() {
        let now = at("2026-11-21T09:30:00Z");
        let book = Book {
            claims: vec![
                claim("fk-landed", "2026-11-21T09:29:00Z"),
                claim("fk-flying", "2026-11-21T09:29:50Z"),
                claim("fk-lapsed", "2026-11-21T09:20:00Z"),
            ],
        };
        // One instance (landed, its claim dropped) and one launch in flight: 2 of 3.
        let seen = live(&["fk-landed", "fk-gone"]);
        match take(&book, &live(&["fk-landed"]), &seen, "fk-new", now, 3) {
            Slot::Take(next) => assert_eq!(
                next.claims,
                vec![
                    claim("fk-flying", "2026-11-21T09:29:50Z"),
                    claim("fk-new", "2026-11-21T09:30:00Z")
                ]
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            take(&book, &live(&["fk-landed"]), &seen, "fk-new", now, 2),
            Slot::Full { held: 2 }
        );
        // A claim whose instance was seen and terminated since holds nothing.
        let gone = Book {
            claims: vec![claim("fk-gone", "2026-11-21T09:29:30Z")],
        };
        assert!(matches!(
            take(&gone, &live(&[]), &seen, "fk-new", now, 1),
            Slot::Take(_)
        ));
        // Instances alone fill the quota, with or without a book.
        assert_eq!(
            take(
                &Book::default(),
                &live(&["a", "b"]),
                &live(&["a", "b"]),
                "fk-new",
                now,
                2
            ),
            Slot::Full { held: 2 }
        );
        // A lapsed claim holds nothing; a retried launch does not count its own claim twice.
        let lapsed = Book {
            claims: vec![claim("fk-lapsed", "2026-11-21T09:20:00Z")],
        };
        assert!(matches!(
            take(&lapsed, &live(&["a"]), &live(&["a"]), "fk-new", now, 2),
            Slot::Take(_)
        ));
        let mine = Book {
            claims: vec![claim("fk-new", "2026-11-21T09:29:59Z")],
        };
        assert!(matches!(
            take(&mine, &live(&["a"]), &live(&["a"]), "fk-new", now, 2),
            Slot::Take(_)
        ));
    }

    #[test]
    fn a_failed_launch_gives_its_place_back() {
        let book = Book {
            claims: vec![
                claim("fk-a", "2026-11-21T09:29:00Z"),
                claim("fk-b", "2026-11-21T09:29:00Z"),
            ],
        };
        assert_eq!(
            release(&book, "fk-a").unwrap().claims,
            vec![claim("fk-b", "2026-11-21T09:29:00Z")]
        );
        assert_eq!(release(&book, "fk-c"), None);
    }
}
