//! Service level management as callers see it: who may configure
//! agreements and suppliers, read clocks, set an incident's supplier, read
//! their notifications, and run reports and what-if simulations.

use serde_json::Value;
use varde_domain::access::Permission;
use varde_domain::sla::agreement::{Agreement, AgreementSpec, Kind};
use varde_domain::FieldError;
use varde_store::idempotency::IdempotencyKey;
use varde_store::sla::clocks::{ClockEventRow, SlaClock};
use varde_store::sla::notifications::Notification;
use varde_store::sla::reports::{GroupBy, Report, WhatIf, WhatIfResult};
use varde_store::sla::{Supplier, SupplierInput};
use varde_store::Store;

use crate::auth::Caller;
use crate::error::AppError;

/// Makes an agreement; under an `Idempotency-Key`, a retry returns the
/// first one (and `true`).
pub async fn create_agreement(
    store: &Store,
    caller: &Caller,
    spec: AgreementSpec,
    idem: Option<IdempotencyKey>,
) -> Result<(Agreement, bool), AppError> {
    caller.require(Permission::ManageConfiguration)?;
    Ok(store.create_agreement_once(spec, caller.id(), idem).await?)
}

pub async fn agreement(store: &Store, caller: &Caller, id: i64) -> Result<Agreement, AppError> {
    caller.require(Permission::WorkRecords)?;
    Ok(store.agreement(id).await?)
}

pub async fn agreements(
    store: &Store,
    caller: &Caller,
    kind: Option<Kind>,
    after: i64,
    limit: i64,
) -> Result<Vec<Agreement>, AppError> {
    caller.require(Permission::WorkRecords)?;
    Ok(store.agreements(kind, after, limit).await?)
}

/// RFC 7386 JSON merge patch: objects merge member by member, `null`
/// removes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// Applies a JSON merge patch to an agreement.
pub async fn update_agreement(
    store: &Store,
    caller: &Caller,
    id: i64,
    expected_version: Option<i64>,
    patch: Value,
) -> Result<Agreement, AppError> {
    caller.require(Permission::ManageConfiguration)?;
    let current = store.agreement(id).await?;
    if !patch.is_object() {
        return Err(AppError::field("body", "must be a JSON object"));
    }
    let mut doc = serde_json::to_value(&current.spec).map_err(|e| AppError::Internal(e.to_string()))?;
    merge_patch(&mut doc, &patch);
    let raw = serde_json::to_vec(&doc).map_err(|e| AppError::Internal(e.to_string()))?;
    let spec: AgreementSpec = crate::api::parse_json(&raw)?;
    Ok(store.update_agreement(id, expected_version, spec, caller.id()).await?)
}

/// Replaces an agreement whole, as the admin form sends it.
pub async fn replace_agreement(
    store: &Store,
    caller: &Caller,
    id: i64,
    expected_version: Option<i64>,
    spec: AgreementSpec,
) -> Result<Agreement, AppError> {
    caller.require(Permission::ManageConfiguration)?;
    Ok(store.update_agreement(id, expected_version, spec, caller.id()).await?)
}

pub async fn create_supplier(
    store: &Store,
    caller: &Caller,
    name: String,
    idem: Option<IdempotencyKey>,
) -> Result<(Supplier, bool), AppError> {
    caller.require(Permission::ManageConfiguration)?;
    Ok(store.create_supplier_once(SupplierInput { name }, idem).await?)
}

pub async fn suppliers(store: &Store, caller: &Caller) -> Result<Vec<Supplier>, AppError> {
    caller.require(Permission::WorkRecords)?;
    Ok(store.suppliers().await?)
}

/// An incident's SLA picture: its clocks now, their history, its supplier
/// and whether it is escalated. Agents only: clocks are the desk's business.
pub struct RecordSla {
    pub record_id: i64,
    pub supplier_id: Option<i64>,
    pub escalated: bool,
    pub clocks: Vec<SlaClock>,
    pub events: Vec<ClockEventRow>,
}

pub async fn record_sla(store: &Store, caller: &Caller, key: &str) -> Result<RecordSla, AppError> {
    let incident = crate::service::incidents::get(store, caller, key).await?;
    caller.require(Permission::WorkRecords)?;
    let (supplier_id, escalated) = store.sla_flags(incident.id).await?;
    Ok(RecordSla {
        record_id: incident.id,
        supplier_id,
        escalated,
        clocks: store.clocks(incident.id).await?,
        events: store.clock_events(incident.id).await?,
    })
}

pub async fn set_supplier(store: &Store, caller: &Caller, key: &str, supplier: Option<i64>) -> Result<(), AppError> {
    let incident = crate::service::incidents::get(store, caller, key).await?;
    caller.require(Permission::WorkRecords)?;
    if incident.lifecycle.state.is_final() {
        return Err(AppError::Transition(format!(
            "a {} incident cannot be changed",
            incident.lifecycle.state.as_str()
        )));
    }
    Ok(store.set_supplier(incident.id, supplier, caller.id()).await?)
}

