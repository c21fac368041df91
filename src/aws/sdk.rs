//! The one way this target talks to AWS: every call's failure becomes an error the same way
//! (the service's message and code, the SDK's error kept as the source), "not found" is decided
//! in one place, and so is the refusal to touch what another environment owns.

use std::fmt::Debug;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::Error;

/// Error codes that mean "the resource asked about does not exist", across the services used.
/// Only read and delete calls on the resource itself treat them as absence (`or_absent`): on a
/// create they name a missing dependency and stay errors.
const NOT_FOUND: &[&str] = &[
    // MSK, MSK Connect
    "NotFoundException",
    // Secrets Manager, CloudWatch Logs
    "ResourceNotFoundException",
    // IAM
    "NoSuchEntity",
    // RDS
    "DBClusterNotFoundFault",
    "DBInstanceNotFound",
    "DBSubnetGroupNotFoundFault",
    "DBParameterGroupNotFound",
    // EC2
    "InvalidGroup.NotFound",
    // ELBv2
    "TargetGroupNotFound",
    "LoadBalancerNotFound",
    // ECS
    "ClusterNotFoundException",
    // S3 (HEAD answers carry no body, so only the status-derived code)
    "NoSuchKey",
    "NoSuchBucket",
    "NotFound",
];

pub(super) fn is_not_found(e: &impl ProvideErrorMetadata) -> bool {
    e.code().is_some_and(|code| NOT_FOUND.contains(&code))
}

/// An AWS call's failure. A refusal by the service is the user's to fix (exit 1) and says the
/// service's message and code; an endpoint that cannot be reached too; a request the SDK could
/// not build or an answer it could not read is a fault of ours (exit 2).
pub(super) fn error<E, R>(call: &str, e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static,
{
    match &e {
        SdkError::ServiceError(context) => {
            let service = context.err();
            Error::Aws {
                call: call.to_string(),
                message: service
                    .message()
                    .map_or_else(|| DisplayErrorContext(service).to_string(), str::to_string),
                code: service.code().unwrap_or("no error code").to_string(),
                source: Box::new(e),
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => Error::Aws {
            call: call.to_string(),
            message: format!("cannot reach the endpoint: {}", DisplayErrorContext(&e)),
            code: "no answer".to_string(),
            source: Box::new(e),
        },
        _ => Error::Internal(format!("{call}: {}", DisplayErrorContext(&e))),
    }
}

/// What every SDK call's result offers: its failure as an `Error`, or absence as `None`.
pub(super) trait Call<T> {
    fn or_fail(self, call: &str) -> Result<T, Error>;
    /// `None` when the service says the resource does not exist.
    fn or_absent(self, call: &str) -> Result<Option<T>, Error>;
}

impl<T, E, R> Call<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static,
{
    fn or_fail(self, call: &str) -> Result<T, Error> {
        self.map_err(|e| error(call, e))
    }

    fn or_absent(self, call: &str) -> Result<Option<T>, Error> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(error(call, e)),
        }
    }
}

/// The refusal to change (or use) a resource named like this environment's that does not carry
/// its ownership tag.
pub(super) fn not_ours(what: &str, environment: &str, hint: &str) -> Error {
    Error::user(format!(
        "{what} exists but does not carry the `{}` tag of environment `{environment}`: refusing to change it",
        super::names::TAG_ENVIRONMENT
    ))
    .with_hint(hint.to_string())
}

#[cfg(test)]
mod tests {
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;
    use crate::error::exit;

    type Failure = SdkError<ErrorMetadata, ()>;

    fn refused(code: &str) -> Failure {
        SdkError::service_error(
            ErrorMetadata::builder()
                .code(code)
                .message("Cluster plan is not ACTIVE")
                .build(),
            (),
        )
    }

    #[test]
    fn a_refusal_says_the_services_message_and_code_and_keeps_the_source() {
        let error = error(
            "MSK UpdateClusterConfiguration",
            refused("BadRequestException"),
        );
        assert_eq!(
            error.to_string(),
            "MSK UpdateClusterConfiguration failed: Cluster plan is not ACTIVE (BadRequestException)"
        );
        assert_eq!(error.exit_code(), exit::FAILURE);
        assert!(std::error::Error::source(&error).is_some());
    }

    #[test]
    fn a_request_that_could_not_be_built_is_an_internal_fault() {
        let failure: Failure = SdkError::construction_failure("missing field `arn`");
        let error = error("MSK DescribeCluster", failure);
        assert_eq!(error.exit_code(), exit::INTERNAL);
        assert!(error.to_string().contains("missing field `arn`"), "{error}");
    }

    #[test]
    fn an_endpoint_that_does_not_answer_is_said_as_such() {
        let failure: Failure = SdkError::timeout_error("connect timed out");
        let error = error("STS GetCallerIdentity", failure);
        assert_eq!(error.exit_code(), exit::FAILURE);
        assert!(
            error.to_string().contains("cannot reach the endpoint"),
            "{error}"
        );
    }

    #[test]
    fn only_not_found_is_absence() {
        let absent: Result<(), Failure> = Err(refused("ResourceNotFoundException"));
        assert!(
            absent
                .or_absent("Secrets Manager DescribeSecret")
                .unwrap()
                .is_none()
        );
        let denied: Result<(), Failure> = Err(refused("AccessDeniedException"));
        assert!(denied.or_absent("Secrets Manager DescribeSecret").is_err());
    }
}
