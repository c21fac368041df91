//! The connectors table both targets' `connectors status` show, from one shape of a connector's
//! status.

use crate::status::ConnectorStatus;

/// CONNECTOR, STATE (with the reason where the runtime gives one), TASKS, DEFINED.
pub(super) fn table(rows: &[ConnectorStatus]) -> String {
    let mut table = vec![
        ["CONNECTOR", "STATE", "TASKS", "DEFINED"]
            .map(String::from)
            .to_vec(),
    ];
    for row in rows {
        let mut state = row.state.clone();
        if let Some(reason) = row.trace.as_ref().filter(|_| row.trace_is_reason) {
            state.push_str(&format!(" ({reason})"));
        }
        let tasks: Vec<String> = row
            .tasks
            .iter()
            .map(|t| format!("{}:{}", t.id, t.state))
            .collect();
        table.push(vec![
            row.connector.clone().unwrap_or_else(|| row.name.clone()),
            state,
            if tasks.is_empty() {
                "-".into()
            } else {
                tasks.join(" ")
            },
            if row.defined { "yes" } else { "no" }.into(),
        ]);
    }
    crate::output::table(&table)
}
