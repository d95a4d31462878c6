//! The "your instances" page: the owner e-mail asked for (shared-secret mode), the caller's
//! instances with their expiry and the extend, stop and terminate buttons, and the
//! confirmation a terminate needs. Plain forms, no script; every value is escaped.

use fleetkeeper::http::escape;

use crate::config::Config;
use crate::mine::plan::Lease;
use crate::model::Who;
use crate::web::{list_href, page};

fn owner_input(who: &Who) -> String {
    who.owner().map_or(String::new(), |o| {
        format!(
            "<input type=\"hidden\" name=\"owner\" value=\"{}\">",
            escape(o)
        )
    })
}

/// The page. `who` is None in shared-secret mode until an owner is given; `banner` is the
/// result of the last step (text, is it an error); `owner_error` a refused owner e-mail.
pub fn mine(
    config: &Config,
    who: Option<&Who>,
    leases: &[Lease],
    banner: Option<(&str, bool)>,
    owner_error: Option<(&str, &str)>,
) -> String {
    let mut body = String::from("<h1>Your instances</h1>\n");
    if let Some((text, error)) = banner {
        let class = if error { "banner" } else { "ok" };
        let role = if error { "alert" } else { "status" };
        body.push_str(&format!(
            "<p class=\"{class}\" role=\"{role}\">{}</p>\n",
            escape(text)
        ));
    }
    let Some(who) = who else {
        // Shared-secret mode: the proxy signs nobody in, so the page asks whose instances.
        let (value, error) = owner_error.unwrap_or(("", ""));
        let (inv, line) = if error.is_empty() {
            (String::new(), String::new())
        } else {
            (
                " aria-invalid=\"true\" aria-describedby=\"owner-error\"".to_owned(),
                format!(
                    "<p class=\"error\" id=\"owner-error\">{}</p>",
                    escape(error)
                ),
            )
        };
        body.push_str(&format!(
            "<form method=\"get\" action=\"mine\" novalidate>\n\
             <label for=\"owner\">Owner e-mail</label><input type=\"email\" id=\"owner\" name=\"owner\" value=\"{}\"{inv}>{line}\n\
             <button type=\"submit\">Show instances</button>\n</form>\n<p><a href=\"./\">Launch an instance</a></p>\n",
            escape(value)
        ));
        return page("Your instances", &body);
    };
    let whose = match who {
        Who::Owner(o) => format!("Launched for {}", escape(o)),
        Who::Caller(arn) => format!("Launched by {}", escape(arn)),
    };
    body.push_str(&format!(
        "<p class=\"lead\">{whose}. When a lease ends the instance is stopped, then terminated after a grace period, with a final snapshot of its volumes.</p>\n"
    ));
    if leases.is_empty() {
        body.push_str("<p data-empty>No instances.</p>\n");
    }
    for l in leases {
        body.push_str(&lease_section(config, who, l));
    }
    body.push_str("<p><a href=\"./\">Launch an instance</a></p>\n");
    page("Your instances", &body)
}

fn lease_section(config: &Config, who: &Who, l: &Lease) -> String {
    let id = escape(&l.instance_id);
    let expires = if l.expired {
        format!("{} (ended)", escape(&l.expires_at))
    } else {
        escape(&l.expires_at)
    };
    let owner = owner_input(who);
    let hidden = format!("<input type=\"hidden\" name=\"instance_id\" value=\"{id}\">{owner}");
    let extend = if l.extensions_left == 0 {
        "<p class=\"hint\">No extensions left: launch a new instance.</p>".to_owned()
    } else {
        format!(
            "<form method=\"post\" action=\"mine\" class=\"inline\">{hidden}<input type=\"hidden\" name=\"action\" value=\"extend\">\
             <label for=\"hours-{id}\">Hours from now</label><input type=\"number\" id=\"hours-{id}\" name=\"hours\" min=\"1\" max=\"{max}\" value=\"{default}\">\
             <button type=\"submit\">Extend</button></form>",
            max = config.max_hours,
            default = config.default_hours,
        )
    };
    let stop = if matches!(l.state.as_str(), "pending" | "running") {
        format!(
            "<form method=\"post\" action=\"mine\" class=\"inline\">{hidden}<input type=\"hidden\" name=\"action\" value=\"stop\">\
             <button type=\"submit\">Stop now</button></form>"
        )
    } else {
        String::new()
    };
    let terminate = format!(
        "<form method=\"post\" action=\"mine\" class=\"inline\">{hidden}<input type=\"hidden\" name=\"action\" value=\"terminate\">\
         <button type=\"submit\" class=\"danger\">Terminate now…</button></form>"
    );
    format!(
        "<section class=\"lease\" data-instance=\"{id}\">\n<h2>{name}</h2>\n<dl>\
         <dt>Instance</dt><dd data-field=\"instance\">{id}</dd>\
         <dt>State</dt><dd data-field=\"state\">{state}</dd>\
         <dt>Type</dt><dd data-field=\"type\">{ty}</dd>\
         <dt>Expires</dt><dd data-field=\"expires\">{expires}</dd>\
         <dt>Extensions</dt><dd data-field=\"extensions\">{used} of {max} used</dd></dl>\n{extend}\n{stop}{terminate}\n</section>\n",
        name = if l.name.is_empty() {
            id.clone()
        } else {
            escape(&l.name)
        },
        state = escape(&l.state),
        ty = escape(&l.instance_type),
        used = l.extensions,
        max = config.max_extensions,
    )
}

