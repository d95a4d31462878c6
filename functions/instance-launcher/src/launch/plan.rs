//! The plan, pure: what to launch for a valid request (the type, the tags, the idempotency
//! token), and whether to launch at all (an earlier launch of the same form, the owner's quota).

use jiff::{SignedDuration, Timestamp};

use fleetkeeper::ec2::Instance;
use fleetkeeper::http::Refusal;

use crate::config::Config;
use crate::launch::request::LaunchRequest;
use crate::model::Who;

/// The token tag holds the form's token, so a second submit finds the first launch.
pub use fleetkeeper::tags::{EXPIRES_TAG, LAUNCHED_BY_TAG, OWNER_TAG, PURPOSE_TAG, TOKEN_TAG};

pub use crate::model::Launch;

/// `request_id` makes a token for requests without a nonce (scripts that send none): those
/// are not deduplicated, which the docs say. `who` owns the launch: the token is theirs alone.
pub fn plan(
    req: &LaunchRequest,
    config: &Config,
    request_id: &str,
    who: &Who,
    now: Timestamp,
) -> Launch {
    let expires_at = now + SignedDuration::from_hours(i64::from(req.hours));
    let expires_at = Timestamp::from_second(expires_at.as_second()).unwrap_or(expires_at);
    let seed: String = req
        .nonce
        .as_deref()
        .unwrap_or(request_id)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(60)
        .collect();
    let token = token(who, &seed);
    let mut tags = vec![
        ("Name".to_owned(), req.name.clone()),
        (OWNER_TAG.to_owned(), req.owner.clone()),
        (PURPOSE_TAG.to_owned(), req.purpose.clone()),
        (EXPIRES_TAG.to_owned(), expires_at.to_string()),
        (TOKEN_TAG.to_owned(), token.clone()),
        (
            LAUNCHED_BY_TAG.to_owned(),
            match who {
                Who::Caller(identity) => identity.chars().take(256).collect(),
                Who::Owner(_) => "instance-launcher".to_owned(),
            },
        ),
    ];
    if req.nightly_stop {
        tags.push((
            config.schedule_tag.key.clone(),
            config.schedule_tag.value.clone(),
        ));
    }
    Launch {
        instance_type: req.instance_type.clone(),
        token,
        tags,
        expires_at,
    }
}

/// The launch token of `who`'s form with `nonce`: a digest of both, so the same form gives
/// the same token (a double submit finds the first launch), while a nonce replayed by anyone
/// else gives another token, which finds none of the first caller's instances.
pub fn token(who: &Who, nonce: &str) -> String {
    format!("fk-{}", &who.digest(nonce)[..40])
}

/// The EC2 console page of an instance.
pub fn console_url(region: &str, id: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/ec2/home?region={region}#InstanceDetails:instanceId={id}"
    )
}

/// What to do once the earlier launches and the owner's instances are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The same form was submitted before: answer with that instance, launch nothing.
    Earlier(Instance),
    /// Refused as a whole, nothing launched.
    Refuse(Refusal),
    Launch,
}

/// `earlier` is a live instance launched by this form's token; `owned` the caller's live
/// instances, stopped ones too; `owner` names the caller in the refusal.
pub fn decide(earlier: Option<Instance>, owned: usize, owner: &str, config: &Config) -> Decision {
    if let Some(i) = earlier {
        return Decision::Earlier(i);
    }
    if owned >= config.max_per_owner {
        return Decision::Refuse(Refusal::new(
            409,
            format!(
                "{owner} already has {owned} instance(s), running or stopped, the most allowed (MAX_PER_OWNER={}): terminate one first",
                config.max_per_owner
            ),
        ));
    }
    Decision::Launch
}

