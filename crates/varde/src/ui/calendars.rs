//! Administering business calendars: the list, a new calendar, and one calendar's page with
//! its weekly hours, holidays and exceptions, per-date overrides, and an `.ics` upload.
//! Every change goes through `service::calendars`, which checks the rights and validates the
//! whole calendar with the domain before anything is stored.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use varde_domain::access::Permission;
use varde_domain::sla::calendar::{DateOverride, Exception, TimeRange, WeeklyHours};
use varde_store::calendars::CalendarRecord;

use super::web::{check_csrf, num, render_status, see_other, Chrome, Errors, Form, Viewer};
use crate::error::AppError;
use crate::service::calendars::{self as svc, CalendarInput, ImportOutcome};
use crate::state::AppState;

/// One weekday's hours as typed: `08:00-12:00, 12:30-16:00`.
pub struct DayField {
    pub key: &'static str,
    /// The i18n key of the weekday's name.
    pub label: &'static str,
    pub value: String,
    pub error: Option<String>,
}

/// The main form's values (as stored, or as typed when refused).
pub struct Draft {
    pub name: String,
    pub description: String,
    pub time_zone: String,
    pub days: Vec<DayField>,
}

impl Draft {
    fn of(c: &CalendarRecord) -> Draft {
        Draft {
            name: c.name.clone(),
            description: c.description.clone(),
            time_zone: c.spec.time_zone.clone(),
            days: days(|d| show_ranges(c.spec.weekly.day(d))),
        }
    }

    fn blank() -> Draft {
        let office = |d: usize| if d < 5 { "08:00-16:00".to_string() } else { String::new() };
        Draft {
            name: String::new(),
            description: String::new(),
            time_zone: "Europe/Copenhagen".into(),
            days: days(office),
        }
    }

    fn typed(f: &CalendarForm) -> Draft {
        Draft {
            name: f.name.clone(),
            description: f.description.clone(),
            time_zone: f.time_zone.clone(),
            days: days(|d| f.day(d).to_string()),
        }
    }

    /// Puts each weekday's errors beside its field.
    fn with_errors(mut self, errors: &Errors) -> Draft {
        for (d, field) in self.days.iter_mut().enumerate() {
            let prefix = format!("weekly.{}", WeeklyHours::DAYS[d]);
            let msgs: Vec<&str> = errors
                .fields()
                .filter(|(f, _)| *f == prefix || f.starts_with(&format!("{prefix}[")))
                .map(|(_, m)| m)
                .collect();
            field.error = (!msgs.is_empty()).then(|| msgs.join("; "));
        }
        self
    }
}

fn days(value: impl Fn(usize) -> String) -> Vec<DayField> {
    const LABELS: [&str; 7] = [
        "calendar.day.monday",
        "calendar.day.tuesday",
        "calendar.day.wednesday",
        "calendar.day.thursday",
        "calendar.day.friday",
        "calendar.day.saturday",
        "calendar.day.sunday",
    ];
    WeeklyHours::DAYS
        .iter()
        .enumerate()
        .map(|(d, key)| DayField { key, label: LABELS[d], value: value(d), error: None })
        .collect()
}

fn show_ranges(r: &[TimeRange]) -> String {
    r.iter().map(|r| format!("{}-{}", r.start, r.end)).collect::<Vec<_>>().join(", ")
}

