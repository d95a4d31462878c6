//! What every `main.rs` calls: [`run`] reads the environment once, starts JSON logging, loads
//! the AWS configuration, lets the function build its clients, then serves invocations.
//!
//! An error before the first invocation (a bad variable, a parameter that cannot be read) is
//! reported the way Lambda expects: one error-level log line with the readable sentence, a
//! POST to the Runtime API's init-error endpoint (so Lambda, and a local `cargo lambda invoke`,
//! see the reason at once instead of waiting for a timeout), and a non-zero exit.

use std::process::ExitCode;
use std::time::Duration;

use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::aws::{Aws, AwsSettings};
use crate::config::Env;
use crate::error::Error;
use crate::exec::Budget;
use crate::telemetry::Metrics;
use crate::telemetry::{self, LogSettings};

/// The process-wide set-up of one function, handed to its `init`.
pub struct Boot {
    pub env: Env,
    pub aws: Aws,
    /// `AWS_LAMBDA_FUNCTION_NAME`, else the function's own name.
    pub function_name: String,
}

/// One invocation, as a handler gets it.
pub struct Invocation<'a> {
    pub payload: Value,
    /// The time the invocation started (a function whose event carries its own time uses
    /// that instead).
    pub now: jiff::Timestamp,
    /// The invocation's deadline, less the function's reserve.
    pub budget: Budget,
    /// Metrics carrying the request id, flushed when the handler returns, whatever it returns.
    pub metrics: &'a mut Metrics,
}

/// How long the init-error report may take; Lambda ends the sandbox soon after anyway.
const INIT_ERROR_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs `function` as a Lambda. `init` builds what the handler needs once per cold start
/// (configuration, clients); `handler` serves each invocation with its payload, the time, a
/// budget from its deadline (less `reserve`) and metrics carrying its request id, flushed
/// whatever the outcome. Returns only when the process should exit.
pub async fn run<A, R, I, H>(function: &str, reserve: Duration, init: I, handler: H) -> ExitCode
where
    R: Serialize,
    I: AsyncFnOnce(&Boot) -> Result<A, Error>,
    H: AsyncFn(&A, Invocation<'_>) -> Result<R, Error>,
{
    let env = Env::process();
    let log = match LogSettings::from_env(&env, function) {
        Ok(log) => log,
        Err(e) => {
            // The log settings themselves are wrong: say so in the default format.
            telemetry::init(&LogSettings::fallback(&env, function));
            return init_failed(&env, &e.into()).await;
        }
    };
    telemetry::init(&log);
    let aws = match AwsSettings::from_env(&env) {
        Ok(settings) => Aws::load(settings).await,
        Err(e) => return init_failed(&env, &e.into()).await,
    };
    let boot = Boot {
        env,
        aws,
        function_name: log.function_name,
    };
    let app = match init(&boot).await {
        Ok(app) => app,
        Err(e) => return init_failed(&boot.env, &e).await,
    };
    let (app, handler) = (&app, &handler);
    let served = serve(
        &boot.function_name,
        reserve,
        async |invocation: Invocation<'_>| handler(app, invocation).await,
    )
    .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the Lambda runtime loop ended");
            ExitCode::FAILURE
        }
    }
}

/// Serves invocations until Lambda stops the process.
async fn serve<R, F>(
    function_name: &str,
    reserve: Duration,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    R: Serialize,
    F: AsyncFn(Invocation<'_>) -> Result<R, Error>,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let mut metrics = Metrics::for_function(function_name);
        metrics.property("requestId", event.context.request_id.as_str());
        let budget = Budget::from_context(&event.context, reserve);
        // Boxed: the handler's future (every SDK call it makes) is laid out on its own, not
        // nested inside the runtime's, which would pass the compiler's query depth limit.
        let invocation = Invocation {
            payload: event.payload,
            now: jiff::Timestamp::now(),
            budget,
            metrics: &mut metrics,
        };
        let result = Box::pin(handler(invocation)).await;
        metrics.flush();
        result
    }))
    .await
}

/// The `errorType` Lambda shows for an error before the first invocation.
pub fn init_error_type(e: &Error) -> &'static str {
    match e {
        Error::Config(_) => "ConfigError",
        Error::Aws(_) => "AwsError",
        Error::Input(_) | Error::Internal(_) => "InitError",
    }
}

/// Logs the readable sentence, reports it to the Runtime API, and gives the exit code.
async fn init_failed(env: &Env, e: &Error) -> ExitCode {
    let error_type = init_error_type(e);
    let message = e.to_string();
    tracing::error!(errorType = error_type, "{message}");
    if let Some(api) = env.get("AWS_LAMBDA_RUNTIME_API") {
        match tokio::time::timeout(
            INIT_ERROR_TIMEOUT,
            post_init_error(&api, error_type, &message),
        )
        .await
        {
            Ok(Ok(status)) if (200..300).contains(&status) => {}
            Ok(Ok(status)) => tracing::warn!(status, "the Runtime API refused the init error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not report the init error"),
            Err(_) => tracing::warn!("the Runtime API did not answer the init error in time"),
        }
    }
    ExitCode::FAILURE
}

/// `POST /2018-06-01/runtime/init/error`, returning the HTTP status. One small request on a
/// loopback connection to the Runtime API: plain HTTP/1.1, so no client has to be built for it.
async fn post_init_error(api: &str, error_type: &str, message: &str) -> std::io::Result<u16> {
    let body = serde_json::json!({
        "errorMessage": message,
        "errorType": error_type,
        "stackTrace": [],
    })
    .to_string();
    let request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
         Lambda-Runtime-Function-Error-Type: Runtime.{error_type}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(api).await?;
    socket.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await?;
    // "HTTP/1.1 202 Accepted"
    let status = String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no HTTP status in the answer"))?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigError;

    #[tokio::test]
    async fn the_init_error_is_posted_with_its_type_and_sentence() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = listener.local_addr().unwrap().to_string();
        let got = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read until the whole body (Content-Length) is in.
            loop {
                let n = sock.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap();
                    if body.len() >= len {
                        sock.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                            .await
                            .unwrap();
                        return text;
                    }
                }
                if n == 0 {
                    return text;
                }
            }
        });
        let e: Error =
            ConfigError::invalid("KEEP_LAST", "-1", "a whole number from 0 to 10000").into();
        let env = Env::of(&[("AWS_LAMBDA_RUNTIME_API", &api)]);
        assert_eq!(init_failed(&env, &e).await, ExitCode::FAILURE);
        let text = got.await.unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("POST /2018-06-01/runtime/init/error HTTP/1.1"),
            "{head}"
        );
        assert!(
            head.contains("Lambda-Runtime-Function-Error-Type: Runtime.ConfigError"),
            "{head}"
        );
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["errorType"], "ConfigError");
        assert_eq!(
            body["errorMessage"],
            "environment variable KEEP_LAST has invalid value \"-1\": expected a whole number from 0 to 10000"
        );
    }
}
