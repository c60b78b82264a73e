//! SLA reports: compliance of the clocks stopped in a period, grouped by
//! agreement, service, customer organisation, group or month; breaches with
//! the OLA/UC chain (which group or supplier had the time); and the what-if
//! replay of the period's clock events against another calendar or other
//! targets, which reads and never writes.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::FromRow;
use varde_domain::sla::agreement::StopOn;
use varde_domain::sla::calendar::{Calendar, CalendarSpec};
use varde_domain::sla::clock::{Clock, Event, WorkingTime};

use super::clocks::{derive, ClockRow, CLOCK_COLUMNS};
use super::worktime;
use crate::sql::{Arg, Sql};
use crate::{Engine, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Agreement,
    Service,
    Organisation,
    Group,
    Month,
}

impl GroupBy {
    pub fn parse(s: &str) -> Option<GroupBy> {
        Some(match s {
            "agreement" => GroupBy::Agreement,
            "service" => GroupBy::Service,
            "organisation" | "customer" => GroupBy::Organisation,
            "group" => GroupBy::Group,
            "month" => GroupBy::Month,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Agreement => "agreement",
            GroupBy::Service => "service",
            GroupBy::Organisation => "organisation",
            GroupBy::Group => "group",
            GroupBy::Month => "month",
        }
    }
}

/// One line of the compliance report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceRow {
    /// The group's id (agreement, service, organisation, group), or the month `YYYY-MM`.
    pub key: String,
    pub label: String,
    pub total: i64,
    pub met: i64,
    pub breached: i64,
    /// Met / total, in percent.
    pub compliance: f64,
    pub avg_response_us: Option<i64>,
    pub avg_resolution_us: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct Breach {
    pub record_id: i64,
    pub number: String,
    pub clock_id: i64,
    pub agreement_id: i64,
    pub target_name: String,
    pub target_us: i64,
    pub elapsed_us: i64,
    pub stopped_at: i64,
    pub reassignment_count: i64,
}

/// Time a group (OLA) or supplier (UC) had on breached SLA clocks' records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainRow {
    pub kind: String,
    pub party_id: i64,
    pub label: String,
    pub records: i64,
    pub elapsed_us: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub from: i64,
    pub to: i64,
    pub group_by: &'static str,
    pub rows: Vec<ComplianceRow>,
    pub breaches: Vec<Breach>,
    pub chain: Vec<ChainRow>,
}

fn pct(met: i64, total: i64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (met as f64 * 1000.0 / total as f64).round() / 10.0
    }
}

/// A change to try in the what-if replay.
#[derive(Debug, Clone, Default)]
pub struct WhatIf {
    pub from: i64,
    pub to: i64,
    /// Measure on this calendar instead ...
    pub calendar: Option<CalendarSpec>,
    /// ... for targets on this calendar only (`None`: every target).
    pub calendar_id: Option<i64>,
    pub targets: Vec<TargetChange>,
}

