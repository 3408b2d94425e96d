//! The AWS clients marketctl's ECS platform uses, built once from the standard credential chain
//! (environment, profile, web identity in CI, the task role on AWS), with rustls on ring.

use aws_sdk_sts::config::http::HttpResponse;
use aws_sdk_sts::error::SdkError;
use aws_smithy_http_client::tls;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::Duration;

pub struct Aws {
    pub ecs: aws_sdk_ecs::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sts: aws_sdk_sts::Client,
    pub rds: aws_sdk_rds::Client,
    /// `AWS_ENDPOINT_URL`, when set (a local AWS API such as moto): S3 is reached there too.
    pub endpoint: Option<String>,
}

impl Aws {
    pub async fn connect(region: &str) -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(30))
            .build();
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .http_client(http)
            .timeout_config(timeouts)
            .load()
            .await;
        Self {
            ecs: aws_sdk_ecs::Client::new(&config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            rds: aws_sdk_rds::Client::new(&config),
            endpoint: config.endpoint_url().map(str::to_owned),
        }
    }
}

/// An SDK error with its whole chain (the service's code and message, or why it never got an
/// answer), which the SDK's own `Display` leaves out.
pub fn explain<E>(what: &str, e: SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        // An answer the SDK could not parse (another error shape): its code and message, as
        // AWS wrote them, rather than "unhandled error".
        _ if e.raw_response().is_some() => {
            let raw = e.raw_response().map(|r| {
                (
                    r.status().as_u16(),
                    String::from_utf8_lossy(r.body().bytes().unwrap_or_default()).into_owned(),
                )
            });
            let (status, body) = raw.unwrap_or_default();
            let tag = |name: &str| {
                body.split_once(&format!("<{name}>"))
                    .and_then(|(_, rest)| rest.split_once(&format!("</{name}>")))
                    .map(|(value, _)| value.to_owned())
            };
            match (tag("Code"), tag("Message")) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code,
                _ => format!("HTTP {status} with no error code"),
            }
        }
        // No answer from AWS (unreachable, timed out, no credentials): the whole chain, minus
        // the SDK's debug dump of the raw response.
        _ => {
            let full = DisplayErrorContext(&e).to_string();
            full.split(" (").next().unwrap_or(&full).to_owned()
        }
    };
    if text.contains("InvalidClientTokenId")
        || text.contains("UnrecognizedClient")
        || text.contains("SignatureDoesNotMatch")
        || text.contains("ExpiredToken")
    {
        return format!(
            "{what}: AWS refused the credentials ({}); check AWS_PROFILE or AWS_ACCESS_KEY_ID, \
             or the role the CI job assumes",
            text.lines().next().unwrap_or(&text)
        );
    }
    if text.contains("no credentials") || text.contains("NoCredentials") {
        return format!(
            "{what}: no AWS credentials found; set AWS_PROFILE, AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, or run where a role is assumed"
        );
    }
    format!("{what}: {text}")
}
