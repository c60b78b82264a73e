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
    let mins = us.unsigned_abs() / 60_000_000;
    // Less than a minute past is "0:00", not "−0:00".
    let sign = if us < 0 && mins > 0 { "−" } else { "" };
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
                event: v.chrome.tr.words_or_stored("sla.ev.", &e.event),
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

pub struct ReportRow {
    pub label: String,
    pub total: i64,
    pub met: i64,
    pub breached: i64,
    pub compliance: String,
    pub avg_response: String,
    pub avg_resolution: String,
}

/// One bar of the chart, laid out on the server: no script draws it.
pub struct Bar {
    pub label: String,
    pub y: i64,
    pub text_y: i64,
    pub width: i64,
    pub value: String,
}

pub struct BreachRow {
    pub number: String,
    pub target: String,
    pub elapsed: String,
    pub target_time: String,
    pub stopped: String,
}

pub struct ChainLine {
    pub kind: String,
    pub label: String,
    pub records: i64,
    pub elapsed: String,
}

#[derive(askama::Template)]
#[template(path = "sla_report.html")]
struct ReportPage {
    p: Chrome,
    errors: super::web::Errors,
    from: String,
    to: String,
    by: String,
    kind: String,
    csv: String,
    rows: Vec<ReportRow>,
    bars: Vec<Bar>,
    chart_height: i64,
    breaches: Vec<BreachRow>,
    chain: Vec<ChainLine>,
}

impl ReportPage {
    fn groupings(&self) -> [&'static str; 5] {
        ["agreement", "service", "organisation", "group", "month"]
    }
}

#[derive(serde::Deserialize, Default)]
pub struct ReportForm {
    from: Option<String>,
    to: Option<String>,
    group_by: Option<String>,
    /// sla (default), ola or uc.
    kind: Option<String>,
}

/// Bar chart geometry: one 24 px row per group, bars up to 300 px for 100 %.
const BAR_ROW: i64 = 24;
const BAR_MAX: i64 = 300;