/// `08:00-12:00, 12:30-16:00` into ranges. A piece that is not `a-b` is kept as typed so that
/// the domain's validation names it ("'8' is not a time of day").
fn parse_ranges(s: &str) -> Vec<TimeRange> {
    s.split([',', ';'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('-') {
            Some((a, b)) => TimeRange::new(a.trim(), b.trim()),
            None => TimeRange::new(p, ""),
        })
        .collect()
}

#[derive(askama::Template)]
#[template(path = "calendars.html")]
struct ListPage {
    p: Chrome,
    errors: Errors,
    calendars: Vec<CalendarRecord>,
    draft: Draft,
}

#[derive(askama::Template)]
#[template(path = "calendar.html")]
struct EditPage {
    p: Chrome,
    errors: Errors,
    saved: bool,
    c: CalendarRecord,
    draft: Draft,
    import: Option<ImportOutcome>,
    /// "3 added, 17 already there", for the import result.
    import_summary: String,
    /// What was typed into a refused exception or override, by `form.field`.
    entry: Vec<(&'static str, String)>,
}

impl EditPage {
    fn entry(&self, key: &str) -> &str {
        self.entry.iter().find(|(k, _)| *k == key).map_or("", |(_, v)| v.as_str())
    }
}

fn require(v: &Viewer) -> Result<(), AppError> {
    v.caller.require(Permission::ManageCalendars)
}

async fn list_page(
    st: &AppState,
    v: &Viewer,
    status: StatusCode,
    errors: Errors,
    draft: Draft,
) -> Result<Response, AppError> {
    require(v)?;
    let calendars = svc::list(&st.store, &v.caller, 0, 200, None).await?;
    let draft = draft.with_errors(&errors);
    render_status(status, &ListPage { p: v.chrome("admin"), errors, calendars, draft })
}

/// What a calendar page shows besides the calendar: the main form as typed, a saved notice,
/// an import's result.
#[derive(Default)]
struct Extra {
    draft: Option<Draft>,
    saved: bool,
    import: Option<ImportOutcome>,
    /// A refused exception's or override's fields as typed (`ex.date`).
    entry: Vec<(&'static str, String)>,
}

async fn edit_page(
    st: &AppState,
    v: &Viewer,
    id: i64,
    status: StatusCode,
    errors: Errors,
    extra: Extra,
) -> Result<Response, AppError> {
    require(v)?;
    let Extra { draft, saved, import, entry } = extra;
    let c = svc::get(&st.store, &v.caller, id).await?;
    let draft = draft.unwrap_or_else(|| Draft::of(&c)).with_errors(&errors);
    let tr = &v.chrome.tr;
    let import_summary = import
        .as_ref()
        .map(|o| {
            format!(
                "{} {}",
                tr.f("calendar.import_added", &o.added.len()),
                tr.f("calendar.import_unchanged", &o.unchanged)
            )
        })
        .unwrap_or_default();
    render_status(status, &EditPage { p: v.chrome("admin"), errors, saved, c, draft, import, import_summary, entry })
}

pub async fn list(State(st): State<AppState>, v: Viewer) -> Result<Response, AppError> {
    list_page(&st, &v, StatusCode::OK, Errors::none(), Draft::blank()).await
}

#[derive(Deserialize, Default)]
pub struct CalendarForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    monday: String,
    #[serde(default)]
    tuesday: String,
    #[serde(default)]
    wednesday: String,
    #[serde(default)]
    thursday: String,
    #[serde(default)]
    friday: String,
    #[serde(default)]
    saturday: String,
    #[serde(default)]
    sunday: String,
    #[serde(default)]
    version: String,
}

impl CalendarForm {
    fn day(&self, d: usize) -> &str {
        [&self.monday, &self.tuesday, &self.wednesday, &self.thursday, &self.friday, &self.saturday, &self.sunday][d]
    }

    fn weekly(&self) -> WeeklyHours {
        let mut w = WeeklyHours::default();
        for d in 0..7 {
            *w.day_mut(d) = parse_ranges(self.day(d));
        }
        w
    }
}

pub async fn create(State(st): State<AppState>, f: Form<CalendarForm>) -> Result<Response, AppError> {
    require(&f.viewer)?;
    let input = CalendarInput {
        name: f.value.name.clone(),
        description: f.value.description.clone(),
        time_zone: f.value.time_zone.clone(),
        weekly: f.value.weekly(),
        exceptions: Vec::new(),
        overrides: Vec::new(),
    };
    match svc::create(&st.store, &f.viewer.caller, input, None).await.map(|(c, _)| c) {
        Ok(c) => Ok(see_other(&format!("/admin/calendars/{}?saved=1", c.id))),
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &f.viewer.chrome.tr)?;
            list_page(&st, &f.viewer, status, errors, Draft::typed(&f.value)).await
        }
    }
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn page(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<SavedQuery>,
) -> Result<Response, AppError> {
    edit_page(&st, &v, id, StatusCode::OK, Errors::none(), Extra { saved: q.saved.is_some(), ..Extra::default() }).await
}

/// Applies a merge patch at the version the form was shown with; refusals show the page again
/// with the errors (and the main form as typed, when it was the main form).
async fn patch(
    st: &AppState,
    v: &Viewer,
    id: i64,
    version: &str,
    patch: serde_json::Value,
    typed: Extra,
    anchor: &str,
) -> Result<Response, AppError> {
    let mut errors = Errors::none();
    let version = num(&mut errors, &v.chrome.tr, "version", version);
    let result = if errors.is_empty() {
        svc::update(&st.store, &v.caller, id, Some(version), patch).await.map(|_| ())
    } else {
        Err(AppError::field("version", v.chrome.tr.t("error.number")))
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/admin/calendars/{id}?saved=1#{anchor}"))),
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            edit_page(st, v, id, status, errors, typed).await
        }
    }
}

