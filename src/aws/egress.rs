//! Whether the private subnets give what runs in them a way out. The registry's and the schema
//! load's Fargate tasks have no public address (`assignPublicIp: DISABLED`) and pull their image,
//! read the database secret and write logs from the subnets; MSK Connect's workers read secrets
//! through the config provider and the S3 sink writes to S3 from them. Each needs a default route
//! to a NAT gateway (or a transit gateway, or a NAT instance), or the VPC endpoints of what it
//! reaches. Without them tasks never start and connectors fail only after apply; plan refuses
//! first.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, RouteTable};

use super::Env;
use super::clients::Clients;
use super::sdk::Call;
use crate::error::Error;

/// Each given subnet's way out, and the VPC's endpoint services.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Observed {
    /// Subnet → the target of its default route (`nat-…`, `tgw-…`, `igw-…`), if any.
    pub default_routes: BTreeMap<String, Option<String>>,
    /// The VPC's endpoint services, short names (`ecr.api`, `s3`, `secretsmanager`, …).
    pub endpoints: BTreeSet<String>,
}

pub(super) async fn observe(clients: &Clients, env: &Env<'_>) -> Result<Observed, Error> {
    let aws = env.aws;
    let Some(vpc) = aws.vpc.as_deref() else {
        return Ok(Observed::default());
    };
    if aws.subnets.is_empty() || needs(env).is_empty() {
        return Ok(Observed::default());
    }
    let vpc_filter = || Filter::builder().name("vpc-id").values(vpc).build();
    let (tables, endpoints) = tokio::try_join!(
        async {
            clients
                .ec2
                .describe_route_tables()
                .filters(vpc_filter())
                .send()
                .await
                .or_fail("EC2 DescribeRouteTables")
        },
        async {
            clients
                .ec2
                .describe_vpc_endpoints()
                .filters(vpc_filter())
                .send()
                .await
                .or_fail("EC2 DescribeVpcEndpoints")
        }
    )?;
    let tables = tables.route_tables();
    let main = tables
        .iter()
        .find(|t| t.associations().iter().any(|a| a.main() == Some(true)));
    // A subnet without an explicit association uses the VPC's main route table.
    let default_routes = aws
        .subnets
        .iter()
        .map(|subnet| {
            let table = tables
                .iter()
                .find(|t| {
                    t.associations()
                        .iter()
                        .any(|a| a.subnet_id() == Some(subnet.as_str()))
                })
                .or(main);
            (subnet.clone(), table.and_then(default_route))
        })
        .collect();
    let prefix = format!("com.amazonaws.{}.", aws.region);
    let endpoints = endpoints
        .vpc_endpoints()
        .iter()
        .filter(|e| {
            e.state()
                .is_none_or(|s| s.as_str().eq_ignore_ascii_case("available"))
        })
        .filter_map(|e| e.service_name()?.strip_prefix(&prefix).map(str::to_string))
        .collect();
    Ok(Observed {
        default_routes,
        endpoints,
    })
}

fn default_route(table: &RouteTable) -> Option<String> {
    table
        .routes()
        .iter()
        .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
        .and_then(|r| {
            r.nat_gateway_id()
                .or(r.transit_gateway_id())
                .or(r.network_interface_id())
                .or(r.instance_id())
                .or(r.gateway_id())
                .map(str::to_string)
        })
}

/// What in the subnets needs to reach what: (who, endpoint services that would do instead of
/// a NAT route; empty when only the internet does, as for an image on Docker Hub).
fn needs(env: &Env<'_>) -> Vec<(String, Vec<&'static str>)> {
    let aws = env.aws;
    let mut needs = Vec::new();
    let mut task = |who: String, image: &str| {
        let services = if is_ecr(image, &aws.region) {
            vec!["ecr.api", "ecr.dkr", "s3", "secretsmanager", "logs"]
        } else {
            Vec::new()
        };
        needs.push((format!("{who} (image {image})"), services));
    };
    if let Some(registry) = &aws.registry {
        task("the registry's tasks".into(), &registry.image);
    }
    if env.runs_database_tasks()
        && let Some(db) = &aws.database
    {
        task("the database tasks".into(), &db.schema_image);
    }
    if env.connectors.iter().any(super::secrets::uses_provider) {
        needs.push((
            "the connectors' Secrets Manager config provider".into(),
            vec!["secretsmanager"],
        ));
    }
    if env
        .connectors
        .iter()
        .any(|c| c.config.contains_key("s3.bucket.name"))
    {
        needs.push(("the S3 sink".into(), vec!["s3"]));
    }
    needs
}

/// `<account>.dkr.ecr.<region>.amazonaws.com/…`: pulled through the ECR endpoints.
fn is_ecr(image: &str, region: &str) -> bool {
    image.split('/').next().is_some_and(|host| {
        host.contains(".dkr.ecr.") && host.ends_with(&format!(".{region}.amazonaws.com"))
    })
}

fn has_way_out(target: Option<&str>) -> bool {
    // An internet gateway does not help an address without a public IP.
    target.is_some_and(|t| !t.starts_with("igw-") && t != "local")
}

pub(super) fn check(env: &Env<'_>, observed: &Observed) -> Result<(), Error> {
    let aws = env.aws;
    let needs = needs(env);
    for (subnet, target) in &observed.default_routes {
        if has_way_out(target.as_deref()) {
            continue;
        }
        for (who, services) in &needs {
            let missing: Vec<&str> = services
                .iter()
                .copied()
                .filter(|s| !observed.endpoints.contains(*s))
                .collect();
            if !services.is_empty() && missing.is_empty() {
                continue;
            }
            let route = match target {
                Some(t) => {
                    format!("its default route goes to {t}, which private addresses cannot use")
                }
                None => "it has no default route".into(),
            };
            let hint = if services.is_empty() {
                "route 0.0.0.0/0 in the subnets' route table to a NAT gateway, or use an image in this region's ECR (which VPC endpoints can serve)".to_string()
            } else {
                format!(
                    "route 0.0.0.0/0 in the subnets' route table to a NAT gateway, or add the VPC endpoints {}",
                    missing
                        .iter()
                        .map(|s| format!("com.amazonaws.{}.{s}", aws.region))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            return Err(Error::user(format!(
                "subnet {subnet} gives no way out: {route}; {who} could not reach what it needs"
            ))
            .with_hint(hint));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_in_this_regions_ecr_go_through_endpoints() {
        assert!(is_ecr(
            "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/apicurio:3.3.1",
            "ap-southeast-2"
        ));
        assert!(!is_ecr(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/apicurio:3.3.1",
            "ap-southeast-2"
        ));
        assert!(!is_ecr(
            "apicurio/apicurio-registry:3.3.1",
            "ap-southeast-2"
        ));
        assert!(has_way_out(Some("nat-0abc")));
        assert!(!has_way_out(Some("igw-0abc")));
        assert!(!has_way_out(None));
    }
}
