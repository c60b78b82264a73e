//! The agent's queues: filtered, sorted, keyset-paginated incident lists,
//! and the saved filters in the sidebar.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use varde_domain::incident::{Incident, State as IncidentState};
use varde_store::directory::Group;
use varde_store::filters::SavedFilter;
use varde_store::Store;

use super::i18n::Tr;
use super::web::{is_htmx, render_status, see_other, when, Chrome, Errors, Form, Viewer};
use crate::api::encode_cursor;
use crate::api::incidents::{filter_from, page_cursor, ListQuery};
use crate::error::AppError;
use crate::service::incidents as svc;
use crate::state::AppState;

/// The queues, in sidebar order: (path segment, label key).
const KINDS: [(&str, &str); 5] = [
    ("mine", "queue.mine"),
    ("groups", "queue.groups"),
    ("unassigned", "queue.unassigned"),
    ("open", "queue.open"),
    ("all", "queue.all"),
];

/// The parameters a person may set on a queue; the queue itself decides the rest.
const USER_PARAMS: [&str; 6] = ["state", "priority", "assignment_group_id", "q", "sort", "cursor"];

const PAGE_SIZE: &str = "25";

pub struct Row {
    pub number: String,
    pub priority: i64,
    pub short_description: String,
    pub state: &'static str,
    pub group: String,
    pub assignee: String,
    pub updated: String,
    /// Time left until the record's next SLA breach, if a clock runs.
    pub sla: Option<super::sla::QueueSla>,
}

/// What both the whole page and the htmx fragment show.
pub struct Results {
    pub rows: Vec<Row>,
    pub next: Option<String>,
    pub first: Option<String>,
    /// This view's address without the page cursor, for "save this filter".
    pub view: String,
    /// Rendered for htmx: the "save this filter" field is updated out of band,
    /// since the sidebar holding it is not swapped.
    pub fragment: bool,
}

pub struct QueueLink {
    pub href: String,
    pub label: &'static str,
    pub current: bool,
}

#[derive(askama::Template)]
#[template(path = "queue.html")]
struct QueuePage {
    p: Chrome,
    r: Results,
    errors: Errors,
    title: &'static str,
    path: String,
    queues: Vec<QueueLink>,
    saved: Vec<SavedFilter>,
    groups: Vec<Group>,
    /// The chosen values, to keep the filter form as the person left it.
    state: String,
    priority: String,
    group: String,
    q: String,
    sort: String,
}

#[derive(askama::Template)]
#[template(path = "queue_results.html")]
struct QueueFragment {
    p: Chrome,
    r: Results,
}

impl QueuePage {
    fn sorts(&self) -> [(&'static str, &'static str); 5] {
        [
            ("newest", "sort.newest"),
            ("oldest", "sort.oldest"),
            ("priority", "sort.priority"),
            ("updated", "sort.updated"),
            ("sla_due", "sort.sla_due"),
        ]
    }
    fn states(&self) -> Vec<&'static str> {
        IncidentState::ALL.iter().map(|s| s.as_str()).collect()
    }
    fn priorities(&self) -> [i64; 5] {
        [1, 2, 3, 4, 5]
    }
}

/// The person's parameters from the query string: known keys with a value.
fn user_params(raw: Option<&str>) -> Vec<(String, String)> {
    let pairs: Vec<(String, String)> = raw.and_then(|r| serde_urlencoded::from_str(r).ok()).unwrap_or_default();
    pairs.into_iter().filter(|(k, v)| USER_PARAMS.contains(&k.as_str()) && !v.trim().is_empty()).collect()
}

fn get<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn encode(params: &[(String, String)]) -> String {
    serde_urlencoded::to_string(params).unwrap_or_default()
}