pub async fn update(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    f: Form<CalendarForm>,
) -> Result<Response, AppError> {
    require(&f.viewer)?;
    let body = json!({
        "name": f.value.name,
        "description": f.value.description,
        "time_zone": f.value.time_zone,
        "weekly": f.value.weekly(),
    });
    let typed = Extra { draft: Some(Draft::typed(&f.value)), ..Extra::default() };
    patch(&st, &f.viewer, id, &f.value.version, body, typed, "hours").await
}

#[derive(Deserialize, Default)]
pub struct ExceptionForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    date: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    yearly: Option<String>,
    /// Closed ranges; empty closes the whole day.
    #[serde(default)]
    closed: String,
    #[serde(default)]
    version: String,
}

pub async fn add_exception(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    f: Form<ExceptionForm>,
) -> Result<Response, AppError> {
    require(&f.viewer)?;
    let c = svc::get(&st.store, &f.viewer.caller, id).await?;
    let mut list = c.spec.exceptions.clone();
    list.push(Exception {
        name: f.value.name.trim().to_string(),
        date: f.value.date.trim().to_string(),
        yearly: f.value.yearly.is_some(),
        closed: parse_ranges(&f.value.closed),
    });
    let entry = vec![
        ("ex.date", f.value.date.clone()),
        ("ex.name", f.value.name.clone()),
        ("ex.closed", f.value.closed.clone()),
        ("ex.yearly", if f.value.yearly.is_some() { "on".into() } else { String::new() }),
    ];
    let typed = Extra { entry, ..Extra::default() };
    patch(&st, &f.viewer, id, &f.value.version, json!({ "exceptions": list }), typed, "exceptions").await
}

#[derive(Deserialize, Default)]
pub struct OverrideForm {
    #[serde(default)]
    date: String,
    #[serde(default)]
    hours: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    version: String,
}

pub async fn add_override(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    f: Form<OverrideForm>,
) -> Result<Response, AppError> {
    require(&f.viewer)?;
    let c = svc::get(&st.store, &f.viewer.caller, id).await?;
    let mut list = c.spec.overrides.clone();
    let note = f.value.note.trim();
    list.push(DateOverride {
        date: f.value.date.trim().to_string(),
        hours: parse_ranges(&f.value.hours),
        note: (!note.is_empty()).then(|| note.to_string()),
    });
    let entry =
        vec![("ov.date", f.value.date.clone()), ("ov.hours", f.value.hours.clone()), ("ov.note", f.value.note.clone())];
    let typed = Extra { entry, ..Extra::default() };
    patch(&st, &f.viewer, id, &f.value.version, json!({ "overrides": list }), typed, "overrides").await
}

