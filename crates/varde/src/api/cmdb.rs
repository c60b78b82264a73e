//! `/api/v1/ci-classes`, `/api/v1/cis` and the CMDB's sub-resources:
//! relations, impact, history, diff, the CIs of an incident or a problem, a person's
//! assets and leaver checklists, and asset reports.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use varde_domain::cmdb::AttrKind;
use varde_domain::record::RecordKind;
use varde_store::cmdb::{
    AffectedService, AssetRow, Checklist, Ci, CiChange, CiClass, CiRecord, Classes, Impact, PastWhat, Relation,
    RelationView,
};
use varde_store::incidents::Cursor;

use super::incidents::parse_query;
use super::{
    created, decode_cursor, encode_cursor, etag, if_match, instant, limit, parse_instant, ApiJson, ApiPath, Page,
};
use crate::auth::Caller;
use crate::error::{AppError, Problem};
use crate::service::cmdb::{self as svc, CiInput, CreateClass, Diff, NewRelation, UpdateClass};
use crate::state::AppState;

/// A CI as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CiView {
    pub id: i64,
    pub class_id: i64,
    pub class: String,
    pub name: String,
    pub status: String,
    pub owner_id: Option<i64>,
    pub location_id: Option<i64>,
    pub supplier_id: Option<i64>,
    pub cost: Option<i64>,
    pub purchased_on: Option<String>,
    pub warranty_until: Option<String>,
    pub end_of_life: Option<String>,
    pub used_by_id: Option<i64>,
    pub organisation_id: Option<i64>,
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// The catalogue service this CI stands for.
    pub service_id: Option<i64>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

pub fn view(ci: &Ci, classes: &Classes) -> CiView {
    CiView {
        id: ci.id,
        class_id: ci.class_id,
        class: classes.get(ci.class_id).map(|c| c.name.clone()).unwrap_or_default(),
        name: ci.name.clone(),
        status: ci.status.as_str().into(),
        owner_id: ci.owner_id,
        location_id: ci.location_id,
        supplier_id: ci.supplier_id,
        cost: ci.cost,
        purchased_on: ci.purchased_on.clone(),
        warranty_until: ci.warranty_until.clone(),
        end_of_life: ci.end_of_life.clone(),
        used_by_id: ci.used_by_id,
        organisation_id: ci.organisation_id,
        attributes: ci.attributes.clone(),
        service_id: ci.service_id,
        version: ci.version,
        created_at: instant(ci.created_at),
        updated_at: instant(ci.updated_at),
    }
}

fn with_etag<T: Serialize>(status: StatusCode, body: T, version: i64) -> Response {
    let mut res = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

fn id_path(s: &str) -> Result<i64, AppError> {
    s.parse().map_err(|_| AppError::NotFound)
}

fn as_of(v: Option<&str>) -> Result<Option<i64>, AppError> {
    v.filter(|s| !s.is_empty()).map(|s| parse_instant("as_of", s)).transpose()
}

// ---------------------------------------------------------------- classes

#[utoipa::path(get, path = "/api/v1/ci-classes", tag = "cmdb",
    responses((status = 200, body = Vec<CiClass>), (status = 403, body = Problem)))]
pub async fn list_classes(State(st): State<AppState>, caller: Caller) -> Result<Json<Vec<CiClass>>, AppError> {
    Ok(Json(svc::classes(&st.store, &caller).await?.0))
}

#[utoipa::path(post, path = "/api/v1/ci-classes", tag = "cmdb", request_body = CreateClass,
    responses((status = 201, body = CiClass), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_class(
    State(st): State<AppState>,
    caller: Caller,
    body: ApiJson<CreateClass>,
) -> Result<Response, AppError> {
    let c = svc::create_class(&st.store, &caller, body.value).await?;
    let mut res = created(format!("/api/v1/ci-classes/{}", c.id), &c);
    if let Ok(v) = HeaderValue::from_str(&etag(c.version)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    Ok(res)
}

#[utoipa::path(get, path = "/api/v1/ci-classes/{id}", tag = "cmdb", params(("id" = i64, Path)),
    responses((status = 200, body = CiClass), (status = 404, body = Problem)))]
