//! JSON logs (one object per line, carrying the Lambda request id and function name) and
//! CloudWatch metrics in Embedded Metric Format.

use std::collections::BTreeMap;
use std::fmt as stdfmt;
use std::io::{self, Write};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{ConfigError, Env};

/// The metric namespace every function writes to.
pub const NAMESPACE: &str = "fleetkeeper";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// How logs are written, from `RUST_LOG`, `AWS_LAMBDA_LOG_LEVEL` and `AWS_LAMBDA_LOG_FORMAT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// An EnvFilter directive string.
    pub filter: String,
    pub format: LogFormat,
    /// `AWS_LAMBDA_FUNCTION_NAME`, else the name the binary gives.
    pub function_name: String,
    /// The function's own crate (`nightly_stopper` for `nightly-stopper`): with the shared
    /// crate, the only code whose TRACE lines are written.
    pub own_crate: String,
}

impl LogSettings {
    /// RUST_LOG (full directives) wins over AWS_LAMBDA_LOG_LEVEL (Lambda's advanced logging
    /// control); the default is info. JSON unless Lambda is configured for Text.
    pub fn from_env(env: &Env, default_function_name: &str) -> Result<Self, ConfigError> {
        let filter = match (env.get("RUST_LOG"), env.get("AWS_LAMBDA_LOG_LEVEL")) {
            (Some(directives), _) => {
                EnvFilter::try_new(&directives).map_err(|e| {
                    ConfigError::invalid(
                        "RUST_LOG",
                        &directives,
                        format!("tracing filter directives ({e})"),
                    )
                })?;
                directives
            }
            (None, Some(level)) => match level.to_ascii_uppercase().as_str() {
                "TRACE" => "trace",
                "DEBUG" => "debug",
                "INFO" => "info",
                "WARN" => "warn",
                "ERROR" | "FATAL" => "error",
                _ => {
                    return Err(ConfigError::invalid(
                        "AWS_LAMBDA_LOG_LEVEL",
                        &level,
                        "one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL",
                    ));
                }
            }
            .to_owned(),
            (None, None) => "info".to_owned(),
        };
        let format = match env
            .get("AWS_LAMBDA_LOG_FORMAT")
            .map(|f| f.to_ascii_lowercase())
        {
            None => LogFormat::Json,
            Some(f) if f == "json" => LogFormat::Json,
            Some(f) if f == "text" => LogFormat::Text,
            Some(f) => {
                return Err(ConfigError::invalid(
                    "AWS_LAMBDA_LOG_FORMAT",
                    &f,
                    "JSON or Text",
                ));
            }
        };
        Ok(LogSettings {
            filter,
            format,
            function_name: env.string("AWS_LAMBDA_FUNCTION_NAME", default_function_name),
            own_crate: default_function_name.replace('-', "_"),
        })
    }

    /// What is left when the log settings themselves are wrong: info, JSON unless
    /// `AWS_LAMBDA_LOG_FORMAT` says Text, so the error about them can still be written.
    pub fn fallback(env: &Env, default_function_name: &str) -> Self {
        let text = env
            .get("AWS_LAMBDA_LOG_FORMAT")
            .is_some_and(|f| f.eq_ignore_ascii_case("text"));
        LogSettings {
            filter: "info".to_owned(),
            format: if text {
                LogFormat::Text
            } else {
                LogFormat::Json
            },
            function_name: env.string("AWS_LAMBDA_FUNCTION_NAME", default_function_name),
            own_crate: default_function_name.replace('-', "_"),
        }
    }
}

/// Libraries log whole payloads at TRACE: lambda_runtime the raw event (with any secret
/// header), the SDK every request and response (with signed headers and decrypted
/// parameters). Whatever level a user sets, TRACE lines are written only from fleetkeeper's
/// own crates, never from a library.
fn trace_only_from_our_crates(own: String) -> impl Fn(&tracing::Metadata<'_>) -> bool {
    move |meta| {
        if *meta.level() != tracing::Level::TRACE {
            return true;
        }
        let krate = meta.target().split("::").next().unwrap_or_default();
        krate == "fleetkeeper" || krate == own
    }
}