pub async fn notifications(
    store: &Store,
    caller: &Caller,
    unread_only: bool,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Notification>, AppError> {
    Ok(store.notifications(caller.id(), unread_only, before, limit).await?)
}

pub async fn unread_count(store: &Store, caller: &Caller) -> Result<i64, AppError> {
    Ok(store.unread_notifications(caller.id()).await?)
}

pub async fn mark_read(store: &Store, caller: &Caller, id: Option<i64>) -> Result<u64, AppError> {
    let n = store.mark_notifications_read(caller.id(), id).await?;
    if id.is_some() && n == 0 {
        // Someone else's, already read, or none at all: nothing to say which.
        let mine = store.notifications(caller.id(), false, id.map(|i| i + 1), 1).await?;
        if mine.first().map(|n| Some(n.id)) != Some(id) {
            return Err(AppError::NotFound);
        }
    }
    Ok(n)
}

/// The period and grouping of a report, checked.
pub struct ReportParams {
    pub from: i64,
    pub to: i64,
    pub by: GroupBy,
    pub kind: Kind,
}

/// Reads `from`/`to` (RFC 3339 instants or `YYYY-MM-DD` dates, UTC; default
/// the last 30 days), `group_by` and `kind`, naming every bad one at once.
pub fn report_params(
    from: Option<&str>,
    to: Option<&str>,
    group_by: Option<&str>,
    kind: Option<&str>,
) -> Result<ReportParams, AppError> {
    let mut errors = Vec::new();
    let now = varde_store::now_micros();
    // A date given as the end means all of that day, as a person reading
    // "to 2026-11-23" does (and as the report form shows today's date for
    // a period that ends now): the period ends at the next midnight.
    let mut instant = |field: &str, v: Option<&str>, default: i64, through_day: bool| -> i64 {
        match v.map(str::trim).filter(|v| !v.is_empty()) {
            None => default,
            Some(s) => {
                if let Ok(t) = s.parse::<jiff::Timestamp>() {
                    return t.as_microsecond();
                }
                if let Ok(d) = s.parse::<jiff::civil::Date>() {
                    // The end of the day after 9999-12-30 is past the last
                    // instant a timestamp can hold.
                    let end = if through_day { d.tomorrow().ok() } else { Some(d) };
                    match end.and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok()) {
                        Some(z) => return z.timestamp().as_microsecond(),
                        None => {
                            errors.push(varde_domain::FieldError::new(field, "must be a date before 9999-12-30"));
                            return default;
                        }
                    }
                }
                errors.push(varde_domain::FieldError::new(field, "must be a date (2026-11-01) or an RFC 3339 instant"));
                default
            }
        }
    };
    let from = instant("from", from, now - 30 * 86_400_000_000, false);
    let to = instant("to", to, now, true);
    let by = match group_by {
        None | Some("") => GroupBy::Agreement,
        Some(g) => GroupBy::parse(g).unwrap_or_else(|| {
            errors.push(varde_domain::FieldError::new(
                "group_by",
                "must be agreement, service, organisation, group or month",
            ));
            GroupBy::Agreement
        }),
    };
    let kind = match kind {
        None | Some("") => Kind::Sla,
        Some(k) => Kind::parse("kind", k).unwrap_or_else(|e| {
            if let varde_domain::DomainError::Invalid(f) = e {
                errors.extend(f);
            }
            Kind::Sla
        }),
    };
    if errors.is_empty() && from >= to {
        errors.push(varde_domain::FieldError::new("to", "must be after from"));
    }
    if errors.is_empty() && to - from > 3 * 366 * 86_400_000_000 {
        errors.push(varde_domain::FieldError::new("to", "a report covers at most three years"));
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok(ReportParams { from, to, by, kind })
}

pub async fn report(store: &Store, caller: &Caller, p: &ReportParams) -> Result<Report, AppError> {
    caller.require(Permission::WorkRecords)?;
    Ok(store.sla_report(p.kind.as_str(), p.from, p.to, p.by).await?)
}

pub async fn what_if(store: &Store, caller: &Caller, mut w: WhatIf) -> Result<WhatIfResult, AppError> {
    caller.require(Permission::WorkRecords)?;
    if w.from >= w.to {
        return Err(AppError::field("to", "must be after from"));
    }
    if w.calendar.is_none() && w.targets.is_empty() {
        return Err(AppError::field("calendar", "give a calendar or targets to try"));
    }
    // Every fault at once, the named agreements read in one go.
    let mut errs = Vec::new();
    let ids: Vec<i64> = w.targets.iter().map(|t| t.agreement_id).collect();
    let read = store.agreements_by_id(&ids).await?;
    for (i, t) in w.targets.iter_mut().enumerate() {
        let at = |f: &str| format!("targets[{i}].{f}");
        if t.minutes <= 0 || t.minutes > varde_domain::sla::agreement::MAX_TARGET_MINUTES {
            errs.push(FieldError::new(at("minutes"), "must be from 1 minute to a year"));
        }
        if t.priority.is_some_and(|p| !(1..=5).contains(&p)) {
            errs.push(FieldError::new(at("priority"), "must be from 1 to 5"));
        }
        let Some(agreement) = read.get(&t.agreement_id) else {
            errs.push(FieldError::new(at("agreement_id"), "refers to nothing that exists"));
            continue;
        };
        if agreement.spec.kind != Kind::Sla {
            errs.push(FieldError::new(at("agreement_id"), "is not an SLA: the what-if replays SLA clocks"));
            continue;
        }
        // A change that matches no target would answer "no difference",
        // which reads as a finding; say what is wrong instead.
        // A name as typed ("resolution" for "Resolution") is the target's
        // if it is the only one so named ignoring case.
        let mut like: Vec<&str> = agreement
            .spec
            .targets
            .iter()
            .map(|x| x.name.as_str())
            .filter(|n| n.eq_ignore_ascii_case(&t.name))
            .collect();
        like.sort_unstable();
        like.dedup();
        if !like.contains(&t.name.as_str()) {
            if let [only] = like.as_slice() {
                t.name = only.to_string();
            }
        }
        let named: Vec<_> = agreement.spec.targets.iter().filter(|x| x.name == t.name).collect();
        if named.is_empty() {
            // Each name once: an agreement has a target of a name per priority.
            let mut names: Vec<&str> = agreement.spec.targets.iter().map(|x| x.name.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            errs.push(FieldError::new(
                at("name"),
                format!("{} has no target of that name (it has {})", agreement.spec.name, names.join(", ")),
            ));
        } else if let Some(p) = t.priority {
            if !named.iter().any(|x| x.priority.is_none_or(|q| q == p)) {
                errs.push(FieldError::new(
                    at("priority"),
                    format!("{}'s {} target does not apply to priority {p}", agreement.spec.name, t.name),
                ));
            }
        }
    }
    if let Some(id) = w.calendar_id {
        match store.calendar(id).await {
            Ok(_) => {}
            Err(varde_store::StoreError::NotFound) => {
                errs.push(FieldError::new("calendar_id", "refers to nothing that exists"))
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !errs.is_empty() {
        return Err(AppError::Invalid(errs));
    }
    Ok(store.sla_what_if(w).await?)
}

/// A text cell of a report CSV: quoted, and defused with a leading
/// apostrophe when a spreadsheet would run it as a formula.
pub(crate) fn csv_cell(s: &str) -> String {
    let s = super::defuse(s);
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A report as CSV: one line per group, text cells quoted, and cells a
/// spreadsheet would run as a formula defused (see [`csv_cell`]).
pub fn report_csv(r: &Report) -> String {
    let cell = csv_cell;
    let secs = |v: Option<i64>| v.map(|v| (v / 1_000_000).to_string()).unwrap_or_default();
    let mut out =
        String::from("key,label,total,met,breached,compliance_percent,avg_response_seconds,avg_resolution_seconds\r\n");
    for row in &r.rows {
        out.push_str(&format!(
            "{},{},{},{},{},{:.1},{},{}\r\n",
            cell(&row.key),
            cell(&row.label),
            row.total,
            row.met,
            row.breached,
            row.compliance,
            secs(row.avg_response_us),
            secs(row.avg_resolution_us)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(from: Option<&str>, to: Option<&str>) -> Vec<(String, String)> {
        match report_params(from, to, None, None) {
            Err(AppError::Invalid(errs)) => errs.into_iter().map(|e| (e.field, e.message)).collect(),
            Err(e) => panic!("not a field error: {e:?}"),
            Ok(_) => Vec::new(),
        }
    }

    #[test]
    fn a_date_as_the_end_counts_that_whole_day() {
        let p = report_params(Some("2026-11-01"), Some("2026-11-23"), None, None).unwrap();
        assert_eq!(p.from, "2026-11-01T00:00:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond());
        assert_eq!(p.to, "2026-11-24T00:00:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond());
    }

    #[test]
    fn dates_past_the_last_instant_say_so() {
        let general = "must be a date (2026-11-01) or an RFC 3339 instant";
        assert_eq!(refusal(Some("2026-11-01"), Some("soon")), vec![("to".into(), general.into())]);
        assert_eq!(
            refusal(Some("9999-12-01"), Some("9999-12-31")),
            vec![("to".into(), "must be a date before 9999-12-30".into())]
        );
        assert_eq!(refusal(Some("9999-12-31"), None), vec![("from".into(), "must be a date before 9999-12-30".into())]);
        // The last day whose end can be counted.
        assert!(report_params(Some("9999-12-01"), Some("9999-12-29"), None, None).is_ok());
    }
}
