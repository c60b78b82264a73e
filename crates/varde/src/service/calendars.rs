//! Business calendars as callers see them: agents read them and ask for due instants,
//! administrators create and change them and import holiday files.
//!
//! Every write compiles the resulting spec with the domain first, so a calendar that the
//! arithmetic would refuse (overlaps, unknown zone, no working time) never reaches the store.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use varde_domain::access::Permission;
use varde_domain::error::Problems;
use varde_domain::sla::calendar::{Calendar, CalendarSpec, DateOverride, Exception, WeeklyHours};
use varde_domain::sla::ics;
use varde_domain::text;
use varde_store::calendars::{CalendarFields, CalendarRecord};
use varde_store::idempotency::IdempotencyKey;
use varde_store::Store;

use crate::auth::Caller;
use crate::error::AppError;

/// A whole calendar as written by a caller: its name and its spec, flat.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// IANA time zone name, e.g. `Europe/Copenhagen`.
    pub time_zone: String,
    /// Working hours per weekday: `{"monday": [{"start": "08:00", "end": "12:00"}, ...], ...}`.
    #[schema(value_type = Object)]
    pub weekly: WeeklyHours,
    /// Holidays and closures: `{"name", "date": "YYYY-MM-DD", "yearly": bool, "closed": [ranges]}`
    /// (no `closed` ranges: the whole day).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub exceptions: Vec<Exception>,
    /// Dates with their own hours: `{"date", "hours": [ranges], "note"}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub overrides: Vec<DateOverride>,
}

impl CalendarInput {
    pub fn spec(&self) -> CalendarSpec {
        CalendarSpec {
            time_zone: self.time_zone.trim().to_string(),
            weekly: self.weekly.clone(),
            exceptions: self.exceptions.clone(),
            overrides: self.overrides.clone(),
        }
    }

    pub fn of(c: &CalendarRecord) -> CalendarInput {
        CalendarInput {
            name: c.name.clone(),
            description: c.description.clone(),
            time_zone: c.spec.time_zone.clone(),
            weekly: c.spec.weekly.clone(),
            exceptions: c.spec.exceptions.clone(),
            overrides: c.spec.overrides.clone(),
        }
    }
}

/// Validates name, description and spec together, so the caller hears every problem at once.
fn fields(input: CalendarInput) -> Result<CalendarFields, AppError> {
    let mut p = Problems::new();
    let name = p.check(text::line("name", &input.name, text::NAME_MAX));
    let description = p.check(text::body("description", &input.description, 2000));
    let mut spec = input.spec();
    p.check(spec.check_repeats());
    if let Some(c) = p.check(compiled(&spec)) {
        // Zone names are looked up without regard to case; keep the canonical spelling.
        if let Some(name) = c.time_zone().iana_name() {
            spec.time_zone = name.to_string();
        }
    }
    p.into_result()?;
    let (Some(name), Some(description)) = (name, description) else { unreachable!("problems were reported") };
    Ok(CalendarFields { name, description, spec })
}

/// Compiled calendars by spec, so that repeated due-instant questions (and the SLA clocks)
/// reuse the year tables already built. Keyed by the spec itself, not an id, so it can never
/// answer with a stale or another database's calendar.
static COMPILED: LazyLock<Mutex<HashMap<String, Calendar>>> = LazyLock::new(|| Mutex::new(HashMap::new()));
const COMPILED_MAX: usize = 256;

/// The compiled calendar of a spec, from the cache when the same spec was compiled before.
pub fn compiled(spec: &CalendarSpec) -> Result<Calendar, varde_domain::DomainError> {
    let key = serde_json::to_string(spec).expect("a calendar spec serialises");
    if let Some(c) = COMPILED.lock().expect("calendar cache").get(&key) {
        return Ok(c.clone());
    }
    let c = Calendar::compile(spec)?;
    let mut cache = COMPILED.lock().expect("calendar cache");
    if cache.len() >= COMPILED_MAX {
        // Calendars are few; a full cache means many edits. Start over rather than track age.
        cache.clear();
    }
    cache.insert(key, c.clone());
    Ok(c)
}

