//! Carrying a plan out: bounded concurrency, token-bucket rate limits matching AWS's API
//! buckets, and a time budget from the invocation deadline so long jobs stop cleanly and
//! leave the rest for the next run.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

use crate::config::{ConfigError, Env};

/// A token bucket's shape: how many calls at once, and how many more per second after that.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketSpec {
    pub burst: u32,
    pub per_second: f64,
}

/// One place a run acts in, a region of an account, with the pacing of that place's API
/// buckets (EC2 counts them per account and region). `P` reaches AWS there (a port); `L` paces
/// it (one limiter, or a function's set of them).
pub struct Place<P, L> {
    pub port: P,
    pub limits: L,
}

/// EC2's documented API request buckets (per account and region).
pub mod buckets {
    use super::BucketSpec;

    /// Mutating actions without a bucket of their own, StopInstances among them.
    pub const EC2_MUTATING: BucketSpec = BucketSpec::new(50, 5.0);
    pub const EC2_START_INSTANCES: BucketSpec = BucketSpec::new(5, 2.0);
    /// CreateSnapshot and DeleteSnapshot.
    pub const EC2_SNAPSHOTS: BucketSpec = BucketSpec::new(100, 5.0);
}

impl BucketSpec {
    pub const fn new(burst: u32, per_second: f64) -> Self {
        BucketSpec { burst, per_second }
    }

    /// The same bucket scaled down to `fraction` of its burst and refill. AWS counts tokens on
    /// arrival and shares each bucket across the account, so a client paced exactly at the
    /// limit is throttled whenever a call arrives a hair early; pacing under it is not.
    pub fn headroom(self, fraction: f64) -> BucketSpec {
        let fraction = fraction.clamp(0.01, 1.0);
        BucketSpec {
            burst: ((self.burst as f64 * fraction).floor() as u32).max(1),
            per_second: self.per_second * fraction,
        }
    }

    /// Reads `<PREFIX>_BURST` and `<PREFIX>_PER_SECOND`, defaulting to `default`.
    pub fn from_env(env: &Env, prefix: &str, default: BucketSpec) -> Result<Self, ConfigError> {
        Ok(BucketSpec {
            burst: env.u64_in(&format!("{prefix}_BURST"), default.burst.into(), 1, 100_000)? as u32,
            per_second: env.positive_f64(&format!("{prefix}_PER_SECOND"), default.per_second)?,
        })
    }
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    last: Instant,
}

/// A token bucket shared by every task calling one API bucket. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    spec: BucketSpec,
    state: Arc<Mutex<BucketState>>,
}

impl RateLimiter {
    /// Starts full, as AWS's buckets do.
    pub fn new(spec: BucketSpec) -> Self {
        RateLimiter {
            spec,
            state: Arc::new(Mutex::new(BucketState {
                tokens: spec.burst as f64,
                last: Instant::now(),
            })),
        }
    }

    pub fn spec(&self) -> BucketSpec {
        self.spec
    }

    /// Takes a token if one is there; otherwise says how long until one will be.
    fn take(&self) -> Result<(), Duration> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(s.last).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.spec.per_second).min(self.spec.burst as f64);
        s.last = now;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - s.tokens) / self.spec.per_second,
            ))
        }
    }

    /// True if a token was taken without waiting.
    pub fn try_acquire(&self) -> bool {
        self.take().is_ok()
    }

    /// Waits until a token is available and takes it.
    pub async fn acquire(&self) {
        while let Err(wait) = self.take() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The time a run may still use: the invocation deadline minus a reserve for reporting.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    until: Option<Instant>,
}

impl Budget {
    /// No deadline (local runs, tests).
    pub fn unlimited() -> Self {
        Budget { until: None }
    }

    /// `reserve` before `deadline`: the time kept back to finish and return the report. The
    /// reserve is at most a quarter of the time left, so a short timeout (Lambda's default is
    /// 3 s) still leaves time to work.
    pub fn until(deadline: SystemTime, reserve: Duration) -> Self {
        let total = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let left = total.saturating_sub(reserve.min(total / 4));
        Budget {
            until: Some(Instant::now() + left),
        }
    }

    /// From the Lambda invocation's deadline. Lambda's deadline is always ahead when an
    /// invocation starts; a zero or past one comes from a local runner (cargo-lambda's is not
    /// kept), so the run is unlimited rather than doing nothing.
    pub fn from_context(ctx: &lambda_runtime::Context, reserve: Duration) -> Self {
        if ctx.deadline == 0 || ctx.deadline() <= SystemTime::now() {
            tracing::warn!(
                deadline_ms = ctx.deadline,
                "invocation deadline is unset or already passed (a local runner?); no time budget"
            );
            Budget::unlimited()
        } else {
            Budget::until(ctx.deadline(), reserve)
        }
    }

    /// A budget of `d` from now.
    pub fn lasting(d: Duration) -> Self {
        Budget {
            until: Some(Instant::now() + d),
        }
    }

    pub fn remaining(&self) -> Option<Duration> {
        self.until
            .map(|u| u.saturating_duration_since(Instant::now()))
    }

    pub fn is_spent(&self) -> bool {
        self.remaining().is_some_and(|r| r.is_zero())
    }
}

/// What a bounded run did: each started item's result, and the items never started because
/// the budget ran out (for the next run).
#[derive(Debug)]
pub struct Batch<T, R> {
    pub results: Vec<R>,
    pub not_started: Vec<T>,
}

