//! The replication slots' alarm. Locally, PostgreSQL's `max_slot_wal_keep_size` bounds the WAL a
//! dead slot holds back; Aurora PostgreSQL documents no such bound (its User Guide never names
//! the parameter) and asks instead to monitor slots and remove inactive ones. What it publishes
//! for that is the writer's `TransactionLogsDiskUsage` ("disk space consumed by transaction logs
//! … generated only when Aurora PostgreSQL is using logical replication"; Aurora User Guide,
//! "Amazon CloudWatch metrics for Amazon Aurora"), by cluster and role ("Amazon CloudWatch
//! dimensions for Aurora"). The environment's database gets one CloudWatch alarm on it at
//! `aws.database.max-retained-wal`, held for 15 minutes, notifying `aws.database.alarm-actions`;
//! `aws verify` fails while it fires. The alarm goes with the database it watches: `destroy`
//! keeps it while it keeps a protected database.

use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension, MetricAlarm, StateValue, Statistic, Tag,
};

use super::Env;
use super::clients::Clients;
use super::names::{self, tags};
use super::sdk::Call;
use crate::error::Error;
use crate::plan::{Action, Change, Kind};
use crate::slots::size;

const NAMESPACE: &str = "AWS/RDS";
const METRIC: &str = "TransactionLogsDiskUsage";
/// The highest value in each period: WAL retained is a level, not a rate.
const STATISTIC: Statistic = Statistic::Maximum;
const PERIOD_SECONDS: i32 = 300;
/// Three periods out of three: a long transaction's WAL, released once its commit is streamed,
/// does not page anyone; a slot nobody reads does, within 15 minutes.
const PERIODS: i32 = 3;
/// Before logical replication starts, and between publications, there is no datum (or -1):
/// that is not a slot holding WAL back.
const MISSING_DATA: &str = "notBreaching";

/// The alarm as the environment wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Wanted {
    pub name: String,
    /// The Aurora cluster whose writer it watches.
    pub cluster: String,
    /// Bytes of transaction logs above which it fires.
    pub threshold: u64,
    /// What it notifies when it fires and when it clears.
    pub actions: Vec<String>,
}

