//! The launch pages: the form (with each error beside its field and the values kept) and the
//! result. Plain HTML and inline CSS, no script; every value from a request is escaped.

use fleetkeeper::http::escape;

use crate::config::Config;
use crate::launch::request::{FIELDS, NAME_MAX, PURPOSE_MAX};
use crate::model::{FieldError, OWNER_MAX, Raw, Who};
use crate::web::{list_href, page};

/// The form. `values` and `errors` come from a refused submit, `banner` is a message about
/// the whole request (a quota, an AWS error).
pub fn form(
    config: &Config,
    nonce: &str,
    values: Option<&Raw>,
    errors: &[FieldError],
    banner: Option<&str>,
) -> String {
    let value = |k: &str| {
        values
            .and_then(|v| v.get(k))
            .map_or(String::new(), |v| escape(v))
    };
    let error_of = |k: &str| {
        errors
            .iter()
            .find(|e| e.field == k)
            .map(|e| e.message.as_str())
    };
    let invalid = |k: &str| {
        if error_of(k).is_some() {
            format!(" aria-invalid=\"true\" aria-describedby=\"{k}-error\"")
        } else {
            String::new()
        }
    };
    let error_line = |k: &str| {
        error_of(k).map_or(String::new(), |m| {
            format!("<p class=\"error\" id=\"{k}-error\">{}</p>", escape(m))
        })
    };
    let chosen = values.and_then(|v| v.get("size")).map(String::as_str);
    let options: String = config
        .sizes
        .iter()
        .map(|(label, ty)| {
            let sel = if chosen == Some(label.as_str()) {
                " selected"
            } else {
                ""
            };
            format!(
                "<option value=\"{}\"{sel}>{} ({})</option>",
                escape(label),
                escape(label),
                escape(ty)
            )
        })
        .collect();
    // A fresh form ticks the box; a refused one keeps what was sent.
    let nightly = match values {
        None => true,
        Some(v) => v.contains_key("nightly_stop"),
    };
    let mut body = String::new();
    body.push_str("<nav><a href=\"mine\">Your instances</a></nav>\n");
    body.push_str("<h1>Launch an instance</h1>\n<p class=\"lead\">From the approved template; it stops itself at the time you give.</p>\n");
    if let Some(b) = banner {
        body.push_str(&format!(
            "<p class=\"banner\" role=\"alert\">{}</p>\n",
            escape(b)
        ));
    } else if !errors.is_empty() {
        body.push_str("<p class=\"banner\" role=\"alert\">Nothing was launched: please correct the fields marked below.</p>\n");
    }
    let unknown: Vec<&FieldError> = errors
        .iter()
        .filter(|e| !FIELDS.contains(&e.field.as_str()))
        .collect();
    for e in unknown {
        body.push_str(&format!("<p class=\"error\">{}</p>\n", escape(&e.message)));
    }
    body.push_str(&format!(
        "<form method=\"post\" novalidate>\n\
         <input type=\"hidden\" name=\"nonce\" value=\"{nonce}\">\n\
         <label for=\"size\">Size</label><select id=\"size\" name=\"size\"{size_inv}><option value=\"\">Choose a size</option>{options}</select>{size_err}\n\
         <label for=\"name\">Name</label><input type=\"text\" id=\"name\" name=\"name\" maxlength=\"{NAME_MAX}\" value=\"{name}\"{name_inv}>\
         <p class=\"hint\">Letters, digits, spaces, dots, dashes, underscores.</p>{name_err}\n\
         <label for=\"owner\">Owner e-mail</label><input type=\"email\" id=\"owner\" name=\"owner\" maxlength=\"{OWNER_MAX}\" value=\"{owner}\"{owner_inv}>{owner_err}\n\
         <label for=\"purpose\">Purpose</label><input type=\"text\" id=\"purpose\" name=\"purpose\" maxlength=\"{PURPOSE_MAX}\" value=\"{purpose}\"{purpose_inv}>{purpose_err}\n\
         <label for=\"hours\">Hours to live</label><input type=\"number\" id=\"hours\" name=\"hours\" min=\"1\" max=\"{max}\" placeholder=\"{default}\" value=\"{hours}\"{hours_inv}>\
         <p class=\"hint\">1 to {max}; empty means {default}.</p>{hours_err}\n\
         <label class=\"check\"><input type=\"checkbox\" name=\"nightly_stop\" value=\"on\"{checked}> Stop it at night and start it in the morning (nightly-stopper)</label>{nightly_err}\n\
         <button type=\"submit\">Launch</button>\n</form>\n",
        nonce = escape(nonce),
        size_inv = invalid("size"),
        size_err = error_line("size"),
        name = value("name"),
        name_inv = invalid("name"),
        name_err = error_line("name"),
        owner = value("owner"),
        owner_inv = invalid("owner"),
        owner_err = error_line("owner"),
        purpose = value("purpose"),
        purpose_inv = invalid("purpose"),
        purpose_err = error_line("purpose"),
        hours = value("hours"),
        hours_inv = invalid("hours"),
        hours_err = error_line("hours"),
        max = config.max_hours,
        default = config.default_hours,
        checked = if nightly { " checked" } else { "" },
        nightly_err = error_line("nightly_stop"),
    ));
    page("Launch an instance", &body)
}