pub async fn report(
    State(st): State<AppState>,
    v: Viewer,
    axum::extract::Query(f): axum::extract::Query<ReportForm>,
) -> Result<Response, AppError> {
    v.require_agent()?;
    let tr = v.chrome.tr;
    let day =
        |m: i64| jiff::Timestamp::from_microsecond(m).map(|t| t.strftime("%Y-%m-%d").to_string()).unwrap_or_default();
    let mut page = ReportPage {
        p: v.chrome("reports"),
        errors: super::web::Errors::none(),
        from: f.from.clone().unwrap_or_default(),
        to: f.to.clone().unwrap_or_default(),
        by: f.group_by.clone().unwrap_or_else(|| "agreement".into()),
        kind: f.kind.clone().filter(|k| !k.is_empty()).unwrap_or_else(|| "sla".into()),
        csv: String::new(),
        rows: Vec::new(),
        bars: Vec::new(),
        chart_height: 0,
        breaches: Vec::new(),
        chain: Vec::new(),
    };
    let params = match svc::report_params(f.from.as_deref(), f.to.as_deref(), f.group_by.as_deref(), Some(&page.kind)) {
        Ok(p) => p,
        Err(e) => {
            page.errors = super::web::Errors::from_app(e, &tr)?;
            return super::web::render_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    if page.from.is_empty() {
        page.from = day(params.from);
    }
    if page.to.is_empty() {
        // The last day the period covers (see `report_params`).
        page.to = day(params.to - 1);
    }
    let r = svc::report(&st.store, &v.caller, &params).await?;
    page.csv = format!(
        "/api/v1/reports/sla.csv?{}",
        serde_urlencoded::to_string([
            ("from", &page.from),
            ("to", &page.to),
            ("group_by", &page.by),
            ("kind", &page.kind)
        ])
        .unwrap_or_default()
    );
    let avg = |v: Option<i64>| v.map(hm).unwrap_or_default();
    for (n, row) in r.rows.iter().enumerate() {
        let label = if row.label.is_empty() { tr.t("none").to_string() } else { row.label.clone() };
        page.bars.push(Bar {
            label: label.clone(),
            y: n as i64 * BAR_ROW,
            text_y: n as i64 * BAR_ROW + 16,
            width: (row.compliance / 100.0 * BAR_MAX as f64).round() as i64,
            value: format!("{:.1} %", row.compliance),
        });
        page.rows.push(ReportRow {
            label,
            total: row.total,
            met: row.met,
            breached: row.breached,
            compliance: format!("{:.1} %", row.compliance),
            avg_response: avg(row.avg_response_us),
            avg_resolution: avg(row.avg_resolution_us),
        });
    }
    page.chart_height = page.bars.len() as i64 * BAR_ROW;
    page.breaches = r
        .breaches
        .iter()
        .map(|b| BreachRow {
            number: b.number.clone(),
            target: b.target_name.clone(),
            elapsed: hm(b.elapsed_us),
            target_time: hm(b.target_us),
            stopped: when(b.stopped_at),
        })
        .collect();
    page.chain = r
        .chain
        .iter()
        .map(|c| ChainLine {
            kind: c.kind.to_uppercase(),
            label: c.label.clone(),
            records: c.records,
            elapsed: hm(c.elapsed_us),
        })
        .collect();
    render(&page)
}

#[derive(serde::Deserialize, Default)]
pub struct WhatIfForm {
    from: Option<String>,
    to: Option<String>,
    /// Measure every target on this calendar instead.
    calendar_id: Option<String>,
    agreement_id: Option<String>,
    #[serde(default)]
    target: String,
    minutes: Option<String>,
}

pub struct WhatIfLine {
    pub label: String,
    pub total: i64,
    pub before: String,
    pub after: String,
}

#[derive(askama::Template)]
#[template(path = "sla_what_if.html")]
struct WhatIfPage {
    p: Chrome,
    errors: super::web::Errors,
    from: String,
    to: String,
    calendars: Vec<(i64, String)>,
    agreements: Vec<(i64, String)>,
    calendar_id: String,
    agreement_id: String,
    target: String,
    minutes: String,
    ran: bool,
    lines: Vec<WhatIfLine>,
    changed: Vec<varde_store::sla::reports::WhatIfChange>,
}

/// The what-if page: the period replayed on another calendar or with another
/// target, side by side with what was measured. Reads only.
pub async fn what_if(
    State(st): State<AppState>,
    v: Viewer,
    axum::extract::Query(f): axum::extract::Query<WhatIfForm>,
) -> Result<Response, AppError> {
    v.require_agent()?;
    let tr = v.chrome.tr;
    let id = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let mut page = WhatIfPage {
        p: v.chrome("reports"),
        errors: super::web::Errors::none(),
        from: id(&f.from).unwrap_or_default(),
        to: id(&f.to).unwrap_or_default(),
        calendars: st.store.list_calendars(0, 200, None).await?.into_iter().map(|c| (c.id, c.name)).collect(),
        agreements: st.store.agreements(None, 0, 200).await?.into_iter().map(|a| (a.id, a.spec.name)).collect(),
        calendar_id: id(&f.calendar_id).unwrap_or_default(),
        agreement_id: id(&f.agreement_id).unwrap_or_default(),
        target: if f.target.trim().is_empty() { "resolution".into() } else { f.target.trim().to_string() },
        minutes: id(&f.minutes).unwrap_or_default(),
        ran: false,
        lines: Vec::new(),
        changed: Vec::new(),
    };
    if page.calendar_id.is_empty() && page.minutes.is_empty() {
        return render(&page);
    }
    let result = async {
        let p = svc::report_params(f.from.as_deref(), f.to.as_deref(), None, None)?;
        let calendar = match page.calendar_id.parse::<i64>() {
            Ok(c) => Some(
                st.store
                    .calendar(c)
                    .await
                    .map_err(|_| AppError::field("calendar_id", "refers to nothing that exists"))?
                    .spec,
            ),
            Err(_) if page.calendar_id.is_empty() => None,
            Err(_) => return Err(AppError::field("calendar_id", "must be a calendar")),
        };
        let mut targets = Vec::new();
        if !page.minutes.is_empty() {
            let minutes =
                page.minutes.parse::<i64>().map_err(|_| AppError::field("minutes", "must be a whole number"))?;
            let agreement_id =
                page.agreement_id.parse::<i64>().map_err(|_| AppError::field("agreement_id", "choose an agreement"))?;
            targets.push(varde_store::sla::reports::TargetChange {
                agreement_id,
                name: page.target.clone(),
                priority: None,
                minutes,
            });
        }
        let w = varde_store::sla::reports::WhatIf { from: p.from, to: p.to, calendar, calendar_id: None, targets };
        svc::what_if(&st.store, &v.caller, w).await
    }
    .await;
    match result {
        Ok(r) => {
            page.ran = true;
            page.lines = r
                .rows
                .into_iter()
                .map(|x| WhatIfLine {
                    label: x.label,
                    total: x.total,
                    before: format!("{:.1} %", x.compliance_before),
                    after: format!("{:.1} %", x.compliance_after),
                })
                .collect();
            page.changed = r.changed;
            render(&page)
        }
        Err(e) => {
            page.errors = super::web::Errors::from_app(e, &tr)?;
            super::web::render_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::hm;

    #[test]
    fn time_reads_as_hours_and_minutes_with_no_negative_zero() {
        assert_eq!(hm(90 * 60_000_000), "1:30");
        assert_eq!(hm(26 * 3_600_000_000), "26:00");
        assert_eq!(hm(-30_000_000), "0:00");
        assert_eq!(hm(-61 * 60_000_000), "−1:01");
    }
}