/// Values that must never be written, whatever logs them and at whatever level: each is
/// replaced by `[redacted]` in every log line. Registered as soon as a secret is read.
static REDACTED: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Keeps `secret` out of every log line from now on (also in its JSON-escaped form).
pub fn redact(secret: &str) {
    if secret.len() < 4 {
        // Too short to tell from ordinary text; such a secret is refused elsewhere anyway.
        return;
    }
    let escaped = serde_json::to_string(secret).unwrap_or_default();
    let escaped = escaped.trim_matches('"').to_owned();
    if let Ok(mut list) = REDACTED.write() {
        for s in [secret.to_owned(), escaped] {
            if !list.contains(&s) {
                list.push(s);
            }
        }
    }
}

fn scrub(line: &[u8]) -> Vec<u8> {
    let Ok(list) = REDACTED.read() else {
        return line.to_vec();
    };
    if list.is_empty() {
        return line.to_vec();
    }
    let mut text = String::from_utf8_lossy(line).into_owned();
    for secret in list.iter() {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), "[redacted]");
        }
    }
    text.into_bytes()
}

/// A writer that holds one event's output and writes it, scrubbed, when the event is done.
struct Scrubbing<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> Write for Scrubbing<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let line = scrub(&self.buf);
            self.buf.clear();
            self.inner.write_all(&line)?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Scrubbing<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

struct ScrubbingWriter<M>(M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for ScrubbingWriter<M> {
    type Writer = Scrubbing<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        Scrubbing {
            inner: self.0.make_writer(),
            buf: Vec::new(),
        }
    }
}

/// A subscriber writing to `writer`; tests pass a buffer, [`init`] passes stdout.
pub fn subscriber<W>(settings: &LogSettings, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    // Validated in from_env; fall back to info rather than lose logs.
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let libraries = filter_fn(trace_only_from_our_crates(settings.own_crate.clone()));
    let writer = ScrubbingWriter(writer);
    match settings.format {
        LogFormat::Json => Box::new(
            Registry::default()
                .with(filter)
                .with(libraries)
                .with(SpanFields)
                .with(
                    tracing_subscriber::fmt::layer()
                        .event_format(JsonLine {
                            function_name: settings.function_name.clone(),
                        })
                        .with_writer(writer),
                ),
        ),
        LogFormat::Text => Box::new(
            Registry::default().with(filter).with(libraries).with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_target(false)
                    .with_writer(writer),
            ),
        ),
    }
}

/// Installs the global subscriber on stdout. Call once, first thing in `main`.
pub fn init(settings: &LogSettings) {
    // A second init (tests) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber(settings, io::stdout));
}

/// Span fields (such as lambda_runtime's `requestId`) captured as JSON for the formatter.
struct SpanFields;

struct CapturedFields(Map<String, Value>);

impl<S> Layer<S> for SpanFields
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = Map::new();
        attrs.record(&mut JsonVisitor(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(CapturedFields(fields));
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(CapturedFields(fields)) = ext.get_mut::<CapturedFields>() {
                values.record(&mut JsonVisitor(fields));
            }
        }
    }
}