/// The second step of a terminate: what goes with the instance, and the button that does it.
pub fn confirm(who: &Who, id: &str, volumes: &[String]) -> String {
    let id_html = escape(id);
    let lost = if volumes.is_empty() {
        "No volume is deleted with it.".to_owned()
    } else {
        format!(
            "Deleted with it, with no snapshot kept: {}.",
            escape(&volumes.join(", "))
        )
    };
    let body = format!(
        "<h1>Terminate {id_html}?</h1>\n<p class=\"banner\" role=\"alert\">This cannot be undone. {lost}</p>\n\
         <form method=\"post\" action=\"mine\"><input type=\"hidden\" name=\"instance_id\" value=\"{id_html}\">{owner}\
         <input type=\"hidden\" name=\"action\" value=\"terminate\"><input type=\"hidden\" name=\"confirm\" value=\"yes\">\
         <button type=\"submit\" class=\"danger\">Yes, terminate {id_html}</button></form>\n\
         <p><a href=\"{back}\">No, keep it</a></p>\n",
        owner = owner_input(who),
        back = escape(&list_href(Some(who))),
    );
    page("Terminate?", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(left: u32, state: &str) -> Lease {
        Lease {
            instance_id: "i-0123abcd".into(),
            name: "<b>box</b>".into(),
            state: state.into(),
            instance_type: "t3.micro".into(),
            expires_at: "2026-11-28T18:00:00Z".into(),
            expired: false,
            extensions: 3 - left,
            extensions_left: left,
        }
    }

    #[test]
    fn the_list_escapes_and_offers_what_each_instance_allows() {
        let config = crate::config::test_config();
        let who = Who::Owner("a&b@example.com".into());
        let html = mine(
            &config,
            Some(&who),
            &[lease(1, "running")],
            Some(("done <ok>", false)),
            None,
        );
        assert!(html.contains("&lt;b&gt;box&lt;/b&gt;") && !html.contains("<b>box"));
        assert!(html.contains("done &lt;ok&gt;"));
        assert!(html.contains("name=\"owner\" value=\"a&amp;b@example.com\""));
        assert!(html.contains("Stop now") && html.contains("value=\"extend\""));
        assert!(html.contains("2 of 3 used"));
        let html = mine(&config, Some(&who), &[lease(0, "stopped")], None, None);
        assert!(html.contains("No extensions left") && !html.contains("Stop now"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn shared_secret_mode_asks_for_the_owner_first() {
        let config = crate::config::test_config();
        let html = mine(&config, None, &[], None, Some(("<x>", "must be an e-mail")));
        assert!(html.contains("method=\"get\" action=\"mine\""));
        assert!(html.contains("value=\"&lt;x&gt;\" aria-invalid=\"true\""));
        assert!(html.contains("id=\"owner-error\">must be an e-mail"));
    }

    #[test]
    fn the_confirmation_names_what_is_lost_and_links_back() {
        let who = Who::Owner("jane+dev@example.com".into());
        let html = confirm(&who, "i-0123abcd", &["vol-1".into()]);
        assert!(html.contains("Deleted with it, with no snapshot kept: vol-1."));
        assert!(html.contains("name=\"confirm\" value=\"yes\""));
        assert!(html.contains("href=\"mine?owner=jane%2Bdev%40example.com\""));
    }
}
