//! The control side (the function URL): who is calling, and the manual failover or failback
//! they ask for, written as the group's command for the next scheduled run to apply, once.
//! Every refusal writes nothing.

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse;
use jiff::Timestamp;
use serde_json::json;

use fleetkeeper::Mode;
use fleetkeeper::http::{Refusal, Request, Response, caller_identity};

use crate::config::{Config, Group};
use crate::model::{Command, Manual};
use crate::ports::{App, Dns, Probe, States};

/// Who is calling, as recorded and as matched against CONTROL_PRINCIPALS.
pub struct Caller {
    /// For the state, the report and the log: the signed ARN as IAM gives it (a session name
    /// included), or the shared secret and the client's address.
    pub recorded: String,
    /// The identity a session name cannot choose (None behind a shared secret).
    pub identity: Option<String>,
}

impl Caller {
    pub fn of(req: &Request, config: &Config) -> Result<Caller, String> {
        match &req.iam_caller {
            Some(arn) => Ok(Caller {
                recorded: arn.clone(),
                identity: Some(caller_identity(arn, &config.session_roles)?),
            }),
            None => Ok(Caller {
                recorded: format!(
                    "the shared secret, from {}",
                    req.source_ip.as_deref().unwrap_or("an unknown address")
                ),
                identity: None,
            }),
        }
    }

    fn may_move(&self, principals: &[String]) -> bool {
        principals.is_empty()
            || self.identity.as_deref().is_some_and(|id| {
                principals.iter().any(|p| match p.strip_suffix('*') {
                    Some(prefix) => id.starts_with(prefix),
                    None => id == p,
                })
            })
    }
}

/// While a group's command waits to be applied, another is asked no sooner than this: the URL
/// side's writes share SSM's rate with the scheduled run's.
const COMMAND_SPACING: jiff::SignedDuration = jiff::SignedDuration::from_secs(10);

/// Writes `command` for `group`, or the answer refusing it (nothing written).
async fn ask<D: Dns + Sync, S: States + Sync, P: Probe + Sync>(
    app: &App<D, S, P>,
    config: &Config,
    caller: &Caller,
    group: &Group,
    command: &Command,
    now: Timestamp,
) -> Option<LambdaFunctionUrlResponse> {
    let refuse = |code: u16, why: String| {
        tracing::info!(group = %group.name, action = command.action(), by = %command.by, "manual command refused: {why}");
        Some(Refusal::new(code, why).json())
    };
    if !caller.may_move(&config.control_principals) {
        return refuse(
            403,
            format!(
                "{} may read status but not act on groups (fail over or back, hold, release, resolve): not in CONTROL_PRINCIPALS",
                caller.identity.as_deref().unwrap_or(&caller.recorded)
            ),
        );
    }
    let (state, last) = match (
        app.store.load(&group.name).await,
        app.store.command(&group.name).await,
    ) {
        (Ok(state), Ok(last)) => (state, last),
        (Err(e), _) | (_, Err(e)) => return refuse(502, e.to_string()),
    };
    let pending = match &state {
        Some(s) => s.pending(last.clone()),
        None => last.clone(),
    };
    if let Some(p) = pending
        .as_ref()
        .filter(|p| p.action == command.action && p.minutes == command.minutes)
    {
        return refuse(
            409,
            format!(
                "{} of {} was already asked by {} at {} and is not applied yet",
                p.action(),
                group.name,
                p.by,
                p.at
            ),
        );
    }
    // Asked again before the last was applied: spaced, so a flood writes little.
    let recent = pending
        .as_ref()
        .and_then(|l| l.at.parse::<Timestamp>().ok())
        .is_some_and(|at| now < at + COMMAND_SPACING);
    if recent {
        return refuse(
            429,
            format!(
                "another manual command for {} was asked less than {} seconds ago and is not applied yet: try again shortly",
                group.name,
                COMMAND_SPACING.as_secs()
            ),
        );
    }
    if config.mode == Mode::DryRun {
        return Some(Response::json(
            200,
            &json!({
                "status": "dry-run",
                "message": format!("dry run: {} of {} by {} would be asked; nothing was written", command.action(), group.name, command.by),
            }),
        ));
    }
    if let Err(e) = app.store.ask(&group.name, command).await {
        return refuse(502, format!("the command could not be written: {e}"));
    }
    tracing::info!(group = %group.name, action = command.action(), by = %command.by, id = %command.id, "manual command asked");
    None
}

/// A manual action on `group`: the command written (or the answer refusing it). With
/// CONTROL_ONLY the answer is 202: the scheduled run applies it. Otherwise None: the caller
/// goes on to apply it at once.
pub async fn asked<D: Dns + Sync, S: States + Sync, P: Probe + Sync>(
    app: &App<D, S, P>,
    config: &Config,
    req: &Request,
    caller: &Caller,
    group: &Group,
    (action, minutes): (Manual, Option<u32>),
    now: Timestamp,
) -> Option<LambdaFunctionUrlResponse> {
    let command = Command {
        // Lambda's request ids are unique; the time keeps replayed sample events apart.
        id: format!("{}@{}", req.request_id, now.as_millisecond()),
        action,
        minutes,
        by: caller.recorded.clone(),
        at: now.to_string(),
    };
    if let Some(refusal) = ask(app, config, caller, group, &command, now).await {
        return Some(refusal);
    }
    if config.control_only {
        // The scheduled run applies it: the URL side never moves a record itself.
        return Some(Response::json(
            202,
            &json!({
                "status": "asked",
                "group": group.name,
                "action": command.action(),
                "by": command.by,
                "command_id": command.id,
                "message": format!(
                    "{} of {} asked; dns-failover applies it at its next scheduled run (GET /status shows it)",
                    command.action(),
                    group.name
                ),
            }),
        ));
    }
    None
}
