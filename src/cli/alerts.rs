//! `alerts`, `alerts:add`, `alerts:remove` and `alerts:webhook`: an app's alert rules, whether
//! each fires, and where they are POSTed.

use std::io::Write;

use clap::Subcommand;

use super::{output, CliError, Session};
use crate::model::AlertRule;
use crate::wire::{AddAlert, Alert, AlertList, AlertWebhookRequest};

#[derive(Debug, Subcommand)]
pub enum AlertsVerb {
    /// List the app's alerts and whether each fires.
    #[command(name = "alerts")]
    List,
    /// Add an alert: 'p95 > 500ms for 5m' (p50, p95, p99 or max service time), 'errors > 2%
    /// for 5m' (the share of 5xx answers), 'memory > 90% for 2m' (of a dyno's limit) or
    /// 'crashed'. A firing or resolved alert is a line in `skiff logs` and a POST to the webhook.
    #[command(name = "alerts:add")]
    Add { rule: String },
    /// Remove an alert, named by its rule or its id.
    #[command(name = "alerts:remove")]
    Remove { rule: String },
    /// Set where the app's alerts are POSTed as JSON (http:// or https://); without a URL,
    /// show it.
    #[command(name = "alerts:webhook")]
    Webhook {
        url: Option<String>,
        /// Clear the app's webhook (the server's alert_webhook then applies).
        #[arg(long, conflicts_with = "url")]
        unset: bool,
    },
}

pub(super) async fn run(verb: AlertsVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    let (app, base) = s.app_path()?;
    let path = format!("{base}/alerts");
    match verb {
        AlertsVerb::List => {
            let list: AlertList = s.client.get(&path).await?;
            s.output.show(&list, |out, _| write_alerts(out, &list))?;
        }
        AlertsVerb::Add { rule } => {
            let added: Alert = s.client.post(&path, &AddAlert { rule }).await?;
            s.output.show(&added, |out, _| {
                writeln!(out, "Added alert {} to {app} (id {})", added.rule, added.id)
            })?;
        }
        AlertsVerb::Remove { rule } => {
            let list: AlertList = s.client.get(&path).await?;
            let id = alert_id(&list, &rule)?;
            s.client.delete(&format!("{path}/{id}")).await?;
            s.output
                .show(&serde_json::json!({ "removed": id }), |out, _| {
                    writeln!(out, "Removed alert {rule} from {app}")
                })?;
        }
        AlertsVerb::Webhook { url, unset } => {
            let list: AlertList = if url.is_some() || unset {
                let path = format!("{base}/alert-webhook");
                s.client.put(&path, &AlertWebhookRequest { url }).await?
            } else {
                s.client.get(&path).await?
            };
            s.output
                .show(&list, |out, _| writeln!(out, "{}", describe_webhook(&list)))?;
        }
    }
    Ok(())
}

/// The id of the alert `raw` names: its id, or a rule (in any spelling that reads the same).
fn alert_id(list: &AlertList, raw: &str) -> Result<i64, CliError> {
    let wanted = raw.trim().parse::<i64>().ok();
    let rule = AlertRule::parse(raw).ok().map(|r| r.to_string());
    list.alerts
        .iter()
        .find(|a| Some(a.id) == wanted || Some(&a.rule) == rule.as_ref())
        .map(|a| a.id)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "app {} has no alert {raw:?}; skiff alerts -a {} lists them",
                list.app, list.app
            ))
        })
}

fn describe_webhook(list: &AlertList) -> String {
    match (&list.webhook, &list.server_webhook) {
        (Some(url), _) => format!("Alerts of {} are POSTed to {url}", list.app),
        (None, Some(url)) => format!(
            "Alerts of {} are POSTed to the server's alert_webhook, {url}",
            list.app
        ),
        (None, None) => format!(
            "Alerts of {} are POSTed nowhere; they are lines in skiff logs",
            list.app
        ),
    }
}

pub fn write_alerts(out: &mut dyn Write, list: &AlertList) -> std::io::Result<()> {
    if list.alerts.is_empty() {
        writeln!(
            out,
            "{} has no alerts; add one with skiff alerts:add -a {} 'errors > 2% for 5m'",
            list.app, list.app
        )?;
    } else {
        output::table(
            out,
            &["ID", "RULE", "STATE", "SINCE", "VALUE"],
            list.alerts.iter().map(|a| {
                vec![
                    a.id.to_string(),
                    a.rule.clone(),
                    a.state.clone(),
                    a.since.clone().unwrap_or_else(|| "-".into()),
                    a.value.clone().unwrap_or_else(|| "-".into()),
                ]
            }),
        )?;
    }
    writeln!(out, "{}", describe_webhook(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> AlertList {
        AlertList {
            app: "shop".into(),
            alerts: vec![Alert {
                id: 4,
                rule: "errors > 2% for 5m".into(),
                state: "firing".into(),
                since: Some("2026-12-03T10:00:00Z".into()),
                value: Some("errors 9.0%".into()),
                created_at: "2026-12-03T09:00:00Z".into(),
            }],
            webhook: None,
            server_webhook: Some("http://127.0.0.1:9/hook".into()),
        }
    }

    #[test]
    fn alerts_are_named_by_id_or_by_rule() {
        assert_eq!(alert_id(&list(), "4").unwrap(), 4);
        assert_eq!(alert_id(&list(), "errors>2% for 5m").unwrap(), 4);
        let e = alert_id(&list(), "crashed").unwrap_err().to_string();
        assert!(e.contains("no alert \"crashed\""), "{e}");
    }

    #[test]
    fn the_list_says_what_fires_and_where_it_goes() {
        let mut out = Vec::new();
        write_alerts(&mut out, &list()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("errors > 2% for 5m"), "{text}");
        assert!(text.contains("firing"), "{text}");
        assert!(text.contains("errors 9.0%"), "{text}");
        assert!(
            text.contains("server's alert_webhook, http://127.0.0.1:9/hook"),
            "{text}"
        );
        let mut empty = list();
        empty.alerts.clear();
        empty.server_webhook = None;
        let mut out = Vec::new();
        write_alerts(&mut out, &empty).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("has no alerts; add one"), "{text}");
        assert!(text.contains("POSTed nowhere"), "{text}");
    }
}
