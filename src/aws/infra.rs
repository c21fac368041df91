//! The infrastructure under the connectors, observed, planned and applied together: security
//! groups, IAM roles, the MSK cluster, the Aurora database with its schema load, and the
//! registry. Its apply runs in dependency order with independent branches concurrent (MSK ∥ the
//! database ∥ the registry's load balancer ∥ the ECS cluster), and returns the outputs the
//! connectors are then configured with.

use std::collections::BTreeMap;

use super::Env;
use super::clients::Clients;
use super::names;
use super::outputs::Outputs;
use super::{database, ecs, iam, msk, network, registry};
use crate::error::Error;
use crate::output::Printer;
use crate::plan::{Change, gather};

pub(super) struct Observed {
    /// Known when the environment has roles to create (their trust policies name the account).
    pub account: Option<iam::Account>,
    pub groups: BTreeMap<String, network::Live>,
    pub roles: BTreeMap<String, iam::Live>,
    pub msk: msk::Observed,
    pub database: database::Observed,
    pub registry: registry::Observed,
    /// The ECS cluster of the registry and the database tasks exists.
    pub ecs_cluster: bool,
}

/// The outputs as far as the observed resources give them.
fn outputs(env: &Env<'_>, observed: &Observed, bootstrap: Option<String>) -> Outputs {
    let aws = env.aws;
    let created = observed.msk.cluster.as_ref();
    let mut outputs = Outputs {
        region: Some(aws.region.clone()),
        cluster_arn: aws
            .msk_cluster_arn
            .clone()
            .or_else(|| created.map(|c| c.arn.clone())),
        bootstrap: bootstrap.or_else(|| observed.msk.bootstrap.clone()),
        connector_groups: if env.creates_connector_group() {
            observed
                .groups
                .get(names::role::CONNECTORS)
                .map(|g| vec![g.id.clone()])
                .unwrap_or_default()
        } else {
            aws.security_groups.clone()
        },
        connector_role: aws.service_execution_role_arn.clone().or_else(|| {
            observed
                .roles
                .get(names::role::CONNECT)
                .map(|r| r.arn.clone())
        }),
        task_role: observed
            .roles
            .get(names::role::TASK_EXECUTION)
            .map(|r| r.arn.clone()),
        task_group: observed
            .groups
            .get(names::role::SCHEMA_LOAD)
            .map(|g| g.id.clone()),
        ..Outputs::default()
    };
    database::outputs(&observed.database, &mut outputs);
    registry::outputs(&observed.registry, &mut outputs);
    outputs
}

fn role_arns(observed: &BTreeMap<String, iam::Live>) -> BTreeMap<String, String> {
    observed
        .iter()
        .map(|(role, live)| (role.clone(), live.arn.clone()))
        .collect()
}