#[derive(Debug, Clone)]
pub struct TargetChange {
    pub agreement_id: i64,
    pub name: String,
    /// Only records of this priority; `None`: all.
    pub priority: Option<i64>,
    pub minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIfRow {
    pub agreement_id: i64,
    pub label: String,
    pub total: i64,
    pub met_before: i64,
    pub met_after: i64,
    pub compliance_before: f64,
    pub compliance_after: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhatIfChange {
    pub record_id: i64,
    pub number: String,
    pub target_name: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIfResult {
    pub clocks: i64,
    pub rows: Vec<WhatIfRow>,
    /// Records whose outcome would change (at most 200).
    pub changed: Vec<WhatIfChange>,
}

#[derive(FromRow)]
struct ReplayRow {
    id: i64,
    record_id: i64,
    number: String,
    priority: i64,
    agreement_id: i64,
    target_name: String,
    target_us: i64,
    calendar_id: Option<i64>,
    state: String,
    elapsed_us: i64,
}

impl Store {
    async fn names(&self, table: &str, ids: Vec<i64>) -> Result<HashMap<i64, String>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut q = Sql::new(&format!("SELECT id, name FROM {table} WHERE id IN "));
        q.bind_list(ids.into_iter().map(Arg::Int));
        let rows: Vec<(i64, String)> = q.query_as().fetch_all(self.pool()).await?;
        Ok(rows.into_iter().collect())
    }

    /// The OLA/UC chain of the SLAs breached in `[from, to)`: per group or
    /// supplier (`kind, party`), the records and the business time its
    /// clocks with the same target had, most time first.
    async fn chain(&self, from: i64, to: i64) -> Result<Vec<(String, i64, i64, i64)>, StoreError> {
        const CHAIN: &str = "FROM sla_clocks s JOIN sla_clocks o
             ON o.record_id = s.record_id AND o.target_name = s.target_name AND o.kind <> 'sla'
             WHERE s.kind = 'sla' AND s.state = 'breached' AND s.stopped_at >= $1 AND s.stopped_at < $2 AND s.cancelled = 0";
        // Both reads see one snapshot: a clock that stopped between them
        // would otherwise be counted in neither.
        let mut conn = self.pool().begin().await?;
        if self.engine() == Engine::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut *conn).await?;
        }
        // A stopped clock's stored elapsed time is final; one still running
        // (or paused) has it only as of its last event, so its figure is
        // derived from its spans below, on its calendar as it is now.
        // The last column counts those: usually none, and then the second
        // read (as long as this one) is not made.
        let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(&format!(
            "SELECT o.kind, o.party_id, COUNT(DISTINCT o.record_id),
                CAST(SUM(CASE WHEN o.stopped_at IS NULL THEN 0 ELSE o.elapsed_us END) AS BIGINT),
                CAST(SUM(CASE WHEN o.stopped_at IS NULL THEN 1 ELSE 0 END) AS BIGINT)
             {CHAIN} GROUP BY o.kind, o.party_id"
        ))
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
        let running: i64 = rows.iter().map(|r| r.4).sum();
        let mut chain: Vec<(String, i64, i64, i64)> = rows.into_iter().map(|r| (r.0, r.1, r.2, r.3)).collect();
        if running > 0 {
            let columns: Vec<String> = CLOCK_COLUMNS.split(',').map(|c| format!("o.{}", c.trim())).collect();
            let open: Vec<ClockRow> =
                sqlx::query_as(&format!("SELECT {} {CHAIN} AND o.stopped_at IS NULL", columns.join(", ")))
                    .bind(from)
                    .bind(to)
                    .fetch_all(&mut *conn)
                    .await?;
            let ids: Vec<i64> = open.iter().filter_map(|r| r.calendar_id).collect();
            let cals = worktime::load_in(&mut conn, &ids).await?;
            let now = crate::now_micros();
            for row in &open {
                let elapsed = derive(&row.clock()?, cals.get(row.calendar_id).as_ref(), row.target_us, now).elapsed_us;
                if let Some(c) = chain.iter_mut().find(|c| c.0 == row.kind && c.1 == row.party_id) {
                    c.3 += elapsed;
                }
            }
        }
        conn.commit().await?;
        chain.sort_by(|a, b| b.3.cmp(&a.3).then_with(|| (&a.0, a.1).cmp(&(&b.0, b.1))));
        Ok(chain)
    }

