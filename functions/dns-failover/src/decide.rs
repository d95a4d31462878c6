//! Thresholds and hysteresis, pure: a state and one observation of the primary give the next
//! state and whether the record flips. Counters reset on every flip, so after a flip the
//! opposite threshold must be crossed in full again: a flapping primary never flips the record
//! more than once per threshold crossing.

use serde::Serialize;

use crate::state::{GroupState, Side};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Observation {
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flip {
    Failover,
    Failback,
}

impl Flip {
    pub fn to(self) -> Side {
        match self {
            Flip::Failover => Side::Standby,
            Flip::Failback => Side::Primary,
        }
    }
}

/// The next state after one observation of the primary.
pub fn observe(
    state: &GroupState,
    obs: Observation,
    fail_after: u32,
    recover_after: u32,
) -> (GroupState, Option<Flip>) {
    let mut next = state.clone();
    match obs {
        Observation::Unhealthy => {
            next.failures = next.failures.saturating_add(1).min(1000);
            next.successes = 0;
        }
        Observation::Healthy => {
            next.successes = next.successes.saturating_add(1).min(1000);
            next.failures = 0;
        }
    }
    if next.held {
        return (next, None);
    }
    let flip = match next.side {
        Side::Primary if next.failures >= fail_after => Some(Flip::Failover),
        Side::Standby if next.successes >= recover_after => Some(Flip::Failback),
        _ => None,
    };
    if let Some(f) = flip {
        next.side = f.to();
        next.failures = 0;
        next.successes = 0;
    }
    (next, flip)
}

/// A manual failover holds the standby until a manual failback, which releases the hold.
pub fn manual(state: &GroupState, to: Side) -> (GroupState, Option<Flip>) {
    let mut next = state.clone();
    next.held = to == Side::Standby;
    next.failures = 0;
    next.successes = 0;
    let flip = (next.side != to).then_some(match to {
        Side::Standby => Flip::Failover,
        Side::Primary => Flip::Failback,
    });
    next.side = to;
    (next, flip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Observation::{Healthy as H, Unhealthy as U};

    /// Runs a sequence from the primary side; returns the flips and the final side.
    fn run(seq: &[Observation], fail_after: u32, recover_after: u32) -> (Vec<Flip>, Side) {
        let mut s = GroupState::on(Side::Primary);
        let mut flips = Vec::new();
        for o in seq {
            let (next, flip) = observe(&s, *o, fail_after, recover_after);
            flips.extend(flip);
            s = next;
        }
        (flips, s.side)
    }

    #[test]
    fn fails_over_at_the_threshold_not_before() {
        assert_eq!(run(&[U, U], 3, 3), (vec![], Side::Primary));
        assert_eq!(run(&[U, U, U], 3, 3), (vec![Flip::Failover], Side::Standby));
        assert_eq!(run(&[U], 1, 1), (vec![Flip::Failover], Side::Standby));
        // A success in between starts the count again.
        assert_eq!(run(&[U, U, H, U, U], 3, 3), (vec![], Side::Primary));
    }

    #[test]
    fn fails_back_after_recover_after_successes() {
        let seq = [U, U, U, H, H];
        assert_eq!(run(&seq, 3, 3), (vec![Flip::Failover], Side::Standby));
        let seq = [U, U, U, H, H, H];
        assert_eq!(
            run(&seq, 3, 3),
            (vec![Flip::Failover, Flip::Failback], Side::Primary)
        );
        // A failure while recovering starts the recovery count again.
        let seq = [U, U, U, H, H, U, H, H];
        assert_eq!(run(&seq, 3, 3), (vec![Flip::Failover], Side::Standby));
    }

    #[test]
    fn flapping_never_flips() {
        let flap: Vec<Observation> = (0..200).map(|i| if i % 2 == 0 { U } else { H }).collect();
        assert_eq!(run(&flap, 2, 2), (vec![], Side::Primary));
        // Flapping after a failover holds the standby.
        let mut seq = vec![U, U];
        seq.extend(&flap);
        assert_eq!(run(&seq, 2, 2), (vec![Flip::Failover], Side::Standby));
    }

    #[test]
    fn one_flip_per_threshold_crossing() {
        // Any sequence: flips alternate, and between two flips lie at least the threshold's
        // worth of consecutive observations in the flip's direction.
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..500 {
            let mut s = GroupState::on(Side::Primary);
            let mut since_flip: Vec<Observation> = Vec::new();
            let mut last: Option<Flip> = None;
            for _ in 0..60 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let o = if rng % 3 == 0 { H } else { U };
                let (next, flip) = observe(&s, o, 3, 2);
                since_flip.push(o);
                if let Some(f) = flip {
                    assert_ne!(Some(f), last, "two flips the same way in a row");
                    let need = if f == Flip::Failover { (3, U) } else { (2, H) };
                    let tail = &since_flip[since_flip.len() - need.0..];
                    assert!(
                        tail.iter().all(|x| *x == need.1),
                        "{f:?} after {since_flip:?}"
                    );
                    since_flip.clear();
                    last = Some(f);
                }
                s = next;
            }
        }
    }

    #[test]
    fn manual_failover_holds_until_manual_failback() {
        let s = GroupState::on(Side::Primary);
        let (held, flip) = manual(&s, Side::Standby);
        assert_eq!(
            (held.side, held.held, flip),
            (Side::Standby, true, Some(Flip::Failover))
        );
        // A healthy primary does not take it back while held.
        let mut cur = held;
        for _ in 0..10 {
            let (next, flip) = observe(&cur, H, 3, 3);
            assert_eq!(flip, None);
            cur = next;
        }
        assert_eq!(cur.side, Side::Standby);
        let (back, flip) = manual(&cur, Side::Primary);
        assert_eq!(
            (back.side, back.held, flip),
            (Side::Primary, false, Some(Flip::Failback))
        );
        // Asking for the side it is on flips nothing.
        assert_eq!(manual(&back, Side::Primary).1, None);
    }
}