pub(super) async fn observe(
    clients: &Clients,
    env: &Env<'_>,
    bootstrap: Option<String>,
) -> Result<(Observed, Outputs), Error> {
    let account = async {
        if env.creates_roles() {
            iam::account(clients, env).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let ecs_cluster = async {
        if env.uses_ecs() {
            ecs::observe(clients, env).await
        } else {
            Ok(false)
        }
    };
    let (account, groups, msk, database, registry, ecs_cluster, egress) = tokio::try_join!(
        account,
        network::observe(clients, env),
        msk::observe(clients, env),
        database::observe(clients, env),
        registry::observe(clients, env),
        ecs_cluster,
        super::egress::observe(clients, env)
    )?;
    msk::check(env, &msk)?;
    database::check(env, &database)?;
    super::egress::check(env, &egress)?;
    let mut observed = Observed {
        account,
        groups,
        roles: BTreeMap::new(),
        msk,
        database,
        registry,
        ecs_cluster,
    };
    // The roles' policies name what the database gives (its secret), so they come second.
    if let Some(account) = &observed.account {
        let partial = outputs(env, &observed, bootstrap.clone());
        let roles = iam::wanted(env, account, &partial);
        observed.roles = iam::observe(clients, env, &roles).await?;
        iam::check(env, &observed.roles)?;
    }
    let outputs = outputs(env, &observed, bootstrap);
    Ok((observed, outputs))
}

/// What the infrastructure's apply carries out, as the plan decided it.
#[derive(Debug, Clone, Default)]
pub(super) struct Steps {
    /// The ECS cluster of the registry and the schema load.
    pub ecs_cluster: Vec<ecs::Step>,
    pub groups: Vec<network::Step>,
    pub roles: Vec<iam::Step>,
    pub database: Vec<database::Step>,
    pub schema: Vec<super::schema::Step>,
    pub msk: Vec<msk::Step>,
    /// The registry's load balancer, target group and listener.
    pub front: Vec<registry::FrontStep>,
    /// The registry's task definition and service.
    pub registry: Vec<registry::Step>,
}

/// The infrastructure's part of the plan: the changes in the order they are shown, and the steps
/// by resource kind, as apply runs them.
pub(super) fn plan(env: &Env<'_>, observed: &Observed, outputs: &Outputs) -> (Vec<Change>, Steps) {
    let mut changes = Vec::new();
    let groups = gather(&mut changes, network::plan(env, &observed.groups));
    let msk = gather(&mut changes, msk::plan(env, &observed.msk));
    let roles = match &observed.account {
        Some(account) => {
            let roles = iam::wanted(env, account, outputs);
            gather(&mut changes, iam::plan(env, &roles, &observed.roles))
        }
        None => Vec::new(),
    };
    let database = gather(&mut changes, database::plan(env, &observed.database));
    let loaded = observed
        .database
        .cluster
        .as_ref()
        .map(|c| c.schema.as_deref());
    let schema = gather(&mut changes, super::schema::plan(env, loaded));
    let ecs_cluster = gather(&mut changes, ecs::plan(env, observed.ecs_cluster));
    let front = gather(&mut changes, registry::plan_front(env, &observed.registry));
    let task = registry::task(env, outputs, &role_arns(&observed.roles));
    let registry = gather(
        &mut changes,
        registry::plan(env, &observed.registry, task.as_ref()),
    );
    let steps = Steps {
        ecs_cluster,
        groups,
        roles,
        database,
        schema,
        msk,
        front,
        registry,
    };
    (changes, steps)
}

/// Brings the infrastructure to what the environment wants; returns the outputs it now gives.
pub(super) async fn apply(
    clients: &Clients,
    env: &Env<'_>,
    observed: &Observed,
    steps: &Steps,
    mut outputs: Outputs,
    printer: &Printer,
) -> Result<Outputs, Error> {
    let groups = network::apply(clients, env, &observed.groups, &steps.groups, printer).await?;
    outputs.task_group = groups.get(names::role::SCHEMA_LOAD).cloned();
    if env.creates_connector_group() {
        outputs.connector_groups = groups
            .get(names::role::CONNECTORS)
            .map(|g| vec![g.clone()])
            .unwrap_or_default();
    }
    let has_registry = env.aws.registry.is_some();
    let load_balancer = async {
        if has_registry {
            registry::apply_front(clients, env, &observed.registry, &steps.front, &groups)
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    };
    let (kafka, cluster, load_balancer, ()) = tokio::try_join!(
        msk::apply(clients, env, &observed.msk, &steps.msk, &groups, printer),
        database::apply(clients, env, &steps.database, &groups, printer),
        load_balancer,
        ecs::apply_cluster(clients, env, &steps.ecs_cluster)
    )?;
    if let Some((arn, servers)) = kafka {
        outputs.cluster_arn = Some(arn);
        outputs.bootstrap = Some(servers);
    }
    if let Some(cluster) = &cluster {
        if cluster.secret_arn.is_none() {
            return Err(Error::user(format!(
                "RDS reports no master user secret for {}",
                names::db_cluster(env)
            ))
            .with_hint("the cluster must have its master password managed by Secrets Manager"));
        }
        database::outputs(
            &database::Observed {
                cluster: Some(cluster.clone()),
                ..database::Observed::default()
            },
            &mut outputs,
        );
    }
    if let Some(account) = &observed.account {
        let roles = iam::wanted(env, account, &outputs);
        let arns = iam::apply(clients, env, &roles, &observed.roles, &steps.roles).await?;
        if let Some(arn) = arns.get(names::role::CONNECT) {
            outputs.connector_role = Some(arn.clone());
        }
        outputs.task_role = arns.get(names::role::TASK_EXECUTION).cloned();
        // The registry keeps its tables in a schema the load creates: the load comes first.
        if let Some(cluster) = &cluster {
            super::schema::apply(clients, env, &steps.schema, &cluster.arn, &outputs, printer)
                .await?;
        }
        if let Some((target_group, dns)) = load_balancer {
            outputs.registry_url = Some(registry::url(&dns));
            let task = registry::task(env, &outputs, &arns).expect("a registry has a task");
            registry::apply_service(
                clients,
                env,
                &steps.registry,
                &task,
                &target_group,
                &groups,
                printer,
            )
            .await?;
        }
    }
    Ok(outputs)
}

/// Removes the infrastructure in reverse order. The database stays when deletion protection is
/// on, and with it its security group; otherwise a final snapshot is kept unless `delete_data`.
pub(super) async fn destroy(
    clients: &Clients,
    env: &Env<'_>,
    delete_data: bool,
    printer: &Printer,
) -> Result<(), Error> {
    registry::destroy(clients, env, printer).await?;
    super::schema::destroy(clients, env).await?;
    super::slots::destroy(clients, env).await?;
    super::ecs::deregister(clients, &names::signal_task_family(env)).await?;
    // The cluster goes last, after every task definition that ran in it.
    if ecs::observe(clients, env).await? {
        ecs::delete_cluster(clients, env, printer).await?;
    }
    let mut keep = std::collections::BTreeSet::new();
    if msk::destroy(clients, env, delete_data, printer).await? {
        keep.insert(names::role::MSK);
    }
    match database::destroy(clients, env, delete_data, printer).await? {
        database::Removed::Absent => {}
        database::Removed::NotOurs => printer.status(&format!(
            "left database {} alone: it does not carry this environment's tag",
            names::db_cluster(env)
        )),
        database::Removed::Protected => {
            keep.insert(names::role::DATABASE);
            printer.status(&format!(
                "kept database {} (deletion protection is on: set `aws.database.deletion-protection: false` and apply, then destroy)",
                names::db_cluster(env)
            ));
        }
        database::Removed::Deleted { snapshot } => printer.status(&match snapshot {
            Some(id) => format!(
                "  - database {} deleted; final snapshot {id} kept",
                names::db_cluster(env)
            ),
            None => format!(
                "  - database {} deleted, without a final snapshot",
                names::db_cluster(env)
            ),
        }),
    }
    if keep.contains(names::role::DATABASE) {
        if super::alarms::exists(clients, env).await? {
            printer.status(&format!(
                "kept alarm {}: it watches the kept database's replication slots",
                names::slot_alarm(env)
            ));
        }
    } else if super::alarms::destroy(clients, env).await? {
        printer.status(&format!("  - alarm {} deleted", names::slot_alarm(env)));
    }
    for name in iam::destroy(clients, env).await? {
        printer.status(&format!("  - role {name} deleted"));
    }
    network::destroy(clients, env, printer, &keep).await
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::aws::egress;
    use crate::model::{Environment, Target};
    use crate::plan::Plan;

    fn account() -> iam::Account {
        iam::Account {
            id: "123456789012".into(),
            region: "us-east-1".into(),
        }
    }

    fn nothing() -> Observed {
        Observed {
            account: Some(account()),
            groups: BTreeMap::new(),
            roles: BTreeMap::new(),
            msk: msk::Observed::default(),
            database: database::Observed::default(),
            registry: registry::Observed::default(),
            ecs_cluster: false,
        }
    }

    fn render(env: &Env<'_>, changes: Vec<Change>) -> String {
        Plan {
            environment: env.name.clone(),
            changes,
        }
        .render_text(true)
    }

    #[test]
    fn from_nothing_everything_is_created_with_what_it_will_be() {
        let env = crate::aws::fixture::env();
        let observed = nothing();
        let outputs = outputs(&env, &observed, None);
        insta::assert_snapshot!(render(&env, plan(&env, &observed, &outputs).0));
    }

    #[test]
    fn the_connectors_role_is_scoped_to_what_they_use() {
        let env = crate::aws::fixture::env();
        let outputs = Outputs {
            cluster_arn: Some("arn:aws:kafka:us-east-1:123456789012:cluster/plan/abc-2".into()),
            database_secret: Some(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-1-AbCdEf".into(),
            ),
            ..Outputs::default()
        };
        let roles = iam::wanted(&env, &account(), &outputs);
        let connect = roles
            .iter()
            .find(|r| r.role == names::role::CONNECT)
            .expect("a role");
        insta::assert_json_snapshot!(connect);
    }

    /// The environment with its registry image in this account's ECR, or in a private registry.
    fn with_image(image: &str, credentials: Option<&str>) -> Environment {
        let mut env = crate::aws::fixture::environment();
        let Target::Aws(aws) = &mut env.target else {
            panic!("an aws environment")
        };
        let registry = aws.registry.as_mut().expect("a registry");
        registry.image = image.into();
        registry.image_credentials = credentials.map(str::to_string);
        if let Some(db) = aws.database.as_mut() {
            db.schema_image = image.replace("apicurio/apicurio-registry:3.3.1", "postgres:17");
        }
        env
    }

    #[test]
    fn private_subnets_need_a_nat_route_or_the_endpoints_of_what_runs_there() {
        let env = with_image(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/apicurio/apicurio-registry:3.3.1",
            None,
        );
        let env = Env::of(&env).expect("an aws environment");
        let routes = |target: Option<&str>| {
            ["subnet-0a1", "subnet-0b2"]
                .into_iter()
                .map(|s| (s.to_string(), target.map(str::to_string)))
                .collect()
        };
        let through_nat = egress::Observed {
            default_routes: routes(Some("nat-0abc")),
            endpoints: Default::default(),
        };
        assert!(egress::check(&env, &through_nat).is_ok());
        let isolated = egress::Observed {
            default_routes: routes(None),
            endpoints: ["ecr.api", "ecr.dkr", "s3", "logs"]
                .into_iter()
                .map(str::to_string)
                .collect(),
        };
        let refused = egress::check(&env, &isolated).unwrap_err().to_string();
        assert!(
            refused.contains("subnet subnet-0a1 gives no way out: it has no default route"),
            "{refused}"
        );
        let mut endpoints = isolated.clone();
        endpoints.endpoints.insert("secretsmanager".into());
        assert!(egress::check(&env, &endpoints).is_ok());
        // Docker Hub has no endpoint: only a NAT route will do.
        let hub = with_image("apicurio/apicurio-registry:3.3.1", None);
        let hub = Env::of(&hub).expect("an aws environment");
        assert!(egress::check(&hub, &endpoints).is_err());
    }

    #[test]
    fn the_task_execution_role_pulls_from_ecr_and_reads_private_registry_credentials() {
        let secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:hub-login-AbCdEf";
        let env = with_image(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/apicurio/apicurio-registry:3.3.1",
            Some(secret),
        );
        let env = Env::of(&env).expect("an aws environment");
        let roles = iam::wanted(&env, &account(), &Outputs::default());
        let execution = roles
            .iter()
            .find(|r| r.role == names::role::TASK_EXECUTION)
            .expect("a role");
        let policy = serde_json::to_string(&execution.policy).expect("JSON");
        assert!(policy.contains(secret), "{policy}");
        assert!(policy.contains("ecr:GetAuthorizationToken"), "{policy}");
        assert!(
            policy.contains(
                "arn:aws:ecr:us-east-1:123456789012:repository/apicurio/apicurio-registry"
            ),
            "{policy}"
        );
        let hub = with_image("apicurio/apicurio-registry:3.3.1", None);
        let hub = Env::of(&hub).expect("an aws environment");
        let roles = iam::wanted(&hub, &account(), &Outputs::default());
        let policy = serde_json::to_string(&roles).expect("JSON");
        assert!(!policy.contains("ecr:"), "{policy}");
    }

    #[test]
    fn rules_follow_the_components_and_developer_access() {
        let env = crate::aws::fixture::env();
        let rules: Vec<String> = network::wanted(&env)
            .iter()
            .flat_map(|g| {
                g.ingress
                    .iter()
                    .map(move |(port, source)| format!("{} ← {port} {source:?}", g.role))
            })
            .collect();
        insta::assert_snapshot!(rules.join("\n"));
    }
}
