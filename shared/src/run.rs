//! The run skeleton of every function that acts in several places (regions, accounts):
//! observe each place concurrently, plan each (pure), cap over the whole run, apply each
//! concurrently, and record one result per place in the report. A place that could not be
//! read stays unreadable through every step and is recorded once, as such.

use std::future::Future;

use futures_util::future::join_all;

use crate::error::AwsError;
use crate::report::Report;

/// One place of a run and where it stands: its latest value, or why it could not be read.
struct Slot<'t, T, S> {
    target: &'t T,
    name: String,
    state: Result<S, AwsError>,
}

/// Every place of one run, in the order of its targets.
pub struct Places<'t, T, S> {
    slots: Vec<Slot<'t, T, S>>,
}

impl<'t, T, S> Places<'t, T, S> {
    /// Reads every target concurrently; `name` is how the report names a place.
    pub async fn observe<Fut>(
        targets: &'t [T],
        name: impl Fn(&T) -> &str,
        look: impl Fn(&'t T) -> Fut,
    ) -> Self
    where
        Fut: Future<Output = Result<S, AwsError>>,
    {
        let states = join_all(targets.iter().map(look)).await;
        Places {
            slots: targets
                .iter()
                .zip(states)
                .map(|(target, state)| Slot {
                    target,
                    name: name(target).to_owned(),
                    state,
                })
                .collect(),
        }
    }

    /// When every place failed (and there was one), the error to fail the invocation with, so
    /// Lambda's Errors metric and retries see it; None when at least one place was read.
    pub fn all_failed(&self) -> Option<AwsError> {
        crate::report::all_failed(self.slots.iter().map(|s| &s.state))
    }

    /// The places read so far, with their targets and names.
    pub fn read(&self) -> impl Iterator<Item = (&'t T, &str, &S)> {
        self.slots
            .iter()
            .filter_map(|s| Some((s.target, s.name.as_str(), s.state.as_ref().ok()?)))
    }

    /// The values of the places read, to change together (a run-wide cap).
    pub fn read_mut(&mut self) -> impl Iterator<Item = &mut S> {
        self.slots.iter_mut().filter_map(|s| s.state.as_mut().ok())
    }

    /// The places that could not be read, by name.
    pub fn unreadable(&self) -> impl Iterator<Item = (&str, &AwsError)> {
        self.slots
            .iter()
            .filter_map(|s| Some((s.name.as_str(), s.state.as_ref().err()?)))
    }

    /// The next step of every place read (a plan, say); no I/O.
    pub fn map<U>(self, mut step: impl FnMut(&'t T, S) -> U) -> Places<'t, T, U> {
        self.try_map(|t, s| Ok(step(t, s)))
    }

    /// The next step of every place read, which may find the place unreadable after all.
    pub fn try_map<U>(
        self,
        mut step: impl FnMut(&'t T, S) -> Result<U, AwsError>,
    ) -> Places<'t, T, U> {
        Places {
            slots: self
                .slots
                .into_iter()
                .map(|s| Slot {
                    target: s.target,
                    name: s.name,
                    state: s.state.and_then(|v| step(s.target, v)),
                })
                .collect(),
        }
    }

    /// A second read of every place read, concurrently; a place whose read fails becomes
    /// unreadable (the caller's module comment says why it needs a second look).
    pub async fn look_again<U, Fut>(self, look: impl Fn(&'t T, S) -> Fut) -> Places<'t, T, U>
    where
        Fut: Future<Output = Result<U, AwsError>>,
    {
        let names: Vec<(&'t T, String)> = self
            .slots
            .iter()
            .map(|s| (s.target, s.name.clone()))
            .collect();
        let states = join_all(self.slots.into_iter().map(|s| {
            let target = s.target;
            let next = s.state.map(|v| look(target, v));
            async move {
                match next {
                    Ok(fut) => fut.await,
                    Err(e) => Err(e),
                }
            }
        }))
        .await;
        Places {
            slots: names
                .into_iter()
                .zip(states)
                .map(|((target, name), state)| Slot {
                    target,
                    name,
                    state,
                })
                .collect(),
        }
    }

    /// Carries out every place read, concurrently (an apply cannot make a place unreadable:
    /// its failures are in what it returns).
    pub async fn apply<U, Fut>(self, act: impl Fn(&'t T, S) -> Fut) -> Places<'t, T, U>
    where
        Fut: Future<Output = U>,
    {
        self.look_again(|t, s| {
            let done = act(t, s);
            async move { Ok(done.await) }
        })
        .await
    }

    /// One record per place, in target order: `record` for a place read, one `describe`
    /// failure for a place that was not.
    pub fn record<F>(self, report: &mut Report<F>, record: impl FnMut(&mut Report<F>, &str, S)) {
        self.record_with(report, record, Report::place_unreadable);
    }

    /// As [`Places::record`], for a report that says more about a place it could not read.
    pub fn record_with<F>(
        self,
        report: &mut Report<F>,
        mut read: impl FnMut(&mut Report<F>, &str, S),
        mut unreadable: impl FnMut(&mut Report<F>, &str, &AwsError),
    ) {
        for s in self.slots {
            match s.state {
                Ok(v) => read(report, &s.name, v),
                Err(e) => unreadable(report, &s.name, &e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Mode, Plan, cap_together};
    use crate::report::Status;

    struct Region(&'static str, Result<u32, AwsError>);

    fn denied() -> AwsError {
        AwsError::service("ec2:DescribeInstances", "UnauthorizedOperation", "no")
    }

    async fn observed(targets: &[Region]) -> Places<'_, Region, u32> {
        Places::observe(targets, |t| t.0, |t| async move { t.1.clone() }).await
    }

    #[tokio::test]
    async fn an_unreadable_place_is_carried_through_and_recorded_once() {
        let targets = [
            Region("eu-west-1", Ok(2)),
            Region("us-east-1", Err(denied())),
        ];
        let places = observed(&targets).await;
        assert!(places.all_failed().is_none());
        let mut planned = places.map(|_, n| {
            let mut p: Plan<&str> = Plan::new();
            for i in 0..n {
                p.act(format!("i-{i}"), "stop", "out of hours");
            }
            p
        });
        cap_together(planned.read_mut(), 5, "MAX_ACTIONS");
        let applied = planned.apply(|t, p| async move { (t.0.len(), p) }).await;
        let mut report = Report::new("f", Mode::Live);
        let mut seen = Vec::new();
        applied.record(&mut report, |r, name, (len, plan)| {
            seen.push((name.to_owned(), len));
            r.add_plan(Some(name), &plan);
        });
        assert_eq!(seen, [("eu-west-1".to_owned(), 9)]);
        assert_eq!(report.planned.len(), 2);
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.failed[0].region.as_deref(), Some("us-east-1"));
        assert_eq!(report.failed[0].target, "*");
        assert_eq!(
            report.status(),
            Status::Failed,
            "nothing done, one place failed"
        );
    }

    #[tokio::test]
    async fn every_place_failing_fails_the_run() {
        let targets = [Region("a", Err(denied())), Region("b", Err(denied()))];
        let places = observed(&targets).await;
        let e = places.all_failed().expect("every place failed");
        assert_eq!(e.code(), Some("UnauthorizedOperation"));
        assert!(observed(&[]).await.all_failed().is_none());
    }

    #[tokio::test]
    async fn a_second_look_that_fails_makes_the_place_unreadable() {
        let targets = [Region("a", Ok(1)), Region("b", Ok(2))];
        let places = observed(&targets)
            .await
            .look_again(|t, n| async move {
                if t.0 == "b" {
                    Err(denied())
                } else {
                    Ok(n * 10)
                }
            })
            .await;
        let read: Vec<_> = places
            .read()
            .map(|(_, name, v)| (name.to_owned(), *v))
            .collect();
        assert_eq!(read, [("a".to_owned(), 10)]);
        let unreadable: Vec<_> = places.unreadable().map(|(n, _)| n.to_owned()).collect();
        assert_eq!(unreadable, ["b"]);
    }
}