pub async fn read_class(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, AppError> {
    let classes = svc::classes(&st.store, &caller).await?;
    let c = classes.get(id_path(&id)?).ok_or(AppError::NotFound)?;
    Ok(with_etag(StatusCode::OK, c, c.version))
}

#[utoipa::path(patch, path = "/api/v1/ci-classes/{id}", tag = "cmdb", params(("id" = i64, Path)), request_body = UpdateClass,
    responses((status = 200, body = CiClass), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update_class(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: ApiJson<UpdateClass>,
) -> Result<Response, AppError> {
    let c = svc::update_class(&st.store, &caller, id_path(&id)?, if_match(&headers)?, body.value).await?;
    Ok(with_etag(StatusCode::OK, &c, c.version))
}

// ---------------------------------------------------------------- CIs

#[utoipa::path(get, path = "/api/v1/cis", tag = "cmdb",
    params(
        ("class" = Option<String>, Query, description = "Class ids or names, comma separated; subclasses included"),
        ("status" = Option<String>, Query, description = "Statuses, comma separated"),
        ("attr.<name>" = Option<String>, Query, description = "An attribute value, e.g. attr.os=linux"),
        ("q" = Option<String>, Query, description = "Words in the name or attribute values; a word of two or more characters also finds the words it begins"),
        ("related_to" = Option<i64>, Query, description = "CIs with a current relation to this CI"),
        ("used_by_id" = Option<i64>, Query), ("owner_id" = Option<i64>, Query),
        ("as_of" = Option<String>, Query, description = "RFC 3339: the CIs as they were then (combines with class only)"),
        ("format" = Option<String>, Query, description = "csv for a CSV export (or Accept: text/csv)"),
        ("limit" = Option<String>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = Page<CiView>), (status = 422, body = Problem)))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let csv = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/csv"));
    list_inner(st, caller, raw, csv).await
}

#[utoipa::path(get, path = "/api/v1/cis.csv", tag = "cmdb",
    responses((status = 200, content_type = "text/csv", body = String)))]
pub async fn list_csv(
    State(st): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    list_inner(st, caller, raw, true).await
}

/// Most rows one CSV export holds.
pub const MAX_CSV_ROWS: i64 = 100_000;

async fn list_inner(st: AppState, caller: Caller, raw: Option<String>, csv: bool) -> Result<Response, AppError> {
    let params: Vec<(String, String)> = match raw.as_deref() {
        None | Some("") => Vec::new(),
        Some(s) => serde_urlencoded::from_str(s).map_err(|e| AppError::BadRequest(format!("bad query: {e}")))?,
    };
    let get = |k: &str| params.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let csv = csv || get("format") == Some("csv");
    let classes = svc::classes(&st.store, &caller).await?;
    let filter = svc::filter_from(&classes, &params)?;
    let lim = limit(get("limit"))?;
    let after = get("cursor").map(decode_cursor).transpose()?.map(|c| c.id);
    if csv {
        let mut rows = Vec::new();
        let mut after = after;
        loop {
            let page = svc::list(&st.store, &caller, &filter, after, 1000).await?;
            let n = page.len();
            after = page.last().map(|c| c.id);
            rows.extend(page);
            if n < 1000 || rows.len() as i64 >= MAX_CSV_ROWS {
                break;
            }
        }
        let body = to_csv(&rows, &classes);
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"cis.csv\""),
            ],
            body,
        )
            .into_response());
    }
    let items = svc::list(&st.store, &caller, &filter, after, lim).await?;
    let next = (items.len() as i64 == lim)
        .then(|| items.last().map(|c| encode_cursor(Cursor { key: c.id, id: c.id })))
        .flatten();
    Ok(Json(Page { items: items.iter().map(|c| view(c, &classes)).collect(), next_cursor: next }).into_response())
}