/// The compiled calendar with this id, for other services (the SLA clocks): no rights check,
/// the caller has done its own.
pub async fn calendar_of(store: &Store, id: i64) -> Result<Calendar, AppError> {
    let record = store.calendar(id).await?;
    Ok(compiled(&record.spec)?)
}

pub async fn list(
    store: &Store,
    caller: &Caller,
    after: i64,
    limit: i64,
    q: Option<&str>,
) -> Result<Vec<CalendarRecord>, AppError> {
    caller.require(Permission::WorkRecords)?;
    Ok(store.list_calendars(after, limit, q).await?)
}

pub async fn get(store: &Store, caller: &Caller, id: i64) -> Result<CalendarRecord, AppError> {
    caller.require(Permission::WorkRecords)?;
    Ok(store.calendar(id).await?)
}

/// Makes a calendar; under an `Idempotency-Key`, a retry returns the first
/// one (and `true`).
pub async fn create(
    store: &Store,
    caller: &Caller,
    input: CalendarInput,
    idem: Option<IdempotencyKey>,
) -> Result<(CalendarRecord, bool), AppError> {
    caller.require(Permission::ManageCalendars)?;
    let f = fields(input)?;
    Ok(store.create_calendar_once(f, Some(caller.id()), idem).await?)
}

/// Applies a JSON merge patch (RFC 7396) to the calendar as [`CalendarInput`] shows it: objects
/// merge (so `{"weekly": {"saturday": [...]}}` changes Saturday only), lists are replaced whole.
pub async fn update(
    store: &Store,
    caller: &Caller,
    id: i64,
    expected_version: Option<i64>,
    patch: Value,
) -> Result<CalendarRecord, AppError> {
    caller.require(Permission::ManageCalendars)?;
    let current = store.calendar(id).await?;
    if let Some(v) = expected_version {
        if v != current.version {
            return Err(AppError::Stale { current: current.version });
        }
    }
    let mut doc = serde_json::to_value(CalendarInput::of(&current)).expect("serialises");
    merge_patch(&mut doc, &patch);
    let input: CalendarInput = from_value(doc)?;
    let f = fields(input)?;
    // The store checks the version again inside its write, so a change between our read and
    // the write is still caught.
    Ok(store.update_calendar(id, Some(current.version), f, caller.id()).await?)
}

pub async fn delete(store: &Store, caller: &Caller, id: i64, expected_version: Option<i64>) -> Result<(), AppError> {
    caller.require(Permission::ManageCalendars)?;
    Ok(store.delete_calendar(id, expected_version, caller.id()).await?)
}

/// RFC 7396: `null` removes a member, objects merge recursively, anything else replaces.
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
        (t, p) => {
            let mut p = p.clone();
            // A patch object merged into a non-object starts from an empty object.
            if let Value::Object(_) = p {
                let mut empty = Value::Object(Default::default());
                merge_patch(&mut empty, &p);
                p = empty;
            }
            *t = p;
        }
    }
}

/// Reads a JSON value as `T`, naming the field that is wrong.
fn from_value<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, AppError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.into_inner().to_string();
        let field = if path == "." { msg.split('`').nth(1).unwrap_or("body").to_string() } else { path };
        AppError::field(&field, &msg)
    })
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportOutcome {
    /// The exceptions read from the file that the calendar did not have yet.
    #[schema(value_type = Vec<Object>)]
    pub added: Vec<Exception>,
    /// How many of the file's exceptions the calendar had already.
    pub unchanged: usize,
    pub dry_run: bool,
}