/// What the result page shows.
pub struct Outcome<'a> {
    pub id: &'a str,
    pub state: &'a str,
    pub name: &'a str,
    pub owner: &'a str,
    pub instance_type: &'a str,
    pub expires_at: &'a str,
    pub console_url: &'a str,
    /// This form had already launched it (a repeated submit).
    pub repeated: bool,
    pub dry_run: bool,
}

pub fn result(o: &Outcome) -> String {
    let headline = if o.dry_run {
        "Dry run: EC2 says this launch would succeed. Nothing was launched.".to_owned()
    } else if o.repeated {
        "This form was already submitted: here is the instance it launched.".to_owned()
    } else {
        "Launched.".to_owned()
    };
    let mut rows = vec![
        ("Instance", o.id),
        ("State", o.state),
        ("Name", o.name),
        ("Owner", o.owner),
        ("Type", o.instance_type),
        ("Expires", o.expires_at),
    ];
    if o.dry_run {
        rows.retain(|(k, _)| !matches!(*k, "Instance" | "State"));
    }
    let dl: String = rows
        .iter()
        .map(|(k, v)| {
            format!(
                "<dt>{k}</dt><dd data-field=\"{}\">{}</dd>",
                k.to_ascii_lowercase(),
                escape(v)
            )
        })
        .collect();
    let link = if o.dry_run {
        String::new()
    } else {
        format!(
            "<p><a href=\"{}\" rel=\"noopener noreferrer\">Open it in the EC2 console</a></p>\n",
            escape(o.console_url)
        )
    };
    let body = format!(
        "<h1>{}</h1>\n<p class=\"ok\" role=\"status\">{}</p>\n<dl>{dl}</dl>\n{link}<p><a href=\"\">Launch another</a> · <a href=\"{mine}\">Your instances</a></p>\n",
        if o.dry_run {
            "Dry run"
        } else {
            "Instance launched"
        },
        escape(&headline),
        mine = escape(&list_href(Some(&Who::Owner(o.owner.to_owned())))),
    );
    page("Instance launched", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        crate::config::test_config()
    }

    #[test]
    fn fresh_form_lists_sizes_and_carries_the_nonce() {
        let html = form(&config(), "n-123", None, &[], None);
        assert!(html.contains("<option value=\"small\">small (t3.micro)</option>"));
        assert!(html.contains("<option value=\"medium\">medium (t3.small)</option>"));
        assert!(html.contains("name=\"nonce\" value=\"n-123\""));
        assert!(html.contains("name=\"nightly_stop\" value=\"on\" checked"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("class=\"error\""));
    }

    #[test]
    fn refused_form_escapes_values_and_puts_errors_beside_fields() {
        let mut raw = Raw::new();
        raw.insert("name".into(), "\"><script>alert(1)</script>".into());
        raw.insert("size".into(), "medium".into());
        raw.insert("purpose".into(), "<b>x</b>".into());
        let errors = vec![FieldError {
            field: "name".into(),
            message: "use letters <only>".into(),
        }];
        let html = form(&config(), "n", Some(&raw), &errors, None);
        assert!(!html.contains("<script>alert(1)"), "{html}");
        assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""));
        assert!(html.contains("value=\"&lt;b&gt;x&lt;/b&gt;\""));
        assert!(html.contains("<p class=\"error\" id=\"name-error\">use letters &lt;only&gt;</p>"));
        assert!(html.contains("id=\"name\" name=\"name\" maxlength=\"64\" value=\"&quot;"));
        assert!(html.contains("aria-invalid=\"true\" aria-describedby=\"name-error\""));
        assert!(html.contains("<option value=\"medium\" selected>"));
        // The box was not ticked in what was sent: it stays unticked.
        assert!(!html.contains(" checked"));
        assert!(html.contains("Nothing was launched"));
    }

    #[test]
    fn result_page_escapes_everything() {
        let html = result(&Outcome {
            id: "i-0123456789abcdef0",
            state: "pending",
            name: "box",
            owner: "a@b.io",
            instance_type: "t3.micro",
            expires_at: "2026-11-21T13:30:15Z",
            console_url: "https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1#InstanceDetails:instanceId=i-0123456789abcdef0",
            repeated: false,
            dry_run: false,
        });
        assert!(html.contains("<dd data-field=\"instance\">i-0123456789abcdef0</dd>"));
        assert!(html.contains("Open it in the EC2 console"));
        let dry = result(&Outcome {
            id: "",
            state: "",
            name: "<i>x</i>",
            owner: "a@b.io",
            instance_type: "t3.micro",
            expires_at: "",
            console_url: "",
            repeated: false,
            dry_run: true,
        });
        assert!(dry.contains("Nothing was launched"));
        assert!(dry.contains("&lt;i&gt;x&lt;/i&gt;"));
        assert!(!dry.contains("data-field=\"instance\""));
    }
}