/// One JSON object per line: timestamp, level, target, functionName, the fields of every
/// enclosing span (outermost first), then the event's own fields and message.
struct JsonLine {
    function_name: String,
}

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> stdfmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::String(jiff::Timestamp::now().to_string()),
        );
        line.insert("level".into(), Value::String(meta.level().to_string()));
        line.insert("target".into(), Value::String(meta.target().to_owned()));
        line.insert(
            "functionName".into(),
            Value::String(self.function_name.clone()),
        );
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(CapturedFields(fields)) = span.extensions().get::<CapturedFields>() {
                    line.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        event.record(&mut JsonVisitor(&mut line));
        let text = serde_json::to_string(&line).map_err(|_| stdfmt::Error)?;
        writeln!(writer, "{text}")
    }
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), serde_json::json!(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn stdfmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

/// EMF allows at most 100 metrics in one directive.
const MAX_METRICS_PER_LINE: usize = 100;

/// Metrics collected during one invocation and written as EMF JSON lines.
#[derive(Debug, Clone)]
pub struct Metrics {
    namespace: String,
    dimensions: BTreeMap<String, String>,
    /// Every metric fleetkeeper writes is a count.
    values: BTreeMap<String, f64>,
    /// Counts under one more dimension (`InstanceType`, `Schedule`): one line per value.
    by_dimension: BTreeMap<(String, String), BTreeMap<String, f64>>,
    properties: Map<String, Value>,
}

impl Metrics {
    /// Metrics in the fleetkeeper namespace with the FunctionName dimension.
    pub fn for_function(function_name: &str) -> Self {
        Metrics::new(NAMESPACE).dimension("FunctionName", function_name)
    }

    pub fn new(namespace: &str) -> Self {
        Metrics {
            namespace: namespace.to_owned(),
            dimensions: BTreeMap::new(),
            values: BTreeMap::new(),
            by_dimension: BTreeMap::new(),
            properties: Map::new(),
        }
    }

    pub fn dimension(mut self, name: &str, value: &str) -> Self {
        self.dimensions.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Adds to a Count metric (creating it at 0 first), so counts can be built up.
    pub fn count(&mut self, name: &str, n: u64) {
        *self.values.entry(name.to_owned()).or_insert(0.0) += n as f64;
    }

    /// Adds to a count under one more dimension (`("InstanceType", "t3.micro")`), written on
    /// a line of its own with the function's dimensions plus that one.
    pub fn count_in(&mut self, dimension: (&str, &str), name: &str, amount: f64) {
        let key = (dimension.0.to_owned(), dimension.1.to_owned());
        let values = self.by_dimension.entry(key).or_default();
        *values.entry(name.to_owned()).or_insert(0.0) += amount;
    }

    /// A searchable property in the log line that is not a metric (e.g. a request id).
    pub fn property(&mut self, name: &str, value: impl Into<Value>) {
        self.properties.insert(name.to_owned(), value.into());
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.by_dimension.is_empty()
    }

    /// The EMF lines for what has been recorded, at most 100 metrics per line.
    pub fn lines(&self, at: jiff::Timestamp) -> Vec<String> {
        let mut out = self.lines_for(&self.dimensions, &self.values, at);
        for ((dim, value), values) in &self.by_dimension {
            let mut dimensions = self.dimensions.clone();
            dimensions.insert(dim.clone(), value.clone());
            out.extend(self.lines_for(&dimensions, values, at));
        }
        out
    }

    fn lines_for(
        &self,
        dimensions: &BTreeMap<String, String>,
        values: &BTreeMap<String, f64>,
        at: jiff::Timestamp,
    ) -> Vec<String> {
        let names: Vec<&String> = values.keys().collect();
        names
            .chunks(MAX_METRICS_PER_LINE)
            .map(|chunk| {
                let mut root = Map::new();
                for (k, v) in &self.properties {
                    root.insert(k.clone(), v.clone());
                }
                for (k, v) in dimensions {
                    root.insert(k.clone(), Value::String(v.clone()));
                }
                let mut defs = Vec::new();
                for name in chunk {
                    root.insert((*name).clone(), serde_json::json!(values[*name]));
                    defs.push(serde_json::json!({"Name": name, "Unit": "Count"}));
                }
                let dims: Vec<&String> = dimensions.keys().collect();
                root.insert(
                    "_aws".into(),
                    serde_json::json!({
                        "Timestamp": at.as_millisecond(),
                        "CloudWatchMetrics": [{
                            "Namespace": self.namespace,
                            "Dimensions": [dims],
                            "Metrics": defs,
                        }]
                    }),
                );
                Value::Object(root).to_string()
            })
            .collect()
    }

    /// Writes the lines and clears the values, so a second flush writes nothing new.
    pub fn flush_to(&mut self, out: &mut impl Write, at: jiff::Timestamp) -> io::Result<()> {
        for line in self.lines(at) {
            writeln!(out, "{line}")?;
        }
        self.values.clear();
        self.by_dimension.clear();
        out.flush()
    }

    /// Flushes to stdout, where Lambda's log capture hands EMF lines to CloudWatch.
    pub fn flush(&mut self) {
        let stdout = io::stdout();
        let mut lock = stdout.lock();
        if let Err(e) = self.flush_to(&mut lock, jiff::Timestamp::now()) {
            tracing::warn!(error = %e, "could not write metrics");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    impl Buf {
        fn lines(&self) -> Vec<Value> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
                .collect()
        }
    }

    fn settings(pairs: &[(&str, &str)]) -> LogSettings {
        LogSettings::from_env(&Env::of(pairs), "fallback-name").unwrap()
    }

    #[test]
    fn json_lines_carry_request_id_and_function_name() {
        let buf = Buf::default();
        let s = settings(&[("AWS_LAMBDA_FUNCTION_NAME", "nightly-stopper")]);
        tracing::subscriber::with_default(subscriber(&s, buf.clone()), || {
            // The span lambda_runtime opens around every invocation.
            let span = tracing::info_span!("Lambda runtime invoke", requestId = "req-123");
            let _g = span.enter();
            tracing::info!(instances = 3, dry_run = true, "planned");
        });
        let lines = buf.lines();
        assert_eq!(lines.len(), 1);
        let l = &lines[0];
        assert_eq!(l["requestId"], "req-123");
        assert_eq!(l["functionName"], "nightly-stopper");
        assert_eq!(l["message"], "planned");
        assert_eq!(l["instances"], 3);
        assert_eq!(l["dry_run"], true);
        assert_eq!(l["level"], "INFO");
        assert!(
            l["timestamp"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .is_ok()
        );
    }

    #[test]
    fn lambda_log_level_filters_and_rust_log_wins() {
        let buf = Buf::default();
        let s = settings(&[("AWS_LAMBDA_LOG_LEVEL", "WARN")]);
        assert_eq!(s.function_name, "fallback-name");
        tracing::subscriber::with_default(subscriber(&s, buf.clone()), || {
            tracing::info!("hidden");
            tracing::warn!("shown");
        });
        let lines = buf.lines();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["message"], "shown");

        let s = settings(&[("AWS_LAMBDA_LOG_LEVEL", "WARN"), ("RUST_LOG", "debug")]);
        assert_eq!(s.filter, "debug");
        assert_eq!(
            settings(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]).filter,
            "error"
        );
    }

    #[test]
    fn trace_lines_only_from_our_own_crates_whatever_the_level() {
        let buf = Buf::default();
        for s in [
            settings(&[("AWS_LAMBDA_LOG_LEVEL", "TRACE")]),
            settings(&[("RUST_LOG", "trace,lambda_runtime=trace")]),
        ] {
            let s = LogSettings {
                own_crate: "instance_launcher".into(),
                ..s
            };
            tracing::subscriber::with_default(subscriber(&s, buf.clone()), || {
                tracing::trace!(target: "lambda_runtime::layers::api_response", body = "{\"x-fleetkeeper-secret\": \"s3cret\"}", "raw JSON event received from Lambda");
                tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "received response from service");
                tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "beginning attempt #1");
                tracing::trace!(target: "instance_launcher::handler", "ours");
                tracing::trace!(target: "fleetkeeper::http", "shared");
            });
        }
        let messages: Vec<String> = buf
            .lines()
            .iter()
            .map(|l| l["message"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(
            messages,
            ["beginning attempt #1", "ours", "shared"].repeat(2),
            "library TRACE lines are dropped, DEBUG and our TRACE kept"
        );
    }

    #[test]
    fn a_registered_secret_never_reaches_a_line() {
        let buf = Buf::default();
        let s = settings(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG")]);
        let secret = "tok-\"quoted\"-Zq81x";
        redact(secret);
        tracing::subscriber::with_default(subscriber(&s, buf.clone()), || {
            tracing::debug!(value = secret, "a library that logs what it should not");
            tracing::info!("header x-fleetkeeper-secret: {secret}");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("Zq81x"), "{text}");
        assert_eq!(text.matches("[redacted]").count(), 2, "{text}");
        // Still one JSON object a line.
        assert_eq!(buf.lines().len(), 2);
    }

    #[test]
    fn text_format_when_lambda_says_text() {
        let buf = Buf::default();
        let s = settings(&[("AWS_LAMBDA_LOG_FORMAT", "Text")]);
        assert_eq!(s.format, LogFormat::Text);
        tracing::subscriber::with_default(subscriber(&s, buf.clone()), || tracing::info!("plain"));
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("plain") && !text.trim_start().starts_with('{'),
            "{text}"
        );
    }

    #[test]
    fn bad_log_settings_are_named() {
        let env = Env::from_pairs([("AWS_LAMBDA_LOG_LEVEL", "LOUD")]);
        let err = LogSettings::from_env(&env, "f").unwrap_err();
        assert!(err.to_string().contains("AWS_LAMBDA_LOG_LEVEL"), "{err}");
        let env = Env::from_pairs([("AWS_LAMBDA_LOG_FORMAT", "xml")]);
        assert!(LogSettings::from_env(&env, "f").is_err());
        let env = Env::from_pairs([("RUST_LOG", "info,=[")]);
        assert!(
            LogSettings::from_env(&env, "f")
                .unwrap_err()
                .to_string()
                .contains("RUST_LOG")
        );
    }

    #[test]
    fn emf_line_has_the_cloudwatch_metrics_block() {
        let mut m = Metrics::for_function("snapshot-janitor");
        m.count("SnapshotsCreated", 2);
        m.count("SnapshotsCreated", 1);
        m.property("requestId", "req-9");
        let at: jiff::Timestamp = "2026-11-21T20:00:00Z".parse().unwrap();
        let mut out = Vec::new();
        m.flush_to(&mut out, at).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1);
        let l = &lines[0];
        let aws = &l["_aws"];
        assert_eq!(aws["Timestamp"], at.as_millisecond());
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "fleetkeeper");
        assert_eq!(
            directive["Dimensions"],
            serde_json::json!([["FunctionName"]])
        );
        let metrics = directive["Metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), 1);
        // Every declared metric and dimension has its value at the root, as EMF requires.
        for def in metrics {
            let name = def["Name"].as_str().unwrap();
            assert!(l[name].is_number(), "{name} missing at root");
            assert!(def["Unit"].is_string());
        }
        assert_eq!(l["SnapshotsCreated"], 3.0);
        assert_eq!(l["FunctionName"], "snapshot-janitor");
        assert_eq!(l["requestId"], "req-9");

        // Flushed values are gone; nothing to write means no line.
        let mut again = Vec::new();
        m.flush_to(&mut again, at).unwrap();
        assert!(again.is_empty());
    }

    #[test]
    fn a_count_under_another_dimension_has_a_line_of_its_own() {
        let mut m = Metrics::for_function("nightly-stopper");
        m.count("InstancesStopped", 3);
        m.count_in(("InstanceType", "t3.micro"), "ScheduledStopHours", 11.0);
        m.count_in(("InstanceType", "t3.micro"), "ScheduledStopHours", 0.5);
        m.count_in(("InstanceType", "m7g.large"), "ScheduledStopHours", 60.0);
        let lines: Vec<Value> = m
            .lines(jiff::Timestamp::UNIX_EPOCH)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].get("InstanceType").is_none());
        let micro = lines
            .iter()
            .find(|l| l["InstanceType"] == "t3.micro")
            .unwrap();
        assert_eq!(micro["ScheduledStopHours"], 11.5);
        assert_eq!(micro["FunctionName"], "nightly-stopper");
        assert_eq!(
            micro["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["FunctionName", "InstanceType"]])
        );
        assert!(micro.get("InstancesStopped").is_none());
    }

    #[test]
    fn more_than_100_metrics_split_across_lines() {
        let mut m = Metrics::for_function("f");
        for i in 0..150 {
            m.count(&format!("M{i:03}"), 1);
        }
        let lines = m.lines(jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(lines.len(), 2);
        let counts: Vec<usize> = lines
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(counts, vec![100, 50]);
    }
}