#[derive(Deserialize, Default)]
pub struct VersionForm {
    #[serde(default)]
    version: String,
}

/// Removes the `index`th exception or override, at the version the page showed, so a stale
/// page cannot remove a different entry than the one the administrator clicked.
pub async fn remove_entry(
    State(st): State<AppState>,
    Path((id, kind, index)): Path<(i64, String, usize)>,
    f: Form<VersionForm>,
) -> Result<Response, AppError> {
    require(&f.viewer)?;
    let c = svc::get(&st.store, &f.viewer.caller, id).await?;
    let body = match kind.as_str() {
        "exceptions" if index < c.spec.exceptions.len() => {
            let mut list = c.spec.exceptions.clone();
            list.remove(index);
            json!({ "exceptions": list })
        }
        "overrides" if index < c.spec.overrides.len() => {
            let mut list = c.spec.overrides.clone();
            list.remove(index);
            json!({ "overrides": list })
        }
        _ => return Err(AppError::NotFound),
    };
    let anchor = if kind == "overrides" { "overrides" } else { "exceptions" };
    patch(&st, &f.viewer, id, &f.value.version, body, Extra::default(), anchor).await
}

pub async fn delete(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    f: Form<VersionForm>,
) -> Result<Response, AppError> {
    require(&f.viewer)?;
    let mut errors = Errors::none();
    let version = num(&mut errors, &f.viewer.chrome.tr, "version", &f.value.version);
    match svc::delete(&st.store, &f.viewer.caller, id, Some(version)).await {
        Ok(()) => Ok(see_other("/admin/calendars")),
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &f.viewer.chrome.tr)?;
            edit_page(&st, &f.viewer, id, status, errors, Extra::default()).await
        }
    }
}

/// The `.ics` upload: a multipart form with `_csrf`, `version`, `dry_run` and `file`.
pub async fn import(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, AppError> {
    require(&v)?;
    let mut mp =
        mp.map_err(|e| AppError::UnsupportedMediaType(format!("send the file as multipart/form-data: {e}")))?;
    let (mut csrf, mut version, mut dry_run, mut file) = (String::new(), String::new(), false, None);
    let bad = |e: axum::extract::multipart::MultipartError| AppError::BadRequest(e.body_text());
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        match field.name().unwrap_or("") {
            "_csrf" => csrf = field.text().await.map_err(bad)?,
            "version" => version = field.text().await.map_err(bad)?,
            "dry_run" => dry_run = true,
            "file" => file = Some(field.bytes().await.map_err(bad)?),
            _ => {}
        }
    }
    check_csrf(&v, &csrf)?;
    let result = match (file, version.trim().parse::<i64>()) {
        (None, _) => Err(AppError::field("ics", v.chrome.tr.t("calendar.choose_file"))),
        (Some(f), _) if f.is_empty() => Err(AppError::field("ics", v.chrome.tr.t("calendar.choose_file"))),
        (_, Err(_)) => Err(AppError::field("version", v.chrome.tr.t("error.number"))),
        (Some(bytes), Ok(version)) => match String::from_utf8(bytes.to_vec()) {
            Err(_) => Err(AppError::field("ics", v.chrome.tr.t("calendar.not_utf8"))),
            Ok(text) => svc::import_holidays(&st.store, &v.caller, id, Some(version), &text, dry_run).await,
        },
    };
    match result {
        Ok((outcome, _)) if outcome.dry_run => {
            edit_page(&st, &v, id, StatusCode::OK, Errors::none(), Extra { import: Some(outcome), ..Extra::default() })
                .await
        }
        Ok((outcome, _)) => {
            edit_page(
                &st,
                &v,
                id,
                StatusCode::OK,
                Errors::none(),
                Extra { saved: true, import: Some(outcome), ..Extra::default() },
            )
            .await
        }
        Err(e) => {
            let status = e.status();
            let errors = Errors::from_app(e, &v.chrome.tr)?;
            edit_page(&st, &v, id, status, errors, Extra::default()).await
        }
    }
}