/// Reads an iCalendar holiday file into the calendar's exceptions. Exceptions already present
/// (same name, date, recurrence and ranges) are not added twice, so importing the same file
/// again changes nothing. A dry run validates everything and reports, but writes nothing.
pub async fn import_holidays(
    store: &Store,
    caller: &Caller,
    id: i64,
    expected_version: Option<i64>,
    ics_text: &str,
    dry_run: bool,
) -> Result<(ImportOutcome, CalendarRecord), AppError> {
    caller.require(Permission::ManageCalendars)?;
    let current = store.calendar(id).await?;
    if let Some(v) = expected_version {
        if v != current.version {
            return Err(AppError::Stale { current: current.version });
        }
    }
    let zone = compiled(&current.spec)?.time_zone().clone();
    let read = ics::parse(ics_text, &zone)?;
    let mut input = CalendarInput::of(&current);
    let mut added = Vec::new();
    let mut unchanged = 0;
    for e in read {
        if input.exceptions.contains(&e) || added.contains(&e) {
            unchanged += 1;
        } else {
            added.push(e);
        }
    }
    input.exceptions.extend(added.iter().cloned());
    let f = fields(input)?;
    let outcome = ImportOutcome { added, unchanged, dry_run };
    if dry_run || outcome.added.is_empty() {
        return Ok((outcome, current));
    }
    let saved = store.update_calendar(id, Some(current.version), f, caller.id()).await?;
    Ok((outcome, saved))
}

/// A business-time question: either the working time between two instants, or the instant at
/// which an amount of working time has passed after a start.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BusinessTimeQuery {
    /// With `to`: RFC 3339 instant.
    pub from: Option<String>,
    pub to: Option<String>,
    /// With `add`: RFC 3339 instant.
    pub start: Option<String>,
    /// Working time to add, ISO 8601 (`PT4H`, `PT22H30M`; negative `-PT4H` goes back) or
    /// friendly (`4h 30m`).
    pub add: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BusinessTime {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add: Option<String>,
    /// The due instant, for `start` + `add`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// The working time, ISO 8601 (`PT7H30M`).
    pub business: String,
    /// The same in seconds (may be fractional).
    pub business_seconds: f64,
    /// Whether the first instant given is inside working time.
    pub working: bool,
}

fn instant(field: &str, s: &str) -> Result<Timestamp, AppError> {
    s.trim().parse().map_err(|_| AppError::field(field, "must be an RFC 3339 instant like 2026-11-23T08:00:00Z"))
}

pub async fn business_time(
    store: &Store,
    caller: &Caller,
    id: i64,
    q: &BusinessTimeQuery,
) -> Result<BusinessTime, AppError> {
    caller.require(Permission::WorkRecords)?;
    let record = store.calendar(id).await?;
    let c = compiled(&record.spec)?;
    match (&q.from, &q.to, &q.start, &q.add) {
        (Some(from), Some(to), None, None) => {
            let (from, to) = (instant("from", from)?, instant("to", to)?);
            let d = c.between(from, to);
            Ok(BusinessTime {
                from: Some(from.to_string()),
                to: Some(to.to_string()),
                start: None,
                add: None,
                due: None,
                business: d.to_string(),
                business_seconds: d.as_secs_f64(),
                working: c.is_working(from),
            })
        }
        (None, None, Some(start), Some(add)) => {
            let start = instant("start", start)?;
            let d: SignedDuration = add.trim().parse().map_err(|_| {
                AppError::field("add", "must be a duration like PT4H, PT22H30M or -PT2H (hours and minutes, no days)")
            })?;
            // As long as the longest target an agreement may have: far more
            // would run past the last instant there is, and be made up.
            if d.abs() > SignedDuration::from_mins(varde_domain::sla::agreement::MAX_TARGET_MINUTES) {
                return Err(AppError::field("add", "must be at most a year of business time"));
            }
            let due = c.add(start, d);
            Ok(BusinessTime {
                from: None,
                to: None,
                start: Some(start.to_string()),
                add: Some(d.to_string()),
                due: Some(due.to_string()),
                business: d.to_string(),
                business_seconds: d.as_secs_f64(),
                working: c.is_working(start),
            })
        }
        _ => Err(AppError::field("query", "give either from and to, or start and add")),
    }
}