    /// Compliance of the SLA clocks (or `kind`'s) stopped in `[from, to)`.
    pub async fn sla_report(&self, kind: &str, from: i64, to: i64, by: GroupBy) -> Result<Report, StoreError> {
        let key = match (by, self.engine()) {
            (GroupBy::Agreement, _) => "CAST(c.agreement_id AS TEXT)".to_string(),
            (GroupBy::Service, _) => "CAST(i.service_id AS TEXT)".to_string(),
            (GroupBy::Organisation, _) => "CAST(u.organisation_id AS TEXT)".to_string(),
            (GroupBy::Group, _) => "CAST(r.assignment_group_id AS TEXT)".to_string(),
            (GroupBy::Month, Engine::Sqlite) => "strftime('%Y-%m', c.stopped_at / 1000000, 'unixepoch')".to_string(),
            (GroupBy::Month, Engine::Postgres) => {
                "to_char(to_timestamp(c.stopped_at / 1000000) AT TIME ZONE 'UTC', 'YYYY-MM')".to_string()
            }
        };
        // Only what the grouping needs is joined: the report runs over every
        // clock of the period.
        let joins = match by {
            GroupBy::Agreement | GroupBy::Month => "",
            GroupBy::Service => " JOIN incidents i ON i.record_id = c.record_id",
            GroupBy::Group => " JOIN records r ON r.id = c.record_id",
            GroupBy::Organisation => " JOIN records r ON r.id = c.record_id JOIN users u ON u.id = r.requester_id",
        };
        // Per target as well: what a target measures is its agreement's to
        // say (a "First response" that stops on the response), not its name.
        let sql = format!(
            "SELECT {key} AS k, c.agreement_id, c.target_name, COUNT(*) AS total,
                CAST(SUM(CASE WHEN c.state = 'met' THEN 1 ELSE 0 END) AS BIGINT) AS met,
                CAST(SUM(CASE WHEN c.state = 'breached' THEN 1 ELSE 0 END) AS BIGINT) AS breached,
                CAST(SUM(c.elapsed_us) AS BIGINT) AS elapsed
             FROM sla_clocks c{joins}
             WHERE c.kind = $1 AND c.stopped_at >= $2 AND c.stopped_at < $3 AND c.cancelled = 0
             GROUP BY {key}, c.agreement_id, c.target_name ORDER BY {key}"
        );
        #[allow(clippy::type_complexity)]
        let raw: Vec<(Option<String>, i64, String, i64, i64, i64, i64)> =
            sqlx::query_as(&sql).bind(kind).bind(from).bind(to).fetch_all(self.pool()).await?;
        let mut named: Vec<i64> = raw.iter().map(|r| r.1).collect();
        named.sort_unstable();
        named.dedup();
        let agreements = self.agreements_by_id(&named).await?;
        // What each target stops on; nothing for one its agreement no longer
        // names (or an agreement deleted since).
        let measures: HashMap<(i64, String), Option<StopOn>> = raw
            .iter()
            .map(|(_, agreement_id, target, ..)| {
                let stop_on = agreements
                    .get(agreement_id)
                    .and_then(|a| a.spec.targets.iter().find(|t| &t.name == target))
                    .map(|t| t.stop_on());
                ((*agreement_id, target.clone()), stop_on)
            })
            .collect();
        // key -> (total, met, breached, response sum, n, resolution sum, n)
        let mut per: Vec<(Option<String>, [i64; 7])> = Vec::new();
        for (k, agreement_id, target, total, met, breached, elapsed) in raw {
            if per.last().is_none_or(|(last, _)| *last != k) {
                per.push((k.clone(), [0; 7]));
            }
            let sums = &mut per.last_mut().expect("pushed").1;
            sums[0] += total;
            sums[1] += met;
            sums[2] += breached;
            match measures.get(&(agreement_id, target)).copied().flatten() {
                Some(StopOn::Response) => {
                    sums[3] += elapsed;
                    sums[4] += total;
                }
                Some(StopOn::Resolution) => {
                    sums[5] += elapsed;
                    sums[6] += total;
                }
                // A target that stops on the first move out of New is
                // neither, as is one its agreement no longer names.
                _ => {}
            }
        }
        let ids: Vec<i64> = per.iter().filter_map(|r| r.0.as_deref().and_then(|k| k.parse().ok())).collect();
        let labels = match by {
            GroupBy::Agreement => self.names("slas", ids).await?,
            GroupBy::Service => self.names("services", ids).await?,
            GroupBy::Organisation => self.names("organisations", ids).await?,
            GroupBy::Group => self.names("assignment_groups", ids).await?,
            GroupBy::Month => HashMap::new(),
        };
        let rows = per
            .into_iter()
            .map(|(k, [total, met, breached, rs, rn, ss, sn])| {
                let key = k.unwrap_or_default();
                let label = match by {
                    GroupBy::Month => key.clone(),
                    // Records with no service, organisation or group: a
                    // row of their own, which a blank label would hide.
                    _ if key.is_empty() => "(none)".to_string(),
                    _ => key.parse::<i64>().ok().and_then(|id| labels.get(&id).cloned()).unwrap_or_default(),
                };
                ComplianceRow {
                    key,
                    label,
                    total,
                    met,
                    breached,
                    compliance: pct(met, total),
                    avg_response_us: (rn > 0).then(|| rs / rn),
                    avg_resolution_us: (sn > 0).then(|| ss / sn),
                }
            })
            .collect();
        let breaches: Vec<Breach> = sqlx::query_as(
            "SELECT c.record_id, r.number, c.id AS clock_id, c.agreement_id, c.target_name, c.target_us, c.elapsed_us,
                c.stopped_at, i.reassignment_count
             FROM sla_clocks c JOIN records r ON r.id = c.record_id JOIN incidents i ON i.record_id = c.record_id
             WHERE c.kind = $1 AND c.state = 'breached' AND c.stopped_at >= $2 AND c.stopped_at < $3 AND c.cancelled = 0
             ORDER BY c.stopped_at DESC, c.id DESC LIMIT 200",
        )
        .bind(kind)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        let raw_chain = self.chain(from, to).await?;
        let groups =
            self.names("assignment_groups", raw_chain.iter().filter(|c| c.0 == "ola").map(|c| c.1).collect()).await?;
        let suppliers =
            self.names("suppliers", raw_chain.iter().filter(|c| c.0 == "uc").map(|c| c.1).collect()).await?;
        let chain = raw_chain
            .into_iter()
            .map(|(kind, party_id, records, elapsed_us)| {
                let label = if kind == "ola" { groups.get(&party_id) } else { suppliers.get(&party_id) };
                ChainRow { label: label.cloned().unwrap_or_default(), kind, party_id, records, elapsed_us }
            })
            .collect();
        Ok(Report { from, to, group_by: by.as_str(), rows, breaches, chain })
    }