/// What the caller is told when EC2 refuses.
pub fn ec2_refusal(code: Option<&str>) -> Refusal {
    match code {
        Some("IdempotentParameterMismatch") => Refusal::new(
            409,
            "this form was already used to launch with other values: reload the page for a new form",
        ),
        code => Refusal::new(
            502,
            format!(
                "EC2 refused the request ({}): nothing was launched",
                code.unwrap_or("no code")
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        crate::config::test_config()
    }

    fn request(nightly_stop: bool, nonce: Option<&str>) -> LaunchRequest {
        LaunchRequest {
            size: "small".into(),
            instance_type: "t3.micro".into(),
            name: "build-box".into(),
            owner: "jane@example.com".into(),
            purpose: "compiler tests".into(),
            hours: 4,
            nightly_stop,
            nonce: nonce.map(str::to_owned),
        }
    }

    fn tag<'a>(l: &'a Launch, key: &str) -> Option<&'a str> {
        l.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn tags_expiry_and_schedule() {
        let now: Timestamp = "2026-11-21T09:30:15.250Z".parse().unwrap();
        let jane = Who::Owner("jane@example.com".into());
        let l = plan(
            &request(true, Some("abc-123")),
            &config(),
            "req-1",
            &jane,
            now,
        );
        assert_eq!(l.instance_type, "t3.micro");
        assert_eq!(tag(&l, "Name"), Some("build-box"));
        assert_eq!(tag(&l, OWNER_TAG), Some("jane@example.com"));
        assert_eq!(tag(&l, PURPOSE_TAG), Some("compiler tests"));
        assert_eq!(tag(&l, EXPIRES_TAG), Some("2026-11-21T13:30:15Z"));
        assert_eq!(tag(&l, "fleetkeeper:schedule"), Some("office-hours"));
        assert_eq!(tag(&l, LAUNCHED_BY_TAG), Some("instance-launcher"));
        assert_eq!(l.token, token(&jane, "abc-123"));
        assert_eq!(tag(&l, TOKEN_TAG), Some(l.token.as_str()));

        let signed = Who::Caller("arn:aws:iam::1:user/jane".into());
        let opted_out = plan(&request(false, None), &config(), "req-1", &signed, now);
        assert_eq!(tag(&opted_out, "fleetkeeper:schedule"), None);
        assert_eq!(opted_out.token, token(&signed, "req-1"));
        assert_eq!(
            tag(&opted_out, LAUNCHED_BY_TAG),
            Some("arn:aws:iam::1:user/jane")
        );
    }

    #[test]
    fn the_same_form_gives_the_same_token() {
        let now = Timestamp::UNIX_EPOCH;
        let jane = Who::Caller("arn:aws:iam::1:user/jane".into());
        let a = plan(&request(true, Some("n-1")), &config(), "req-1", &jane, now);
        let b = plan(&request(true, Some("n-1")), &config(), "req-2", &jane, now);
        assert_eq!(a.token, b.token);
        assert!(a.token.len() <= 64 && a.token.starts_with("fk-"));
        // The same nonce from anyone else is another token: a replay finds nothing of Jane's.
        for other in [
            Who::Caller("arn:aws:iam::1:user/bob".into()),
            Who::Owner("arn:aws:iam::1:user/jane".into()),
            Who::Owner("jane@example.com".into()),
        ] {
            let c = plan(&request(true, Some("n-1")), &config(), "req-1", &other, now);
            assert_ne!(c.token, a.token, "{other:?}");
        }
        assert!(
            console_url("eu-west-1", "i-1")
                .contains("region=eu-west-1#InstanceDetails:instanceId=i-1")
        );
    }

    #[test]
    fn an_earlier_launch_wins_then_the_quota_then_launch() {
        let c = config();
        let earlier = Instance {
            id: "i-0abc".into(),
            state: "running".into(),
            ..Default::default()
        };
        assert_eq!(
            decide(
                Some(earlier.clone()),
                c.max_per_owner,
                "jane@example.com",
                &c
            ),
            Decision::Earlier(earlier),
            "a repeat answers with the first launch, even at the quota"
        );
        match decide(None, c.max_per_owner, "jane@example.com", &c) {
            Decision::Refuse(Refusal {
                status: 409,
                message: msg,
            }) => {
                assert!(
                    msg.contains("jane@example.com") && msg.contains("MAX_PER_OWNER"),
                    "{msg}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decide(None, c.max_per_owner - 1, "jane@example.com", &c),
            Decision::Launch
        );
    }

    #[test]
    fn ec2_refusals_say_nothing_was_launched() {
        assert_eq!(ec2_refusal(Some("IdempotentParameterMismatch")).status, 409);
        let Refusal {
            status,
            message: msg,
        } = ec2_refusal(Some("UnauthorizedOperation"));
        assert_eq!(status, 502);
        assert!(msg.contains("UnauthorizedOperation") && msg.contains("nothing was launched"));
        assert!(ec2_refusal(None).message.contains("no code"));
    }
}
