//! The emulator's default VPC as private subnets with a way out, as `aws plan` requires: the
//! main route table's default route to a NAT gateway. Shared by the AWS tests and the
//! `aws_apply` benchmark.

/// The default VPC and its subnets (sorted), routed out through a new private NAT gateway.
pub async fn private_subnets(ec2: &aws_sdk_ec2::Client) -> (String, Vec<String>) {
    let vpc = ec2
        .describe_vpcs()
        .send()
        .await
        .expect("DescribeVpcs")
        .vpcs()
        .iter()
        .find(|v| v.is_default() == Some(true))
        .and_then(|v| v.vpc_id().map(str::to_string))
        .expect("a default VPC");
    let subnets = ec2
        .describe_subnets()
        .send()
        .await
        .expect("DescribeSubnets");
    let mut subnets: Vec<String> = subnets
        .subnets()
        .iter()
        .filter(|s| s.vpc_id() == Some(vpc.as_str()))
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect();
    subnets.sort();
    let nat = ec2
        .create_nat_gateway()
        .subnet_id(&subnets[0])
        .connectivity_type(aws_sdk_ec2::types::ConnectivityType::Private)
        .send()
        .await
        .expect("CreateNatGateway");
    let nat = nat
        .nat_gateway()
        .and_then(|n| n.nat_gateway_id())
        .expect("a NAT gateway")
        .to_string();
    default_route(ec2, &vpc, Target::Nat(&nat)).await;
    (vpc, subnets)
}

pub enum Target<'a> {
    Nat(&'a str),
    Internet,
}

/// Points the VPC's main route table's default route at a NAT gateway or the internet gateway.
pub async fn default_route(ec2: &aws_sdk_ec2::Client, vpc: &str, target: Target<'_>) {
    let tables = ec2
        .describe_route_tables()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(vpc)
                .build(),
        )
        .send()
        .await
        .expect("DescribeRouteTables");
    let main = tables
        .route_tables()
        .iter()
        .find(|t| t.associations().iter().any(|a| a.main() == Some(true)))
        .and_then(|t| t.route_table_id())
        .expect("a main route table")
        .to_string();
    let (nat, igw) = match target {
        Target::Nat(nat) => (Some(nat.to_string()), None),
        Target::Internet => {
            let gateways = ec2
                .describe_internet_gateways()
                .send()
                .await
                .expect("DescribeInternetGateways");
            let attached = gateways
                .internet_gateways()
                .iter()
                .find(|g| g.attachments().iter().any(|a| a.vpc_id() == Some(vpc)))
                .and_then(|g| g.internet_gateway_id())
                .map(str::to_string);
            let igw = match attached {
                Some(igw) => igw,
                None => {
                    let created = ec2
                        .create_internet_gateway()
                        .send()
                        .await
                        .expect("CreateInternetGateway");
                    let igw = created
                        .internet_gateway()
                        .and_then(|g| g.internet_gateway_id())
                        .expect("an id")
                        .to_string();
                    ec2.attach_internet_gateway()
                        .internet_gateway_id(&igw)
                        .vpc_id(vpc)
                        .send()
                        .await
                        .expect("AttachInternetGateway");
                    igw
                }
            };
            (None, Some(igw))
        }
    };
    // Replace the default route, or create it where the table has none.
    let replaced = ec2
        .replace_route()
        .route_table_id(&main)
        .destination_cidr_block("0.0.0.0/0")
        .set_nat_gateway_id(nat.clone())
        .set_gateway_id(igw.clone())
        .send()
        .await;
    if replaced.is_err() {
        ec2.create_route()
            .route_table_id(&main)
            .destination_cidr_block("0.0.0.0/0")
            .set_nat_gateway_id(nat)
            .set_gateway_id(igw)
            .send()
            .await
            .expect("CreateRoute");
    }
}