/// A CSV cell: quoted when needed, and defused against spreadsheet formulas
/// (`service::defuse`; the import takes the apostrophe off again).
fn cell(s: &str) -> String {
    let s = crate::service::defuse(s);
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub fn to_csv(rows: &[Ci], classes: &Classes) -> String {
    let mut attr_names: Vec<String> = rows.iter().flat_map(|c| c.attributes.keys().cloned()).collect();
    attr_names.sort();
    attr_names.dedup();
    let mut out = String::from(
        "id,class,name,status,owner_id,used_by_id,organisation_id,location_id,supplier_id,cost,purchased_on,warranty_until,end_of_life",
    );
    for a in &attr_names {
        out.push(',');
        out.push_str(&cell(&format!("attr.{a}")));
    }
    out.push_str("\r\n");
    let o = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    for c in rows {
        let class = classes.get(c.class_id).map(|k| k.name.as_str()).unwrap_or("");
        let fields = [
            c.id.to_string(),
            cell(class),
            cell(&c.name),
            c.status.as_str().to_string(),
            o(c.owner_id),
            o(c.used_by_id),
            o(c.organisation_id),
            o(c.location_id),
            o(c.supplier_id),
            o(c.cost),
            c.purchased_on.clone().unwrap_or_default(),
            c.warranty_until.clone().unwrap_or_default(),
            c.end_of_life.clone().unwrap_or_default(),
        ];
        out.push_str(&fields.join(","));
        for a in &attr_names {
            out.push(',');
            if let Some(v) = c.attributes.get(a) {
                // A JSON attribute is written as JSON, a string quoted, so
                // that text like `{draft` reads back as the string it is.
                let json = classes.schema(c.class_id).get(a).is_some_and(|d| d.kind == AttrKind::Json);
                out.push_str(&cell(&match v {
                    Value::String(s) if !json => s.clone(),
                    other => other.to_string(),
                }));
            }
        }
        out.push_str("\r\n");
    }
    out
}

#[utoipa::path(post, path = "/api/v1/cis", tag = "cmdb", request_body = CiInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return what the first request made, as it is now (Idempotent-Replayed: true)")),
    responses((status = 201, body = CiView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<CiInput>,
) -> Result<Response, AppError> {
    let key = super::idempotency_key(&headers, &caller, "/api/v1/cis", &body.raw)?;
    let (ci, replayed) = svc::create_once(&st.store, &caller, body.value, key).await?;
    let classes = st.store.ci_classes().await?;
    let mut res = created(format!("/api/v1/cis/{}", ci.id), view(&ci, &classes));
    if let Ok(v) = HeaderValue::from_str(&etag(ci.version)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    super::mark_replayed(&mut res, replayed);
    Ok(res)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AsOfQuery {
    /// RFC 3339: the state at that instant.
    pub as_of: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/cis/{id}", tag = "cmdb", params(("id" = i64, Path), AsOfQuery),
    responses((status = 200, body = CiView, headers(("ETag" = String))), (status = 404, body = Problem)))]
pub async fn read(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let q: AsOfQuery = parse_query(raw.as_deref())?;
    let ci = svc::get(&st.store, &caller, id_path(&id)?, as_of(q.as_of.as_deref())?).await?;
    if q.as_of.is_none() {
        if let Some(res) = super::not_modified(&headers, ci.version) {
            return Ok(res);
        }
    }
    let classes = st.store.ci_classes().await?;
    Ok(with_etag(StatusCode::OK, view(&ci, &classes), ci.version))
}

#[utoipa::path(patch, path = "/api/v1/cis/{id}", tag = "cmdb", params(("id" = i64, Path)),
    request_body(content = Object, content_type = "application/merge-patch+json", description = "A JSON merge patch of the CI; attributes merge key by key"),
    responses((status = 200, body = CiView), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: ApiJson<Map<String, Value>>,
) -> Result<Response, AppError> {
    let ci = svc::update(&st.store, &caller, id_path(&id)?, if_match(&headers)?, body.value).await?;
    let classes = st.store.ci_classes().await?;
    Ok(with_etag(StatusCode::OK, view(&ci, &classes), ci.version))
}

#[utoipa::path(get, path = "/api/v1/cis/{id}/relations", tag = "cmdb", params(("id" = i64, Path), AsOfQuery),
    responses((status = 200, body = Vec<RelationView>), (status = 404, body = Problem)))]
pub async fn relations(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<RelationView>>, AppError> {
    let q: AsOfQuery = parse_query(raw.as_deref())?;
    Ok(Json(svc::relations(&st.store, &caller, id_path(&id)?, as_of(q.as_of.as_deref())?).await?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RelationCreated {
    pub id: i64,
    pub from_id: i64,
    pub to_id: i64,
    pub kind: String,
    pub valid_from: String,
}

impl From<Relation> for RelationCreated {
    fn from(r: Relation) -> Self {
        RelationCreated {
            id: r.id,
            from_id: r.from_id,
            to_id: r.to_id,
            kind: r.kind,
            valid_from: instant(r.valid_from),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/cis/{id}/relations", tag = "cmdb", params(("id" = i64, Path)), request_body = NewRelation,
    responses((status = 201, body = RelationCreated), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn add_relation(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<NewRelation>,
) -> Result<Response, AppError> {
    let id = id_path(&id)?;
    let r = svc::add_relation(&st.store, &caller, id, body.value).await?;
    Ok(created(format!("/api/v1/cis/{id}/relations/{}", r.id), RelationCreated::from(r)))
}

#[utoipa::path(delete, path = "/api/v1/cis/{id}/relations/{relation_id}", tag = "cmdb",
    params(("id" = i64, Path), ("relation_id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn end_relation(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((id, rel)): ApiPath<(String, String)>,
) -> Result<StatusCode, AppError> {
    svc::end_relation(&st.store, &caller, id_path(&id)?, id_path(&rel)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImpactQuery {
    /// `up` (default): what depends on this CI; `down`: what it depends on.
    pub direction: Option<String>,
    /// 1 to 20, default 10.
    pub depth: Option<String>,
    pub as_of: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/cis/{id}/impact", tag = "cmdb", params(("id" = i64, Path), ImpactQuery),
    responses((status = 200, body = Impact), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn impact(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Impact>, AppError> {
    let q: ImpactQuery = parse_query(raw.as_deref())?;
    let dir = svc::parse_direction(q.direction.as_deref())?;
    let depth = svc::parse_depth(q.depth.as_deref())?;
    Ok(Json(svc::impact(&st.store, &caller, id_path(&id)?, dir, depth, as_of(q.as_of.as_deref())?).await?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChangeView {
    /// 0 for the first entry, "created", which the CI itself keeps.
    pub id: i64,
    pub at: String,
    pub actor_id: Option<i64>,
    /// The record the change was made under.
    pub record_id: Option<i64>,
    pub import_id: Option<i64>,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

impl From<CiChange> for ChangeView {
    fn from(c: CiChange) -> Self {
        ChangeView {
            id: c.id,
            at: instant(c.at),
            actor_id: c.actor_id,
            record_id: c.record_id,
            import_id: c.import_id,
            field: c.field,
            old_value: c.old_value,
            new_value: c.new_value,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/cis/{id}/history", tag = "cmdb", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ChangeView>), (status = 404, body = Problem)))]
pub async fn history(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<ChangeView>>, AppError> {
    Ok(Json(svc::history(&st.store, &caller, id_path(&id)?).await?.into_iter().map(ChangeView::from).collect()))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// RFC 3339.
    pub from: Option<String>,
    /// RFC 3339; default now.
    pub to: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/cis/{id}/diff", tag = "cmdb", params(("id" = i64, Path), DiffQuery),
    responses((status = 200, body = Diff), (status = 422, body = Problem)))]
pub async fn diff(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Diff>, AppError> {
    let q: DiffQuery = parse_query(raw.as_deref())?;
    let from = parse_instant("from", q.from.as_deref().ok_or_else(|| AppError::field("from", "is required"))?)?;
    let to = match q.to.as_deref() {
        Some(t) => parse_instant("to", t)?,
        None => varde_store::now_micros(),
    };
    Ok(Json(svc::diff(&st.store, &caller, id_path(&id)?, from, to).await?))
}

#[utoipa::path(get, path = "/api/v1/cis/{id}/incidents", tag = "cmdb", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<CiRecord>)))]
pub async fn open_records(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<CiRecord>>, AppError> {
    Ok(Json(svc::open_records(&st.store, &caller, id_path(&id)?).await?))
}

// ---------------------------------------------------------------- incidents and problems

/// The CIs a record affects: an incident's or a problem's, one shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AffectedCis {
    pub items: Vec<CiView>,
    /// Services that depend on an affected CI, nearest first, one path each.
    pub services_at_risk: Vec<AffectedService>,
}

/// The record kind's segment in the API's paths.
fn collection(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Incident => "incidents",
        RecordKind::Problem => "problems",
        RecordKind::Article => "articles",
    }
}

async fn affected_cis(
    st: &AppState,
    caller: &Caller,
    kind: RecordKind,
    key: &str,
) -> Result<(i64, AffectedCis), AppError> {
    let (record, cis, services) = svc::record_cis(&st.store, caller, kind, key).await?;
    let classes = st.store.ci_classes().await?;
    Ok((record, AffectedCis { items: cis.iter().map(|c| view(c, &classes)).collect(), services_at_risk: services }))
}

/// Links and answers the record's CIs: 201 when the link is new, 200 when
/// it was there already.
async fn link_ci(
    st: &AppState,
    caller: &Caller,
    kind: RecordKind,
    key: &str,
    ci_id: i64,
) -> Result<Response, AppError> {
    let added = svc::link_record_ci(&st.store, caller, kind, key, ci_id).await?;
    let (record, body) = affected_cis(st, caller, kind, key).await?;
    Ok(if added {
        created(format!("/api/v1/{}/{record}/cis", collection(kind)), body)
    } else {
        Json(body).into_response()
    })
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/cis", tag = "cmdb", params(("id" = String, Path)),
    responses((status = 200, body = AffectedCis)))]
pub async fn incident_cis(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AffectedCis>, AppError> {
    Ok(Json(affected_cis(&st, &caller, RecordKind::Incident, &id).await?.1))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkCi {
    pub ci_id: i64,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/cis", tag = "cmdb", params(("id" = String, Path)), request_body = LinkCi,
    responses((status = 201, body = AffectedCis), (status = 200, body = AffectedCis, description = "already linked")))]
pub async fn link_incident_ci(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<LinkCi>,
) -> Result<Response, AppError> {
    link_ci(&st, &caller, RecordKind::Incident, &id, body.value.ci_id).await
}

#[utoipa::path(delete, path = "/api/v1/incidents/{id}/cis/{ci_id}", tag = "cmdb",
    params(("id" = String, Path), ("ci_id" = i64, Path)), responses((status = 204), (status = 404, body = Problem)))]
pub async fn unlink_incident_ci(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((id, ci)): ApiPath<(String, String)>,
) -> Result<StatusCode, AppError> {
    svc::unlink_record_ci(&st.store, &caller, RecordKind::Incident, &id, id_path(&ci)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/problems/{id}/cis", tag = "cmdb", params(("id" = String, Path)),
    responses((status = 200, body = AffectedCis)))]
pub async fn problem_cis(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AffectedCis>, AppError> {
    Ok(Json(affected_cis(&st, &caller, RecordKind::Problem, &id).await?.1))
}

#[utoipa::path(post, path = "/api/v1/problems/{id}/cis", tag = "cmdb", params(("id" = String, Path)), request_body = LinkCi,
    responses((status = 201, body = AffectedCis), (status = 200, body = AffectedCis, description = "already linked")))]
pub async fn link_problem_ci(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<LinkCi>,
) -> Result<Response, AppError> {
    link_ci(&st, &caller, RecordKind::Problem, &id, body.value.ci_id).await
}

#[utoipa::path(delete, path = "/api/v1/problems/{id}/cis/{ci_id}", tag = "cmdb",
    params(("id" = String, Path), ("ci_id" = i64, Path)), responses((status = 204), (status = 404, body = Problem)))]
pub async fn unlink_problem_ci(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((id, ci)): ApiPath<(String, String)>,
) -> Result<StatusCode, AppError> {
    svc::unlink_record_ci(&st.store, &caller, RecordKind::Problem, &id, id_path(&ci)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- assets

#[utoipa::path(get, path = "/api/v1/users/{id}/assets", tag = "cmdb", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<CiView>)))]
pub async fn assets(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<CiView>>, AppError> {
    let cis = svc::assets_of(&st.store, &caller, id_path(&id)?).await?;
    let classes = st.store.ci_classes().await?;
    Ok(Json(cis.iter().map(|c| view(c, &classes)).collect()))
}

#[utoipa::path(get, path = "/api/v1/users/{id}/checklists", tag = "cmdb", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Checklist>)))]
pub async fn checklists(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<Checklist>>, AppError> {
    Ok(Json(svc::checklists_of(&st.store, &caller, id_path(&id)?).await?))
}

#[utoipa::path(post, path = "/api/v1/users/{id}/checklists", tag = "cmdb", params(("id" = i64, Path)),
    responses((status = 201, body = Checklist), (status = 409, body = Problem, description = "an open checklist exists")))]
pub async fn create_checklist(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, AppError> {
    let c = svc::create_checklist(&st.store, &caller, id_path(&id)?).await?;
    Ok(created(format!("/api/v1/checklists/{}", c.id), c))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemDone {
    #[serde(default)]
    pub note: String,
}

#[utoipa::path(post, path = "/api/v1/checklists/{id}/items/{item_id}/done", tag = "cmdb",
    params(("id" = i64, Path), ("item_id" = i64, Path)), request_body = ItemDone,
    responses((status = 200, body = Checklist), (status = 404, body = Problem)))]
pub async fn complete_item(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((id, item)): ApiPath<(String, String)>,
    body: ApiJson<ItemDone>,
) -> Result<Json<Checklist>, AppError> {
    Ok(Json(svc::complete_item(&st.store, &caller, id_path(&id)?, id_path(&item)?, body.value.note).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `end_of_life` (reached by today), `warranty` (ended before today) or `older_than` (bought
    /// more than `years` ago).
    pub kind: Option<String>,
    pub years: Option<String>,
    /// Class ids or names, comma separated, for any kind; subclasses included.
    pub class: Option<String>,
    /// Rows per page, 1 to 5,000 (default 5,000).
    pub limit: Option<String>,
    /// `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// Most rows of an asset report page.
const MAX_REPORT_ROWS: i64 = 5000;

#[utoipa::path(get, path = "/api/v1/reports/assets", tag = "cmdb", params(ReportQuery),
    responses((status = 200, body = Page<AssetRow>), (status = 422, body = Problem)))]
pub async fn asset_report(
    State(st): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<AssetRow>>, AppError> {
    let q: ReportQuery = parse_query(raw.as_deref())?;
    let (items, next_cursor) = report(&st, &caller, &q).await?;
    Ok(Json(Page { items, next_cursor }))
}

/// A page of the asset report and the cursor of the next, if there is one.
pub async fn report(
    st: &AppState,
    caller: &Caller,
    q: &ReportQuery,
) -> Result<(Vec<AssetRow>, Option<String>), AppError> {
    let classes = svc::classes(&st.store, caller).await?;
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let limit = match q.limit.as_deref().map(str::parse::<i64>) {
        None => MAX_REPORT_ROWS,
        Some(Ok(n)) if (1..=MAX_REPORT_ROWS).contains(&n) => n,
        Some(_) => return Err(AppError::field("limit", "must be a whole number from 1 to 5000")),
    };
    // The cursor holds the last row's date (as YYYYMMDD) and id.
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => {
            let c = decode_cursor(c)?;
            let (y, md) = (c.key / 10_000, c.key % 10_000);
            Some((format!("{y:04}-{:02}-{:02}", md / 100, md % 100), c.id))
        }
    };
    let kind = q.kind.as_deref().unwrap_or("end_of_life");
    // Every kind of report keeps to the classes asked for, if any.
    let params: Vec<(String, String)> = q.class.iter().map(|c| ("class".to_string(), c.clone())).collect();
    let class_ids = svc::filter_from(&classes, &params)?.class_ids;
    let rows = match kind {
        "end_of_life" => {
            st.store.assets_past(&class_ids, &today.to_string(), PastWhat::EndOfLife, after, limit).await?
        }
        "warranty" => st.store.assets_past(&class_ids, &today.to_string(), PastWhat::Warranty, after, limit).await?,
        "older_than" => {
            let years: i16 = match q.years.as_deref().map(str::parse::<i16>) {
                Some(Ok(y)) if (0..=100).contains(&y) => y,
                _ => return Err(AppError::field("years", "must be a whole number of years from 0 to 100")),
            };
            let before = today
                .checked_sub(jiff::Span::new().years(years))
                .map_err(|_| AppError::field("years", "is too large"))?;
            st.store.assets_bought_before(&class_ids, &before.to_string(), after, limit).await?
        }
        _ => return Err(AppError::field("kind", "must be end_of_life, warranty or older_than")),
    };
    let date_of = |r: &AssetRow| match kind {
        "end_of_life" => r.end_of_life.clone(),
        "warranty" => r.warranty_until.clone(),
        _ => r.purchased_on.clone(),
    };
    let next = (rows.len() as i64 == limit)
        .then(|| {
            let last = rows.last()?;
            let key: i64 = date_of(last)?.replace('-', "").parse().ok()?;
            Some(encode_cursor(Cursor { key, id: last.id }))
        })
        .flatten();
    Ok((rows, next))
}

// ---------------------------------------------------------------- import

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `true`: report creates, updates, unchanged rows and conflicts; write nothing.
    pub dry_run: Option<String>,
    /// Where the data comes from (a discovery tool, a spreadsheet); recorded with the import.
    pub source: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/cis/import", tag = "cmdb", params(ImportQuery),
    request_body(content = crate::service::cmdb_import::JsonImport, description = "JSON (application/json) or CSV (text/csv; UTF-8, or ISO-8859-1 when the content type says charset=ISO-8859-1; columns id (as the export writes it; read and ignored), class, name, ref, status, owner_id, used_by_id, organisation_id, location_id, supplier_id, cost, purchased_on, warranty_until, end_of_life, attr.<name>). A CI the import updates keeps what the file leaves out: a column (CSV) or key (JSON) it lacks, an attribute it does not name, a status left empty. An empty cell or `null` clears."),
    responses((status = 200, body = varde_store::cmdb_import::ImportReport),
              (status = 422, body = Problem, description = "bad rows, each named by line; nothing was written")))]
pub async fn import(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    super::ApiBytes(body): super::ApiBytes,
) -> Result<Response, AppError> {
    use crate::service::cmdb_import::{self as imp, Format};
    let q: ImportQuery = parse_query(raw.as_deref())?;
    let dry_run = match q.dry_run.as_deref() {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(_) => return Err(AppError::field("dry_run", "must be true or false")),
    };
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let format = match mime.as_str() {
        "text/csv" => Format::Csv,
        "application/json" => Format::Json,
        _ => return Err(AppError::UnsupportedMediaType("send text/csv or application/json".into())),
    };
    // A file declared ISO-8859-1 (what many spreadsheets write) is read as
    // that; any other declared charset but UTF-8 is refused rather than
    // guessed at.
    let charset = ct
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, v)| v.trim().trim_matches('"').to_ascii_lowercase());
    let body: std::borrow::Cow<'_, [u8]> = match charset.as_deref() {
        None | Some("utf-8") | Some("utf8") | Some("us-ascii") => body.as_ref().into(),
        Some("iso-8859-1") | Some("latin1") | Some("latin-1") | Some("l1") => {
            body.iter().map(|b| char::from(*b)).collect::<String>().into_bytes().into()
        }
        Some(other) => {
            return Err(AppError::UnsupportedMediaType(format!("charset {other}: send UTF-8 or ISO-8859-1")))
        }
    };
    let report = imp::import(&st.store, &caller, format, &body, q.source, dry_run).await?;
    if !report.problems.is_empty() && !dry_run {
        return Err(AppError::Invalid(
            report
                .problems
                .iter()
                .map(|p| varde_domain::FieldError::new(format!("{}: {}", p.at, p.field), p.message.clone()))
                .collect(),
        ));
    }
    Ok(Json(report).into_response())
}