    /// Replays the SLA clocks stopped in the period from their stored events,
    /// once as configured and once with the change, and compares. Reads
    /// only: nothing is written.
    pub async fn sla_what_if(&self, w: WhatIf) -> Result<WhatIfResult, StoreError> {
        let new_cal: Option<Calendar> = w.calendar.as_ref().map(Calendar::compile).transpose()?;
        let clocks: Vec<ReplayRow> = sqlx::query_as(
            "SELECT c.id, c.record_id, r.number, COALESCE(c.priority, r.priority) AS priority, c.agreement_id, c.target_name, c.target_us, c.calendar_id, c.state, c.elapsed_us
             FROM sla_clocks c JOIN records r ON r.id = c.record_id
             WHERE c.kind = 'sla' AND c.stopped_at >= $1 AND c.stopped_at < $2 AND c.cancelled = 0 ORDER BY c.id",
        )
        .bind(w.from)
        .bind(w.to)
        .fetch_all(self.pool())
        .await?;
        let mut per: HashMap<i64, (i64, i64, i64)> = HashMap::new();
        let mut changed = Vec::new();
        for chunk in clocks.chunks(500) {
            let mut q = Sql::new("SELECT clock_id, at, event FROM sla_clock_events WHERE clock_id IN ");
            q.bind_list(chunk.iter().map(|c| Arg::Int(c.id)));
            q.push(" ORDER BY clock_id, id");
            let evs: Vec<(i64, i64, String)> = q.query_as().fetch_all(self.pool()).await?;
            let mut by_clock: HashMap<i64, Vec<(Event, i64)>> = HashMap::new();
            for (id, at, e) in evs {
                if let Some(e) = Event::parse(&e) {
                    by_clock.entry(id).or_default().push((e, at));
                }
            }
            for c in chunk {
                let clock = Clock::replay(by_clock.get(&c.id).map(|v| v.as_slice()).unwrap_or(&[]));
                let Some(stop) = clock.stopped_at else { continue };
                // Before: the result as measured and reported, not a
                // replay on the calendar as it is now (it may have changed
                // since; ADR 0009).
                let elapsed_before = c.elapsed_us;
                let met_before = c.state == "met";
                let swap = new_cal.is_some() && (w.calendar_id.is_none() || w.calendar_id == c.calendar_id);
                let elapsed_after = match (&new_cal, swap) {
                    (Some(nc), true) => clock.elapsed(nc as &dyn WorkingTime, stop),
                    _ => elapsed_before,
                };
                let target_after = w
                    .targets
                    .iter()
                    .find(|t| {
                        t.agreement_id == c.agreement_id
                            && t.name == c.target_name
                            && t.priority.is_none_or(|p| p == c.priority)
                    })
                    .map(|t| t.minutes * 60_000_000)
                    .unwrap_or(c.target_us);
                let met_after = elapsed_after <= target_after;
                let e = per.entry(c.agreement_id).or_default();
                e.0 += 1;
                e.1 += met_before as i64;
                e.2 += met_after as i64;
                if met_before != met_after && changed.len() < 200 {
                    let word = |m: bool| if m { "met" } else { "breached" }.to_string();
                    changed.push(WhatIfChange {
                        record_id: c.record_id,
                        number: c.number.clone(),
                        target_name: c.target_name.clone(),
                        before: word(met_before),
                        after: word(met_after),
                    });
                }
            }
        }
        let labels = self.names("slas", per.keys().copied().collect()).await?;
        let mut rows: Vec<WhatIfRow> = per
            .into_iter()
            .map(|(id, (total, b, a))| WhatIfRow {
                agreement_id: id,
                label: labels.get(&id).cloned().unwrap_or_default(),
                total,
                met_before: b,
                met_after: a,
                compliance_before: pct(b, total),
                compliance_after: pct(a, total),
            })
            .collect();
        rows.sort_by_key(|r| r.agreement_id);
        Ok(WhatIfResult { clocks: rows.iter().map(|r| r.total).sum(), rows, changed })
    }
}
