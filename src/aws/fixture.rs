//! The AWS environment the pure plan tests start from: `tests/environments/aws-msk.yaml`, which
//! creates every part (MSK, Aurora, the registry, roles and groups).

use std::path::Path;

use crate::config::Variables;
use crate::model::Environment;

/// The fixture as an AWS environment, loaded once for every test.
pub(crate) fn env() -> super::Env<'static> {
    static LOADED: std::sync::LazyLock<Environment> = std::sync::LazyLock::new(environment);
    super::Env::of(&LOADED).expect("an aws environment")
}

pub(crate) fn environment() -> Environment {
    let variables = Variables::new(
        [
            ("DEPLOY_TEST_NAME", "plan"),
            ("DEPLOY_TEST_AWS_ENDPOINT", "http://127.0.0.1:1"),
            ("DEPLOY_TEST_VPC", "vpc-0a1"),
            ("DEPLOY_TEST_SUBNET_1", "subnet-0a1"),
            ("DEPLOY_TEST_SUBNET_2", "subnet-0b2"),
            ("DEPLOY_TEST_MSK", "168"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    );
    crate::config::environment_with(Path::new("tests/environments/aws-msk.yaml"), variables)
        .expect("the file loads and resolves")
}
