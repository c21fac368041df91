//! SDK clients from the standard AWS configuration chain, with the environment's region,
//! profile and (for emulators) endpoint. One rustls TLS stack, no C build.

use aws_config::{BehaviorVersion, Region};
use aws_smithy_http_client::tls;

use crate::model::Aws;

pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub kafkaconnect: aws_sdk_kafkaconnect::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    pub kafka: aws_sdk_kafka::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub iam: aws_sdk_iam::Client,
    pub rds: aws_sdk_rds::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub sts: aws_sdk_sts::Client,
}

/// The SDK's HTTP client on rustls with ring (the SDK's default features are off).
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

pub async fn clients(settings: &Aws) -> Clients {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(settings.region.clone()))
        .http_client(http_client());
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(endpoint) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    let shared = loader.load().await;
    // Emulators serve buckets by path, not by virtual host.
    let s3 = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(settings.endpoint_url.is_some())
        .build();
    Clients {
        s3: aws_sdk_s3::Client::from_conf(s3),
        kafkaconnect: aws_sdk_kafkaconnect::Client::new(&shared),
        secretsmanager: aws_sdk_secretsmanager::Client::new(&shared),
        kafka: aws_sdk_kafka::Client::new(&shared),
        logs: aws_sdk_cloudwatchlogs::Client::new(&shared),
        cloudwatch: aws_sdk_cloudwatch::Client::new(&shared),
        ec2: aws_sdk_ec2::Client::new(&shared),
        iam: aws_sdk_iam::Client::new(&shared),
        rds: aws_sdk_rds::Client::new(&shared),
        ecs: aws_sdk_ecs::Client::new(&shared),
        elb: aws_sdk_elasticloadbalancingv2::Client::new(&shared),
        sts: aws_sdk_sts::Client::new(&shared),
    }
}
