//! The error type every function returns, and AWS errors that keep their code and message.

use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::config::ConfigError;

/// Error codes AWS uses for throttling, across the query (EC2), JSON (SSM) and REST-XML
/// (Route 53, S3) protocols.
pub const THROTTLING_CODES: &[&str] = &[
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "PriorRequestNotComplete",
    "SlowDown",
    "EC2ThrottledException",
];

/// How an AWS call failed, which decides whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AwsErrorKind {
    /// The service answered with an error (see the code).
    Service,
    /// The request never got an answer: connection refused, reset or dropped.
    Dispatch,
    /// The call timed out.
    Timeout,
    /// An answer came that could not be read.
    Response,
    /// The request could not be built (a bug or bad input; never retryable).
    Construction,
}

/// An AWS SDK error with its AWS error code and message kept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AwsError {
    /// The API call, e.g. `ec2:StopInstances`.
    pub operation: String,
    pub kind: AwsErrorKind,
    /// The AWS error code, e.g. `InvalidInstanceID.NotFound`.
    pub code: Option<String>,
    pub message: Option<String>,
    pub http_status: Option<u16>,
}

impl AwsError {
    /// Keeps the code, message and HTTP status of any SDK operation error.
    pub fn from_sdk<E>(operation: &str, err: SdkError<E, Response>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let http_status = err.raw_response().map(|r| r.status().as_u16());
        let (kind, code, message) = match &err {
            SdkError::ServiceError(e) => (
                AwsErrorKind::Service,
                e.err().code().map(str::to_owned),
                e.err().message().map(str::to_owned),
            ),
            SdkError::TimeoutError(_) => (AwsErrorKind::Timeout, None, None),
            SdkError::DispatchFailure(f) if f.is_timeout() => (AwsErrorKind::Timeout, None, None),
            SdkError::DispatchFailure(_) => (AwsErrorKind::Dispatch, None, None),
            SdkError::ResponseError(_) => (AwsErrorKind::Response, None, None),
            _ => (AwsErrorKind::Construction, None, None),
        };
        // Keep the full causal chain where AWS gave no message, so nothing is lost.
        let message = message.or_else(|| Some(DisplayErrorContext(&err).to_string()));
        AwsError {
            operation: operation.to_owned(),
            kind,
            code,
            message,
            http_status,
        }
    }

    /// A service error with the given code (used by tests and by code that classifies by code).
    pub fn service(operation: &str, code: &str, message: &str) -> Self {
        AwsError {
            operation: operation.to_owned(),
            kind: AwsErrorKind::Service,
            code: Some(code.to_owned()),
            message: Some(message.to_owned()),
            http_status: None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    pub fn is_throttling(&self) -> bool {
        self.code().is_some_and(|c| THROTTLING_CODES.contains(&c))
    }

    /// True when the same call may succeed later: throttling, 5xx, timeouts, lost connections.
    pub fn is_retryable(&self) -> bool {
        match self.kind {
            AwsErrorKind::Dispatch | AwsErrorKind::Timeout => true,
            AwsErrorKind::Construction => false,
            AwsErrorKind::Service | AwsErrorKind::Response => {
                self.is_throttling()
                    || self.code().is_some_and(|c| {
                        matches!(
                            c,
                            "InternalError"
                                | "InternalFailure"
                                | "ServiceUnavailable"
                                | "RequestTimeout"
                                // EC2 has no capacity for the type now; it may later.
                                | "InsufficientInstanceCapacity"
                        )
                    })
                    || self.http_status.is_some_and(|s| s >= 500)
            }
        }
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.operation)?;
        if let Some(code) = &self.code {
            write!(f, ": {code}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for AwsError {}

/// Every way a fleetkeeper function can fail as a whole.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The event or request could not be understood; nothing was changed.
    #[error("invalid input: {0}")]
    Input(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn input(msg: impl Into<String>) -> Self {
        Error::Input(msg.into())
    }

    /// True when running again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Aws(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// The AWS error code, where the failure came from AWS.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws(e) => e.code(),
            _ => None,
        }
    }
}

/// A value for an error message: its JSON text, cut at 80 characters.
pub fn brief(v: &serde_json::Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 80 {
        format!("{}...", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}

/// What Lambda shows as the failed invocation's errorType and errorMessage.
impl From<Error> for lambda_runtime::Diagnostic {
    fn from(err: Error) -> Self {
        let error_type = match &err {
            Error::Config(_) => "ConfigError",
            Error::Aws(_) => "AwsError",
            Error::Input(_) => "InvalidInput",
            Error::Internal(_) => "InternalError",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// `sdk_call.await.map_err(aws_err("ec2:StopInstances"))?`
pub fn aws_err<E>(operation: &'static str) -> impl FnOnce(SdkError<E, Response>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |err| AwsError::from_sdk(operation, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_codes_are_retryable_validation_is_not() {
        for code in [
            "RequestLimitExceeded",
            "ThrottlingException",
            "Throttling",
            "PriorRequestNotComplete",
        ] {
            let e = AwsError::service("x:Y", code, "slow down");
            assert!(e.is_throttling() && e.is_retryable(), "{code}");
        }
        let e = AwsError::service(
            "ec2:StopInstances",
            "InvalidInstanceID.NotFound",
            "no such id",
        );
        assert!(!e.is_retryable());
        assert_eq!(
            e.to_string(),
            "ec2:StopInstances failed: InvalidInstanceID.NotFound: no such id"
        );
    }

    #[test]
    fn server_errors_and_lost_connections_are_retryable() {
        let mut e = AwsError::service("s3:GetObject", "Weird", "boom");
        e.http_status = Some(503);
        assert!(e.is_retryable());
        e.http_status = Some(400);
        assert!(!e.is_retryable());
        e.kind = AwsErrorKind::Dispatch;
        assert!(e.is_retryable());
        e.kind = AwsErrorKind::Construction;
        assert!(!e.is_retryable());
    }

    #[test]
    fn error_keeps_the_aws_code() {
        let err: Error =
            AwsError::service("ec2:DeleteSnapshot", "InvalidSnapshot.InUse", "used by ami").into();
        assert_eq!(err.aws_code(), Some("InvalidSnapshot.InUse"));
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("used by ami"));
        let cfg: Error = ConfigError::invalid("X", "y", "z").into();
        assert_eq!(cfg.aws_code(), None);
        let d: lambda_runtime::Diagnostic = Error::input("not an object").into();
        assert_eq!(d.error_type, "InvalidInput");
        assert_eq!(d.error_message, "invalid input: not an object");
    }
}