pub async fn page(
    State(st): State<AppState>,
    v: Viewer,
    Path(kind): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    v.require_agent()?;
    let (_, title) = KINDS.iter().find(|(k, _)| *k == kind).copied().ok_or(AppError::NotFound)?;
    let params = user_params(raw.as_deref());
    let opt = |k: &str| get(&params, k).map(str::to_string);
    let mut q = ListQuery {
        state: opt("state"),
        priority: opt("priority"),
        assignment_group_id: opt("assignment_group_id"),
        q: opt("q"),
        sort: opt("sort"),
        cursor: opt("cursor"),
        limit: Some(PAGE_SIZE.into()),
        ..ListQuery::default()
    };
    // The queue's own conditions come last, so a parameter cannot widen it.
    if kind != "all" {
        q.open = Some("true".into());
    }
    match kind.as_str() {
        "mine" => q.assignee_id = Some("me".into()),
        "unassigned" => q.assignee_id = Some("none".into()),
        _ => {}
    }
    let path = format!("/queue/{kind}");
    let mut errors = Errors::none();
    let view_params: Vec<(String, String)> = params.iter().filter(|(k, _)| k != "cursor").cloned().collect();
    let view = if view_params.is_empty() { path.clone() } else { format!("{path}?{}", encode(&view_params)) };
    let fragment = is_htmx(&headers);
    let mut r = Results { rows: Vec::new(), next: None, first: None, view, fragment };
    match filter_from(&q, v.caller.id()) {
        Ok((mut filter, sort, cursor, limit)) => {
            if kind == "groups" {
                filter.assignment_groups_any = st.store.groups_of(v.caller.id()).await?;
            }
            // Someone in no group has an empty "my groups" queue, not everything.
            let nothing = kind == "groups" && filter.assignment_groups_any.is_empty();
            let items = if nothing {
                Vec::new()
            } else {
                svc::list(&st.store, &v.caller, &filter, sort, cursor, limit).await?
            };
            r.next = page_cursor(&st.store, &items, sort, limit).await?.map(|c| {
                let mut p = view_params.clone();
                p.push(("cursor".into(), encode_cursor(c)));
                format!("{path}?{}", encode(&p))
            });
            if cursor.is_some() {
                r.first = Some(r.view.clone());
            }
            r.rows = rows(&st.store, &items).await?;
        }
        Err(e) => errors = Errors::from_app(e, &v.chrome.tr)?,
    }
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    if fragment && errors.is_empty() {
        return render_status(status, &QueueFragment { p: v.chrome("queue"), r });
    }
    r.fragment = false;
    let page = QueuePage {
        p: v.chrome("queue"),
        r,
        errors,
        title,
        queues: KINDS
            .iter()
            .map(|(k, label)| QueueLink { href: format!("/queue/{k}"), label, current: *k == kind })
            .collect(),
        saved: st
            .store
            .saved_filters(v.caller.id())
            .await?
            .into_iter()
            .filter(|f| f.query.starts_with("/queue/"))
            .collect(),
        groups: st.store.groups().await?,
        state: opt("state").unwrap_or_default(),
        priority: opt("priority").unwrap_or_default(),
        group: opt("assignment_group_id").unwrap_or_default(),
        q: opt("q").unwrap_or_default(),
        sort: opt("sort").unwrap_or_else(|| "newest".into()),
        path,
    };
    render_status(status, &page)
}

/// Names for the ids a page of incidents mentions, in one read; someone
/// no longer in the directory shows as `#id`. Takes a `Vec` (not an
/// iterator) so the future stays `Send` for axum.
pub async fn user_names(store: &Store, ids: Vec<i64>) -> Result<HashMap<i64, String>, AppError> {
    let mut names = store.user_names(&ids).await?;
    for id in ids {
        names.entry(id).or_insert_with(|| format!("#{id}"));
    }
    Ok(names)
}

pub async fn group_names(store: &Store) -> Result<HashMap<i64, String>, AppError> {
    Ok(store.groups().await?.into_iter().map(|g| (g.id, g.name)).collect())
}

async fn rows(store: &Store, items: &[Incident]) -> Result<Vec<Row>, AppError> {
    let groups = group_names(store).await?;
    let ids: Vec<i64> = items.iter().filter_map(|i| i.assignee_id).collect();
    let users = user_names(store, ids).await?;
    let record_ids: Vec<i64> = items.iter().map(|i| i.id).collect();
    let mut sla = super::sla::queue_cells(store, &record_ids).await?;
    Ok(items
        .iter()
        .map(|i| Row {
            sla: sla.remove(&i.id),
            number: i.number.clone(),
            priority: i.priority.get(),
            short_description: i.short_description.clone(),
            state: i.lifecycle.state.as_str(),
            group: i.assignment_group_id.and_then(|g| groups.get(&g).cloned()).unwrap_or_default(),
            assignee: i.assignee_id.and_then(|u| users.get(&u).cloned()).unwrap_or_default(),
            updated: when(i.updated_at),
        })
        .collect())
}

impl Row {
    pub fn priority_label(&self, tr: &Tr) -> &'static str {
        tr.priority(self.priority)
    }
}

#[derive(Deserialize)]
pub struct SaveFilterForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    query: String,
}

pub async fn save_filter(State(st): State<AppState>, f: Form<SaveFilterForm>) -> Result<Response, AppError> {
    f.viewer.require_agent()?;
    let query = f.value.query.trim().to_string();
    // Only queue and CMDB list views can be saved: the link is shown back as-is.
    let valid = (query.starts_with("/queue/") || query == "/cmdb" || query.starts_with("/cmdb?"))
        && !query.contains("//")
        && query.len() <= 1000;
    if !valid {
        return Err(AppError::field("query", f.viewer.chrome.tr.t("error.queue_view")));
    }
    let name = varde_domain::text::line("name", &f.value.name, 100)?;
    let me = f.viewer.caller.id();
    // A name in use already is the view saved again: it now shows this list
    // (views are a person's own, so no one else's is replaced).
    if let Some(old) = st.store.saved_filters(me).await?.into_iter().find(|sf| sf.name == name) {
        st.store.delete_filter(me, old.id).await?;
    }
    st.store.save_filter(me, name, query.clone()).await?;
    Ok(see_other(&query))
}

pub async fn delete_filter(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    f: Form<super::auth::Empty>,
) -> Result<Response, AppError> {
    f.viewer.require_agent()?;
    let me = f.viewer.caller.id();
    // Back to the list the view was of.
    let cmdb = st.store.saved_filters(me).await?.iter().any(|sf| sf.id == id && sf.query.starts_with("/cmdb"));
    st.store.delete_filter(me, id).await?;
    Ok(see_other(if cmdb { "/cmdb" } else { "/queue/mine" }))
}