/// The alarm as CloudWatch has it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Live {
    pub threshold: f64,
    pub actions: Vec<String>,
    pub ok_actions: Vec<String>,
    /// Watches our metric the way this module sets it (statistic, periods, dimensions, …).
    pub watches_as_set: bool,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`, and CloudWatch's reason for it.
    pub state: String,
    pub reason: String,
}

/// The alarm the environment's database gets, when it has one.
pub(super) fn wanted(env: &Env<'_>) -> Option<Wanted> {
    let db = env.aws.database.as_ref()?;
    Some(Wanted {
        name: names::slot_alarm(env),
        cluster: names::db_cluster(env),
        threshold: db.max_retained_wal,
        actions: db.alarm_actions.clone(),
    })
}

fn dimensions(cluster: &str) -> Vec<(String, String)> {
    vec![
        ("DBClusterIdentifier".to_string(), cluster.to_string()),
        ("Role".to_string(), "WRITER".to_string()),
    ]
}

fn live(alarm: &MetricAlarm, wanted: &Wanted) -> Live {
    let mut have: Vec<(String, String)> = alarm
        .dimensions()
        .iter()
        .map(|d| {
            (
                d.name().unwrap_or_default().to_string(),
                d.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    have.sort();
    let mut want = dimensions(&wanted.cluster);
    want.sort();
    Live {
        threshold: alarm.threshold().unwrap_or(f64::NAN),
        actions: alarm.alarm_actions().to_vec(),
        ok_actions: alarm.ok_actions().to_vec(),
        watches_as_set: alarm.namespace() == Some(NAMESPACE)
            && alarm.metric_name() == Some(METRIC)
            && alarm.statistic() == Some(&STATISTIC)
            && alarm.period() == Some(PERIOD_SECONDS)
            && alarm.evaluation_periods() == Some(PERIODS)
            && alarm.datapoints_to_alarm().unwrap_or(PERIODS) == PERIODS
            && alarm.comparison_operator() == Some(&ComparisonOperator::GreaterThanThreshold)
            && alarm.treat_missing_data() == Some(MISSING_DATA)
            && alarm.actions_enabled() != Some(false)
            && have == want,
        state: alarm
            .state_value()
            .map_or("INSUFFICIENT_DATA", StateValue::as_str)
            .to_string(),
        reason: alarm.state_reason().unwrap_or_default().to_string(),
    }
}

/// The alarm, when it exists.
pub(super) async fn observe(clients: &Clients, env: &Env<'_>) -> Result<Option<Live>, Error> {
    let Some(wanted) = wanted(env) else {
        return Ok(None);
    };
    Ok(read(clients, &wanted.name)
        .await?
        .map(|alarm| live(&alarm, &wanted)))
}

/// The metric alarm of this name, if there is one.
async fn read(clients: &Clients, name: &str) -> Result<Option<MetricAlarm>, Error> {
    let found = clients
        .cloudwatch
        .describe_alarms()
        .alarm_names(name)
        .alarm_types(AlarmType::MetricAlarm)
        .send()
        .await
        .or_fail("CloudWatch DescribeAlarms")?;
    Ok(found
        .metric_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some(name))
        .cloned())
}

/// One call of the alarm's apply: PutMetricAlarm creates the alarm or replaces its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Put(pub Wanted);

fn describe(wanted: &Wanted) -> String {
    let notifies = match wanted.actions.len() {
        0 => "notifies nobody (`aws.database.alarm-actions`)".to_string(),
        1 => format!("notifies {}", wanted.actions[0]),
        n => format!("notifies {n} actions"),
    };
    format!(
        "fires when the writer holds over {} of transaction logs for 15 minutes; {notifies}",
        size(i64::try_from(wanted.threshold).unwrap_or(i64::MAX))
    )
}

/// The alarm's part of the plan.
pub(super) fn plan(env: &Env<'_>, observed: Option<&Live>) -> Vec<(Change, Vec<Put>)> {
    let Some(wanted) = wanted(env) else {
        return Vec::new();
    };
    let change = |action, reason: String| Change::new(Kind::Alarm, &wanted.name, action, reason);
    let row = match observed {
        None => (
            change(Action::Create, format!("not found; {}", describe(&wanted))),
            vec![Put(wanted.clone())],
        ),
        Some(live) => {
            let mut reasons = Vec::new();
            // CloudWatch keeps the threshold as a double: bytes up to 2^53 are exact.
            if live.threshold != wanted.threshold as f64 {
                reasons.push(format!(
                    "threshold {} → {}",
                    size(live.threshold as i64),
                    size(i64::try_from(wanted.threshold).unwrap_or(i64::MAX))
                ));
            }
            if live.actions != wanted.actions || live.ok_actions != wanted.actions {
                reasons.push(format!(
                    "actions [{}] → [{}]",
                    live.actions.join(", "),
                    wanted.actions.join(", ")
                ));
            }
            if !live.watches_as_set {
                reasons.push("its metric or evaluation was changed outside the tool".into());
            }
            if reasons.is_empty() {
                (
                    change(
                        Action::Unchanged,
                        format!("{}; now {}", describe(&wanted), live.state),
                    ),
                    Vec::new(),
                )
            } else {
                let mut update = change(Action::Update, reasons.remove(0));
                update.reasons.extend(reasons);
                (update, vec![Put(wanted.clone())])
            }
        }
    };
    vec![row]
}

/// Carries out the plan's alarm step.
pub(super) async fn apply(clients: &Clients, env: &Env<'_>, steps: &[Put]) -> Result<(), Error> {
    for Put(wanted) in steps {
        let dims = dimensions(&wanted.cluster)
            .into_iter()
            .map(|(name, value)| Dimension::builder().name(name).value(value).build())
            .collect();
        let tag_list = tags(env, "slot-alarm")
            .into_iter()
            .map(|(key, value)| Tag::builder().key(key).value(value).build())
            .collect();
        clients
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(&wanted.name)
            .alarm_description(format!(
                "The replication slots of {} hold back more WAL than aws.database.max-retained-wal: \
                 a source connector is stopped, failing or gone. `deploy aws status --slots` names the slot.",
                wanted.cluster
            ))
            .namespace(NAMESPACE)
            .metric_name(METRIC)
            .set_dimensions(Some(dims))
            .statistic(STATISTIC)
            .period(PERIOD_SECONDS)
            .evaluation_periods(PERIODS)
            .datapoints_to_alarm(PERIODS)
            .threshold(wanted.threshold as f64)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .treat_missing_data(MISSING_DATA)
            .actions_enabled(true)
            .set_alarm_actions(Some(wanted.actions.clone()))
            .set_ok_actions(Some(wanted.actions.clone()))
            .set_tags(Some(tag_list))
            .send()
            .await
            .or_fail("CloudWatch PutMetricAlarm")?;
    }
    Ok(())
}

/// Whether the alarm exists, found by name whether or not the file still asks for a database
/// (as `destroy` finds the database itself).
pub(super) async fn exists(clients: &Clients, env: &Env<'_>) -> Result<bool, Error> {
    Ok(read(clients, &names::slot_alarm(env)).await?.is_some())
}

/// Deletes the alarm; true when it existed. (DeleteAlarms answers success for a name it does
/// not know, so existence is read first.)
pub(super) async fn destroy(clients: &Clients, env: &Env<'_>) -> Result<bool, Error> {
    if !exists(clients, env).await? {
        return Ok(false);
    }
    clients
        .cloudwatch
        .delete_alarms()
        .alarm_names(names::slot_alarm(env))
        .send()
        .await
        .or_fail("CloudWatch DeleteAlarms")?;
    Ok(true)
}

/// `aws verify`'s reading of the alarm: passes unless it fires (or is missing).
pub(super) async fn verify(
    clients: &Clients,
    env: &Env<'_>,
) -> Result<Option<Result<String, String>>, Error> {
    let Some(wanted) = wanted(env) else {
        return Ok(None);
    };
    Ok(Some(match observe(clients, env).await? {
        None => Err(format!(
            "alarm {} does not exist: `deploy aws apply` creates it",
            wanted.name
        )),
        Some(live) if live.state == "ALARM" => Err(format!(
            "alarm {} fires: {} — a replication slot holds back WAL; `deploy aws status --slots` names it",
            wanted.name, live.reason
        )),
        Some(live) if live.state == "OK" => Ok(format!(
            "under {} of transaction logs",
            size(i64::try_from(wanted.threshold).unwrap_or(i64::MAX))
        )),
        Some(_) => Ok(
            "no data yet (the writer publishes TransactionLogsDiskUsage once logical replication runs)"
                .into(),
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(threshold: f64, actions: &[&str]) -> Live {
        Live {
            threshold,
            actions: actions.iter().map(|a| a.to_string()).collect(),
            ok_actions: actions.iter().map(|a| a.to_string()).collect(),
            watches_as_set: true,
            state: "OK".into(),
            reason: String::new(),
        }
    }

    #[test]
    fn the_alarm_is_created_then_kept_and_follows_the_threshold_and_actions() {
        let env = crate::aws::fixture::env();
        let wanted = wanted(&env).expect("the fixture has a database");
        assert_eq!(wanted.threshold, 1 << 30);

        let created = plan(&env, None);
        assert_eq!(created[0].0.action, Action::Create);
        assert_eq!(created[0].1, [Put(wanted.clone())]);
        assert!(
            created[0].0.reasons[0].contains("over 1.0 GiB of transaction logs for 15 minutes"),
            "{:?}",
            created[0].0.reasons
        );

        let same = plan(&env, Some(&live((1u64 << 30) as f64, &[])));
        assert_eq!(same[0].0.action, Action::Unchanged);
        assert!(same[0].1.is_empty());
        assert!(same[0].0.reasons[0].ends_with("now OK"));

        let topic = "arn:aws:sns:us-east-1:123456789012:alerts";
        let changed = plan(&env, Some(&live(512.0 * 1024.0 * 1024.0, &[topic])));
        assert_eq!(changed[0].0.action, Action::Update);
        assert_eq!(
            changed[0].0.reasons,
            [
                "threshold 512.0 MiB → 1.0 GiB".to_string(),
                format!("actions [{topic}] → []")
            ]
        );
        assert_eq!(changed[0].1, [Put(wanted)]);

        let mut edited = live((1u64 << 30) as f64, &[]);
        edited.watches_as_set = false;
        let fixed = plan(&env, Some(&edited));
        assert_eq!(fixed[0].0.action, Action::Update);
    }
}
