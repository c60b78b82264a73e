//! Service levels in the web UI: the SLA panel on the incident page, the
//! remaining time on queue rows, the person's notifications, and the SLA
//! report with its chart.

use axum::extract::State;
use axum::response::Response;
use varde_store::Store;

use super::web::{render, see_other, when, Chrome, Form, Viewer};
use crate::error::AppError;
use crate::service::sla as svc;
use crate::state::AppState;

/// Business or wall time as `H:MM` (hours may exceed 24), negative with a
/// minus sign: the same in every language the UI speaks.
pub fn hm(us: i64) -> String {
    let sign = if us < 0 { "−" } else { "" };
    let mins = us.unsigned_abs() / 60_000_000;
    format!("{sign}{}:{:02}", mins / 60, mins % 60)
}

pub struct PanelClock {
    pub kind: String,
    pub target: String,
    pub agreement: String,
    pub state: String,
    pub due: String,
    pub elapsed: String,
    pub remaining: String,
    pub target_time: String,
}

pub struct PanelEvent {
    pub at: String,
    pub clock: String,
    pub event: String,
    pub detail: String,
}

/// The SLA panel of the incident page.
pub struct SlaPanel {
    pub escalated: bool,
    pub supplier: String,
    pub clocks: Vec<PanelClock>,
    pub events: Vec<PanelEvent>,
}

pub async fn panel(st: &AppState, v: &Viewer, number: &str) -> Result<SlaPanel, AppError> {
    let r = svc::record_sla(&st.store, &v.caller, number).await?;
    let supplier = match r.supplier_id {
        Some(id) => st.store.suppliers().await?.into_iter().find(|s| s.id == id).map(|s| s.name).unwrap_or_default(),
        None => String::new(),
    };
    let label = |kind: &str, target: &str| format!("{} {target}", kind.to_uppercase());
    let names: std::collections::HashMap<i64, String> =
        r.clocks.iter().map(|c| (c.id, label(&c.kind, &c.target_name))).collect();
    Ok(SlaPanel {
        escalated: r.escalated,
        supplier,
        clocks: r
            .clocks
            .iter()
            .map(|c| PanelClock {
                kind: c.kind.clone(),
                target: c.target_name.clone(),
                agreement: c.agreement_name.clone(),
                state: c.state.clone(),
                due: c.due_at.map(when).unwrap_or_default(),
                elapsed: hm(c.elapsed_us),
                remaining: hm(c.remaining_us),
                target_time: hm(c.target_us),
            })
            .collect(),
        events: r
            .events
            .iter()
            .rev()
            .map(|e| PanelEvent {
                at: when(e.at),
                clock: names.get(&e.clock_id).cloned().unwrap_or_default(),
                event: e.event.clone(),
                detail: e.detail.clone(),
            })
            .collect(),
    })
}

/// What a queue row shows of the record's next breach.
pub struct QueueSla {
    /// Wall time until the earliest running clock is due; negative past it.
    pub left: String,
    /// `sla-breached`, `sla-soon` (under an hour) or `sla-ok`.
    pub class: &'static str,
    pub due: String,
}

pub async fn queue_cells(store: &Store, ids: &[i64]) -> Result<std::collections::HashMap<i64, QueueSla>, AppError> {
    let now = varde_store::now_micros();
    Ok(store
        .sla_dues(ids)
        .await?
        .into_iter()
        .filter_map(|(id, due)| {
            let due = due?;
            let left = due - now;
            let class = if left < 0 {
                "sla-breached"
            } else if left < 3_600_000_000 {
                "sla-soon"
            } else {
                "sla-ok"
            };
            Some((id, QueueSla { left: hm(left), class, due: when(due) }))
        })
        .collect())
}

pub struct NotificationRow {
    pub body: String,
    pub kind: String,
    pub at: String,
    pub unread: bool,
    pub href: String,
}

#[derive(askama::Template)]
#[template(path = "sla_notifications.html")]
struct NotificationsPage {
    p: Chrome,
    rows: Vec<NotificationRow>,
}

pub async fn notifications(State(st): State<AppState>, v: Viewer) -> Result<Response, AppError> {
    let items = svc::notifications(&st.store, &v.caller, false, None, 100).await?;
    let ids: Vec<i64> = items.iter().filter_map(|n| n.record_id).collect();
    let numbers = st.store.record_numbers(&ids).await?;
    let rows = items
        .into_iter()
        .map(|n| NotificationRow {
            href: n
                .record_id
                .and_then(|r| numbers.iter().find(|x| x.0 == r))
                .map(|x| format!("/incidents/{}", x.1))
                .unwrap_or_default(),
            body: n.body,
            kind: n.kind,
            at: when(n.created_at),
            unread: n.read_at.is_none(),
        })
        .collect();
    render(&NotificationsPage { p: v.chrome("notifications"), rows })
}

pub async fn read_all(State(st): State<AppState>, f: Form<super::auth::Empty>) -> Result<Response, AppError> {
    svc::mark_read(&st.store, &f.viewer.caller, None).await?;
    Ok(see_other("/notifications"))
}