/// Runs `work` over `items`, at most `concurrency` at a time, each start taking a token from
/// `limiter` (if any). No item starts once `budget` is spent; those come back in
/// `not_started`. Results come in completion order, so `R` should name its item.
pub async fn run_bounded<T, R, F, Fut>(
    items: Vec<T>,
    concurrency: usize,
    limiter: Option<&RateLimiter>,
    budget: Budget,
    work: F,
) -> Batch<T, R>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = R>,
{
    let concurrency = concurrency.max(1);
    let mut pending = items.into_iter();
    let mut running = FuturesUnordered::new();
    let mut batch = Batch {
        results: Vec::new(),
        not_started: Vec::new(),
    };
    let mut stopped = false;
    loop {
        while !stopped && running.len() < concurrency {
            let Some(item) = pending.next() else { break };
            let work = &work;
            running.push(async move {
                if let Some(l) = limiter {
                    l.acquire().await;
                }
                // Checked after the token wait, which can be long at a slow refill rate.
                if budget.is_spent() {
                    return Err(item);
                }
                Ok(work(item).await)
            });
        }
        match running.next().await {
            Some(Ok(r)) => batch.results.push(r),
            Some(Err(item)) => {
                stopped = true;
                batch.not_started.push(item);
            }
            None => break,
        }
    }
    batch.not_started.extend(pending);
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_burst_then_refills_at_rate() {
        let l = RateLimiter::new(buckets::EC2_START_INSTANCES);
        let t0 = Instant::now();
        for _ in 0..5 {
            l.acquire().await;
        }
        assert_eq!(Instant::now(), t0, "the burst goes at once");
        for _ in 0..4 {
            l.acquire().await;
        }
        // 4 more at 2 per second: 2 seconds.
        let took = Instant::now() - t0;
        assert!(
            took >= Duration::from_millis(1990) && took <= Duration::from_millis(2010),
            "{took:?}"
        );
        assert!(!l.try_acquire());
    }

    #[test]
    fn headroom_scales_burst_and_rate() {
        let spec = buckets::EC2_START_INSTANCES.headroom(0.9);
        assert_eq!(spec.burst, 4);
        assert!((spec.per_second - 1.8).abs() < 1e-9);
        assert_eq!(
            BucketSpec {
                burst: 1,
                per_second: 1.0
            }
            .headroom(0.1)
            .burst,
            1
        );
    }

    #[test]
    fn bucket_spec_from_env() {
        let env = Env::from_pairs([("START_RATE_BURST", "10"), ("START_RATE_PER_SECOND", "0.5")]);
        let spec = BucketSpec::from_env(&env, "START_RATE", buckets::EC2_START_INSTANCES).unwrap();
        assert_eq!(
            spec,
            BucketSpec {
                burst: 10,
                per_second: 0.5
            }
        );
        let bad = Env::from_pairs([("START_RATE_PER_SECOND", "-2")]);
        let err =
            BucketSpec::from_env(&bad, "START_RATE", buckets::EC2_START_INSTANCES).unwrap_err();
        assert!(err.to_string().contains("START_RATE_PER_SECOND"));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_is_bounded() {
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let batch = run_bounded((0..20).collect(), 3, None, Budget::unlimited(), |i: u32| {
            let (now, peak) = (now.clone(), peak.clone());
            async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                i
            }
        })
        .await;
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        let mut got = batch.results;
        got.sort();
        assert_eq!(got, (0..20).collect::<Vec<_>>());
        assert!(batch.not_started.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn spent_budget_leaves_the_rest_for_next_run() {
        // 100 items, 5 per second after a burst of 5, 3 seconds of budget: about 20 start.
        let limiter = RateLimiter::new(BucketSpec {
            burst: 5,
            per_second: 5.0,
        });
        let budget = Budget::lasting(Duration::from_secs(3));
        let batch = run_bounded(
            (0..100).collect(),
            4,
            Some(&limiter),
            budget,
            |i: u32| async move { i },
        )
        .await;
        let started = batch.results.len();
        assert!((18..=21).contains(&started), "started {started}");
        assert_eq!(started + batch.not_started.len(), 100, "nothing lost");
        let mut all: Vec<u32> = batch
            .results
            .iter()
            .chain(batch.not_started.iter())
            .copied()
            .collect();
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn budget_from_deadline_keeps_the_reserve() {
        let b = Budget::until(
            SystemTime::now() + Duration::from_secs(60),
            Duration::from_secs(10),
        );
        let left = b.remaining().unwrap();
        assert!(
            left <= Duration::from_secs(50) && left > Duration::from_secs(49),
            "{left:?}"
        );
        assert!(Budget::until(SystemTime::now(), Duration::from_secs(1)).is_spent());
        // A 3 s timeout with a 10 s reserve still leaves about three quarters of it.
        let short = Budget::until(
            SystemTime::now() + Duration::from_secs(3),
            Duration::from_secs(10),
        );
        let left = short.remaining().unwrap();
        assert!(
            left > Duration::from_millis(2200) && left <= Duration::from_millis(2250),
            "{left:?}"
        );
        assert!(!Budget::unlimited().is_spent());
        let ctx = lambda_runtime::Context::default();
        assert!(
            Budget::from_context(&ctx, Duration::from_secs(5))
                .remaining()
                .is_none()
        );
    }
}
