//! Knowledge articles on the record kernel, their versions, feedback and
//! deflections; and the search entries of problems and articles (ADR 0012).
//!
//! Search: problems and articles have their own search table
//! (`knowledge_search`: FTS5 on SQLite, a tsvector under GIN on PostgreSQL),
//! so that searching knowledge is not driven through a million incidents'
//! entries (ADR 0017). Either way the tokens (with stems) are made in Rust,
//! so both engines find the same records.

use futures::FutureExt;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};
use varde_domain::knowledge::{ArticleState, Audience};
use varde_domain::record::{LinkKind, RecordKind};
use varde_domain::search::{self, QueryTerm};
use varde_domain::DomainError;

use crate::audit::{self, Entity};
use crate::idempotency::{self, IdempotencyKey};
use crate::incidents::{next_number, Cursor};
use crate::sql::{exists, versioned, Arg, Sql};
use crate::{now_micros, Engine, Store, StoreError};

/// Who searches or reads knowledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    pub user_id: i64,
    /// Agents (and up) read internal articles and problems.
    pub agent: bool,
    /// Administrators read restricted articles of any group.
    pub admin: bool,
}

/// Number, texts and analysis of a problem, as its search document needs them.
type ProblemText = (String, String, String, Option<String>, Option<String>, Option<String>, Option<String>);

/// Rebuilds the search entry of a problem or an article.
pub(crate) async fn reindex(conn: &mut AnyConnection, engine: Engine, id: i64, kind: &str) -> Result<(), StoreError> {
    let (full, public) = match kind {
        "problem" => {
            let row: ProblemText =
                sqlx::query_as(
                    "SELECT r.number, r.short_description, r.description, p.root_cause, p.contributing_factors, p.workaround, p.permanent_fix
                     FROM records r JOIN problems p ON p.record_id = r.id WHERE r.id = $1",
                )
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
            let notes: Vec<String> =
                sqlx::query_scalar("SELECT body FROM journal WHERE record_id = $1 AND kind <> 'system' ORDER BY id")
                    .bind(id)
                    .fetch_all(&mut *conn)
                    .await?;
            let mut parts: Vec<&str> = vec![&row.0, &row.1, &row.2];
            for o in [&row.3, &row.4, &row.5, &row.6].into_iter().flatten() {
                parts.push(o);
            }
            parts.extend(notes.iter().map(String::as_str));
            // Problems are the desk's: nothing of them is a requester's to find.
            (search::document(&parts), String::new())
        }
        "article" => {
            let row: Option<(String, String, String, String, Option<i64>)> = sqlx::query_as(
                "SELECT r.number, v.title, v.body, a.audience, a.published_version
                 FROM records r JOIN articles a ON a.record_id = r.id
                 JOIN article_versions v ON v.record_id = r.id AND v.version_no = COALESCE(a.published_version, a.current_version)
                 WHERE r.id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
            let Some((number, title, body, audience, published)) = row else { return Ok(()) };
            // Readers find what they can read: the published text.
            let doc = search::document(&[&number, &title, &body]);
            let public =
                if audience == Audience::Public.as_str() && published.is_some() { doc.clone() } else { String::new() };
            (doc, public)
        }
        _ => return Ok(()),
    };
    match engine {
        Engine::Sqlite => {
            sqlx::query("DELETE FROM knowledge_search WHERE rowid = $1 OR rowid = $2")
                .bind(id)
                .bind(-id)
                .execute(&mut *conn)
                .await?;
            sqlx::query("INSERT INTO knowledge_search (rowid, document) VALUES ($1, $2), ($3, $4)")
                .bind(id)
                .bind(full.as_str())
                .bind(-id)
                .bind(public.as_str())
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
        Engine::Postgres => {
            // Weight A: what requesters may find; D: the rest.
            let rest = if public.is_empty() { full } else { String::new() };
            sqlx::query(
                "INSERT INTO knowledge_search (record_id, search)
                 VALUES ($1, setweight(to_tsvector('simple', $2), 'A') || setweight(to_tsvector('simple', $3), 'D'))
                 ON CONFLICT (record_id) DO UPDATE SET search = EXCLUDED.search",
            )
            .bind(id)
            .bind(public.as_str())
            .bind(rest.as_str())
            .execute(&mut *conn)
            .await?;
            Ok(())
        }
    }
}

/// How a list or search of problems and articles reads its rows, newest
/// first. With a text term on SQLite it is driven from the FTS5 table in
/// rowid order (rowid = id for the desk's documents, -id for the
/// requester's), as `list_incidents` is, and the LIMIT stops it after a
/// page of matches. Written as `r.id IN (SELECT rowid ... MATCH)`, SQLite
/// walked every problem and article by kind and sorted the matches: 31 to
/// 76 ms for a common word among 50,000 articles, against 1 to 2 ms driven
/// (BENCHMARKS.md). PostgreSQL reads `records` and asks its search table.
#[derive(Clone, Copy)]
pub(crate) struct Scan {
    engine: Engine,
    text: bool,
    requester: bool,
}

impl Scan {
    /// `text`: the query has a text term; `requester`: it searches what a
    /// requester may find.
    pub(crate) fn new(engine: Engine, text: bool, requester: bool) -> Scan {
        Scan { engine, text, requester }
    }

    fn driven(self) -> bool {
        self.engine == Engine::Sqlite && self.text
    }

    /// The FROM list for `from`, a list that starts with `records r`.
    pub(crate) fn from(self, from: &str) -> String {
        let rest = from.strip_prefix("records r").expect("a FROM list that starts with records r");
        match (self.driven(), self.requester) {
            (false, _) => from.to_string(),
            (true, false) => format!("knowledge_search s JOIN records r ON r.id = s.rowid{rest}"),
            (true, true) => format!("knowledge_search s JOIN records r ON r.id = -s.rowid{rest}"),
        }
    }

    /// The text condition: every term (or, with `any`, at least one) as a
    /// prefix or a stem; a requester only matches their own view.
    pub(crate) fn push_text_match(self, q: &mut Sql, terms: &[QueryTerm], any: bool) {
        match self.engine {
            Engine::Sqlite => {
                let m = search::fts5_match(terms);
                let m = if any { m.replace(") AND (", ") OR (") } else { m };
                q.push(if self.requester { " AND s.rowid < 0" } else { " AND s.rowid > 0" });
                q.push(" AND knowledge_search MATCH ").bind(Arg::Text(m));
            }
            Engine::Postgres => {
                let m = search::tsquery(terms, if self.requester { "A" } else { "" });
                let m = if any { m.replace(") & (", ") | (") } else { m };
                q.push(" AND r.id IN (SELECT record_id FROM knowledge_search WHERE search @@ to_tsquery('simple', ")
                    .bind(Arg::Text(m))
                    .push("))");
            }
        }
    }

    /// Older than the record `id` (a keyset cursor).
    pub(crate) fn push_before(self, q: &mut Sql, id: i64) {
        match (self.driven(), self.requester) {
            (false, _) => q.push(" AND r.id < ").bind(Arg::Int(id)),
            (true, false) => q.push(" AND s.rowid < ").bind(Arg::Int(id)),
            (true, true) => q.push(" AND s.rowid > ").bind(Arg::Int(-id)),
        };
    }

    /// Newest first, in the order the rows are read.
    pub(crate) fn order(self) -> &'static str {
        match (self.driven(), self.requester) {
            (false, _) => " ORDER BY r.id DESC",
            (true, false) => " ORDER BY s.rowid DESC",
            (true, true) => " ORDER BY s.rowid ASC",
        }
    }
}

/// The article visibility rule (see `knowledge::may_read`) in SQL, for the
/// published text: published, not retired, and the audience allows it.
fn push_article_visible(q: &mut Sql, v: &Viewer, now: i64) {
    q.push(" AND a.published_version IS NOT NULL AND r.state <> 'retired' AND (a.audience = 'public'");
    if v.agent {
        q.push(" OR a.audience = 'internal'");
        if v.admin {
            q.push(" OR a.audience = 'restricted'");
        } else {
            q.push(
                " OR (a.audience = 'restricted' AND EXISTS (SELECT 1 FROM article_groups ag JOIN group_members gm ON gm.group_id = ag.group_id
                   WHERE ag.record_id = r.id AND gm.user_id = ",
            )
            .bind(Arg::Int(v.user_id))
            .push("))");
        }
    }
    q.push(")");
    if !v.agent {
        // An expired article is the desk's to review, not a requester's to follow.
        q.push(" AND (a.expires_at IS NULL OR a.expires_at > ").bind(Arg::Int(now)).push(")");
    }
}

/// A problem or article found by a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct KnowledgeHit {
    pub id: i64,
    pub kind: String,
    pub number: String,
    pub state: String,
    pub title: String,
    pub body: String,
    pub workaround: Option<String>,
    pub audience: Option<String>,
    pub service_id: Option<i64>,
    pub category_id: Option<i64>,
    pub updated_at: i64,
}

/// What narrows a unified search besides its words and kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchFilter {
    /// Only records of this service (incidents, problems, articles).
    pub service_id: Option<i64>,
    /// Only records last changed at or after this instant.
    pub updated_from: Option<i64>,
    /// Only records last changed before this instant.
    pub updated_to: Option<i64>,
    /// Only open (`true`) or only finished (`false`) incidents and
    /// problems. Articles are neither, so they are left out when it is set.
    pub open: Option<bool>,
}

/// Which knowledge to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnowledgeKinds {
    pub problems: bool,
    /// Only problems published as known errors.
    pub known_errors_only: bool,
    pub articles: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Article {
    pub id: i64,
    pub number: String,
    pub version: i64,
    pub state: ArticleState,
    pub title: String,
    pub body: String,
    pub created_by: i64,
    /// Who wrote the version being worked on (the one a reviewer publishes).
    pub current_author_id: i64,
    pub category_id: Option<i64>,
    pub service_id: Option<i64>,
    pub audience: Audience,
    pub groups: Vec<i64>,
    pub review_required: bool,
    pub current_version: i64,
    pub published_version: Option<i64>,
    pub published_title: Option<String>,
    pub published_body: Option<String>,
    /// Who wrote the published version.
    pub published_author_id: Option<i64>,
    pub published_at: Option<i64>,
    pub review_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub views: i64,
    pub helpful_yes: i64,
    pub helpful_no: i64,
    pub source_incident_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Article {
    /// Readers see the published text; nothing before the first publication.
    pub fn readable(&self) -> bool {
        self.published_version.is_some() && self.state != ArticleState::Retired
    }
}

#[derive(FromRow)]
struct ArticleRow {
    id: i64,
    number: String,
    version: i64,
    state: String,
    title: String,
    body: String,
    created_by: i64,
    current_author_id: i64,
    category_id: Option<i64>,
    service_id: Option<i64>,
    audience: String,
    review_required: i64,
    current_version: i64,
    published_version: Option<i64>,
    published_title: Option<String>,
    published_body: Option<String>,
    published_author_id: Option<i64>,
    published_at: Option<i64>,
    review_at: Option<i64>,
    expires_at: Option<i64>,
    views: i64,
    helpful_yes: i64,
    helpful_no: i64,
    source_incident_id: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

const ARTICLE_COLUMNS: &str = "r.id, r.number, r.version, r.state, cv.title, cv.body, r.created_by, cv.author_id AS current_author_id, \
    a.category_id, a.service_id, a.audience, a.review_required, a.current_version, a.published_version, pv.title AS published_title, \
    pv.body AS published_body, pv.author_id AS published_author_id, a.published_at, a.review_at, a.expires_at, a.views, a.helpful_yes, a.helpful_no, \
    a.source_incident_id, r.created_at, r.updated_at";
const ARTICLE_FROM: &str = "records r JOIN articles a ON a.record_id = r.id \
    JOIN article_versions cv ON cv.record_id = r.id AND cv.version_no = a.current_version \
    LEFT JOIN article_versions pv ON pv.record_id = r.id AND pv.version_no = a.published_version";

fn article_from(r: ArticleRow, groups: Vec<i64>) -> Result<Article, StoreError> {
    let bad = |what: &str| StoreError::corrupt(format!("{what} of article {}", r.id));
    Ok(Article {
        state: ArticleState::parse("", &r.state).map_err(|_| bad("state"))?,
        audience: Audience::parse("", &r.audience).map_err(|_| bad("audience"))?,
        id: r.id,
        number: r.number,
        version: r.version,
        title: r.title,
        body: r.body,
        created_by: r.created_by,
        current_author_id: r.current_author_id,
        category_id: r.category_id,
        service_id: r.service_id,
        groups,
        review_required: r.review_required != 0,
        current_version: r.current_version,
        published_version: r.published_version,
        published_title: r.published_title,
        published_body: r.published_body,
        published_author_id: r.published_author_id,
        published_at: r.published_at,
        review_at: r.review_at,
        expires_at: r.expires_at,
        views: r.views,
        helpful_yes: r.helpful_yes,
        helpful_no: r.helpful_no,
        source_incident_id: r.source_incident_id,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

async fn article_in(conn: &mut AnyConnection, id: i64) -> Result<Article, StoreError> {
    let row: ArticleRow =
        sqlx::query_as(&format!("SELECT {ARTICLE_COLUMNS} FROM {ARTICLE_FROM} WHERE r.id = $1 AND r.kind = 'article'"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(StoreError::NotFound)?;
    let groups: Vec<i64> =
        sqlx::query_scalar("SELECT group_id FROM article_groups WHERE record_id = $1 ORDER BY group_id")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    article_from(row, groups)
}

#[derive(Debug, Clone)]
pub struct NewArticle {
    pub title: String,
    pub body: String,
    pub author: i64,
    pub category_id: Option<i64>,
    pub service_id: Option<i64>,
    pub audience: Audience,
    pub groups: Vec<i64>,
    pub review_required: bool,
    pub review_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub source_incident_id: Option<i64>,
}

/// A change to an article; a new title or body makes a new version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArticlePatch {
    pub title: Option<String>,
    pub body: Option<String>,
    pub category_id: Option<Option<i64>>,
    pub service_id: Option<Option<i64>>,
    pub audience: Option<Audience>,
    pub groups: Option<Vec<i64>>,
    pub review_required: Option<bool>,
    pub review_at: Option<Option<i64>>,
    pub expires_at: Option<Option<i64>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct ArticleVersion {
    pub version_no: i64,
    pub title: String,
    pub body: String,
    pub author_id: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct ArticleFilter {
    pub states: Vec<ArticleState>,
    pub audience: Option<Audience>,
    pub category_id: Option<i64>,
    pub service_id: Option<i64>,
    pub text: Option<String>,
    /// Only articles whose review date has passed (the owners' to-do list).
    pub review_due: bool,
}

async fn check_article_refs(
    conn: &mut AnyConnection,
    category: Option<i64>,
    service: Option<i64>,
    groups: &[i64],
    audience: Audience,
) -> Result<(), StoreError> {
    if let Some(c) = category {
        if !exists(conn, "categories", c).await? {
            return Err(StoreError::UnknownReference { field: "category_id" });
        }
    }
    if let Some(s) = service {
        if !exists(conn, "services", s).await? {
            return Err(StoreError::UnknownReference { field: "service_id" });
        }
    }
    for g in groups {
        if !exists(conn, "assignment_groups", *g).await? {
            return Err(StoreError::UnknownReference { field: "groups" });
        }
    }
    if audience == Audience::Restricted && groups.is_empty() {
        return Err(DomainError::field("groups", "a restricted article needs at least one group").into());
    }
    Ok(())
}

async fn set_groups(conn: &mut AnyConnection, id: i64, groups: &[i64]) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM article_groups WHERE record_id = $1").bind(id).execute(&mut *conn).await?;
    let mut seen = Vec::new();
    for g in groups {
        if !seen.contains(g) {
            seen.push(*g);
            sqlx::query("INSERT INTO article_groups (record_id, group_id) VALUES ($1, $2)")
                .bind(id)
                .bind(*g)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// The article as stored, refused as a conflict when it is no longer the
/// version the caller read (`expected`, if given).
async fn article_at(conn: &mut AnyConnection, id: i64, expected: Option<i64>) -> Result<Article, StoreError> {
    let a = article_in(conn, id).await?;
    match expected {
        Some(v) if v != a.version => Err(StoreError::Conflict { current: a.version }),
        _ => Ok(a),
    }
}

/// Edits an article inside the caller's transaction. A new title or body
/// is a new version; if the article was in review or published, the new
/// text goes back to draft (the published version stays readable until
/// the new one is published).
async fn update_article_in(
    conn: &mut AnyConnection,
    engine: Engine,
    id: i64,
    expected_version: Option<i64>,
    patch: ArticlePatch,
    actor: i64,
) -> Result<Article, StoreError> {
    let old = article_at(conn, id, expected_version).await?;
    if old.state == ArticleState::Retired {
        return Err(
            DomainError::field("state", "a retired article cannot be changed; revive it as a draft first").into()
        );
    }
    let title = patch.title.clone().unwrap_or(old.title.clone());
    let body = patch.body.clone().unwrap_or(old.body.clone());
    let new_text = title != old.title || body != old.body;
    let audience = patch.audience.unwrap_or(old.audience);
    let groups = patch.groups.clone().unwrap_or(old.groups.clone());
    let category = patch.category_id.unwrap_or(old.category_id);
    let service = patch.service_id.unwrap_or(old.service_id);
    let review_required = patch.review_required.unwrap_or(old.review_required);
    let review_at = patch.review_at.unwrap_or(old.review_at);
    let expires_at = patch.expires_at.unwrap_or(old.expires_at);
    let mut cs = varde_domain::record::ChangeSet::default();
    cs.record("title", &Some(&old.title), &Some(&title));
    cs.record("body", &Some(&old.body), &Some(&body));
    cs.record("audience", &Some(old.audience.as_str()), &Some(audience.as_str()));
    cs.record("groups", &Some(format!("{:?}", old.groups)), &Some(format!("{groups:?}")));
    cs.record("category_id", &old.category_id, &category);
    cs.record("service_id", &old.service_id, &service);
    cs.record("review_required", &Some(old.review_required), &Some(review_required));
    cs.record("review_at", &old.review_at, &review_at);
    cs.record("expires_at", &old.expires_at, &expires_at);
    if cs.is_empty() {
        return Ok(old);
    }
    check_article_refs(conn, category, service, &groups, audience).await?;
    let now = now_micros();
    let mut current = old.current_version;
    let mut state = old.state;
    if new_text {
        current += 1;
        sqlx::query(
            "INSERT INTO article_versions (record_id, version_no, title, body, author_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(current)
        .bind(&title)
        .bind(&body)
        .bind(actor)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        state = ArticleState::Draft;
        cs.record("state", &Some(old.state.as_str()), &Some(state.as_str()));
    }
    let n = sqlx::query(
        "UPDATE records SET version = version + 1, state = $1, short_description = $2, description = $3, updated_at = $4
         WHERE id = $5 AND version = $6",
    )
    .bind(state.as_str())
    .bind(&title)
    .bind(&body)
    .bind(now)
    .bind(id)
    .bind(old.version)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    versioned(n, old.version)?;
    sqlx::query(
        "UPDATE articles SET category_id = $1, service_id = $2, audience = $3, review_required = $4, current_version = $5,
            review_at = $6, expires_at = $7 WHERE record_id = $8",
    )
    .bind(category)
    .bind(service)
    .bind(audience.as_str())
    .bind(review_required as i64)
    .bind(current)
    .bind(review_at)
    .bind(expires_at)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if patch.groups.is_some() {
        set_groups(conn, id, &groups).await?;
    }
    audit::changes(conn, Entity::Record, id, Some(actor), now, &cs).await?;
    reindex(conn, engine, id, "article").await?;
    article_in(conn, id).await
}

/// Moves an article through its workflow inside the caller's transaction;
/// `reviewer` says whether the actor holds the review right. The domain
/// rule decides (`knowledge::check_step`), with the author of the current
/// version.
async fn transition_article_in(
    conn: &mut AnyConnection,
    engine: Engine,
    id: i64,
    expected_version: Option<i64>,
    to: ArticleState,
    actor: i64,
    reviewer: bool,
) -> Result<Article, StoreError> {
    let old = article_at(conn, id, expected_version).await?;
    if old.state == to {
        return Ok(old);
    }
    let who = varde_domain::knowledge::Actor { is_author: old.current_author_id == actor, reviewer };
    let live = old.published_version.is_some();
    varde_domain::knowledge::check_step(old.state, to, who, old.review_required, live)?;
    let now = now_micros();
    let n = sqlx::query(
        "UPDATE records SET version = version + 1, state = $1, is_open = $2, updated_at = $3 WHERE id = $4 AND version = $5",
    )
    .bind(to.as_str())
    .bind((to != ArticleState::Retired) as i64)
    .bind(now)
    .bind(id)
    .bind(old.version)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    versioned(n, old.version)?;
    if to == ArticleState::Published {
        sqlx::query("UPDATE articles SET published_version = current_version, published_at = $1 WHERE record_id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    if old.state == ArticleState::Retired {
        // A revived article is a draft with nothing published: its old
        // text goes back to readers only when a reviewer publishes it
        // again, or anyone could undo a reviewer's retirement.
        sqlx::query("UPDATE articles SET published_version = NULL, published_at = NULL WHERE record_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    audit::write(conn, Entity::Record, id, Some(actor), now, "state", Some(old.state.as_str()), Some(to.as_str()))
        .await?;
    reindex(conn, engine, id, "article").await?;
    article_in(conn, id).await
}

/// Figures for the knowledge and problem report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub resolved_incidents: i64,
    pub first_contact_resolved: i64,
    pub resolved_with_knowledge: i64,
    pub deflections: i64,
    pub portal_incidents: i64,
    pub top_problems: Vec<ProblemFigure>,
    pub top_problems_by_time: Vec<ProblemFigure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct ProblemFigure {
    pub id: i64,
    pub number: String,
    pub short_description: String,
    pub state: String,
    pub resolved_at: Option<i64>,
    pub incidents: i64,
    /// Sum over linked incidents of the time each was open, microseconds.
    pub time_spent: i64,
    /// Linked incidents opened before / after the problem was resolved.
    pub incidents_before_resolution: i64,
    pub incidents_after_resolution: i64,
}

impl Store {
    pub async fn create_article(&self, new: NewArticle) -> Result<Article, StoreError> {
        Ok(self.create_article_with_key(new, None).await?.0)
    }

    /// Creates an article; under an idempotency key already used, returns
    /// the article that key made (and `true`) instead.
    pub async fn create_article_with_key(
        &self,
        new: NewArticle,
        idem: Option<IdempotencyKey>,
    ) -> Result<(Article, bool), StoreError> {
        let engine = self.engine();
        self.write(move |conn| {
            async move {
                if let Some(k) = &idem {
                    if let Some(id) = idempotency::claim(conn, k).await? {
                        return Ok((article_in(conn, id).await?, true));
                    }
                }
                check_article_refs(conn, new.category_id, new.service_id, &new.groups, new.audience).await?;
                if let Some(src) = new.source_incident_id {
                    if !exists(conn, "records", src).await? {
                        return Err(StoreError::UnknownReference { field: "source_incident_id" });
                    }
                }
                let number = next_number(conn, engine, RecordKind::Article).await?;
                let now = now_micros();
                // An article's record: requester = author, priority unused (5).
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO records (kind, number, version, state, is_open, short_description, description, requester_id, created_by,
                        priority, created_at, updated_at)
                     VALUES ('article', $1, 1, 'draft', 1, $2, $3, $4, $4, 5, $5, $5) RETURNING id",
                )
                .bind(&number)
                .bind(&new.title)
                .bind(&new.body)
                .bind(new.author)
                .bind(now)
                .fetch_one(&mut *conn)
                .await?;
                sqlx::query(
                    "INSERT INTO articles (record_id, category_id, service_id, audience, review_required, current_version, review_at,
                        expires_at, source_incident_id) VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8)",
                )
                .bind(id)
                .bind(new.category_id)
                .bind(new.service_id)
                .bind(new.audience.as_str())
                .bind(new.review_required as i64)
                .bind(new.review_at)
                .bind(new.expires_at)
                .bind(new.source_incident_id)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "INSERT INTO article_versions (record_id, version_no, title, body, author_id, created_at) VALUES ($1, 1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(&new.title)
                .bind(&new.body)
                .bind(new.author)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                set_groups(conn, id, &new.groups).await?;
                audit::created(conn, Entity::Record, id, Some(new.author), now).await?;
                if let Some(src) = new.source_incident_id {
                    crate::problems::desk_note(conn, src, new.author, now, &format!("Knowledge article {number} drafted from this incident"))
                        .await?;
                }
                reindex(conn, engine, id, "article").await?;
                if let Some(k) = &idem {
                    idempotency::remember(conn, k, id).await?;
                }
                Ok((article_in(conn, id).await?, false))
            }
            .boxed()
        })
        .await
    }

    pub async fn article(&self, id: i64) -> Result<Article, StoreError> {
        let mut conn = self.pool().acquire().await?;
        article_in(&mut conn, id).await
    }

    pub async fn article_by_number(&self, number: &str) -> Result<Article, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM records WHERE number = $1 AND kind = 'article'")
            .bind(number.to_uppercase())
            .fetch_optional(self.pool())
            .await?;
        self.article(id.ok_or(StoreError::NotFound)?).await
    }

    /// Edits an article (see `update_article_in`); a stale
    /// `expected_version` is refused and nothing is written.
    pub async fn update_article(
        &self,
        id: i64,
        expected_version: Option<i64>,
        patch: ArticlePatch,
        actor: i64,
    ) -> Result<Article, StoreError> {
        self.edit_article(id, expected_version, patch, None, actor, false).await
    }

    /// Moves an article through its workflow (see `transition_article_in`).
    pub async fn transition_article(
        &self,
        id: i64,
        expected_version: Option<i64>,
        to: ArticleState,
        actor: i64,
        reviewer: bool,
    ) -> Result<Article, StoreError> {
        self.edit_article(id, expected_version, ArticlePatch::default(), Some(to), actor, reviewer).await
    }

    /// Edits an article and then takes the workflow step `to`, if any, in
    /// one transaction: when the step is refused, the edit is not kept
    /// either. A step checks the article as the edit left it (new text is
    /// a draft again, written by `actor`).
    pub async fn edit_article(
        &self,
        id: i64,
        expected_version: Option<i64>,
        patch: ArticlePatch,
        to: Option<ArticleState>,
        actor: i64,
        reviewer: bool,
    ) -> Result<Article, StoreError> {
        let engine = self.engine();
        self.write(move |conn| {
            async move {
                let mut expected = expected_version;
                let mut edited = None;
                if patch != ArticlePatch::default() {
                    edited = Some(update_article_in(conn, engine, id, expected, patch, actor).await?);
                    // The edit checked it; its own new version is the step's to take.
                    expected = None;
                }
                if let Some(to) = to {
                    return transition_article_in(conn, engine, id, expected, to, actor, reviewer).await;
                }
                match edited {
                    Some(a) => Ok(a),
                    None => article_at(conn, id, expected).await,
                }
            }
            .boxed()
        })
        .await
    }

    pub async fn article_versions(&self, id: i64) -> Result<Vec<ArticleVersion>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT version_no, title, body, author_id, created_at FROM article_versions WHERE record_id = $1 ORDER BY version_no",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    /// A page of articles the viewer may see, newest first. Agents see the
    /// working copies of every article they may read; requesters only
    /// published public ones.
    pub async fn list_articles(
        &self,
        viewer: &Viewer,
        filter: &ArticleFilter,
        cursor: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<Article>, StoreError> {
        let scan = Scan::new(self.engine(), filter.text.is_some(), !viewer.agent);
        let mut q =
            Sql::new(&format!("SELECT {ARTICLE_COLUMNS} FROM {} WHERE r.kind = 'article'", scan.from(ARTICLE_FROM)));
        if viewer.agent {
            // Agents see drafts too, within the audiences they may read.
            q.push(" AND (a.audience <> 'restricted'");
            if viewer.admin {
                q.push(" OR 1 = 1");
            } else {
                q.push(" OR EXISTS (SELECT 1 FROM article_groups ag JOIN group_members gm ON gm.group_id = ag.group_id WHERE ag.record_id = r.id AND gm.user_id = ")
                    .bind(Arg::Int(viewer.user_id))
                    .push(")");
            }
            q.push(")");
        } else {
            push_article_visible(&mut q, viewer, now_micros());
        }
        if !filter.states.is_empty() {
            q.push(" AND r.state IN ").bind_list(filter.states.iter().map(|s| Arg::Text(s.as_str().into())));
        }
        if let Some(a) = filter.audience {
            q.push(" AND a.audience = ").bind(Arg::Text(a.as_str().into()));
        }
        if let Some(c) = filter.category_id {
            q.push(" AND a.category_id = ").bind(Arg::Int(c));
        }
        if let Some(s) = filter.service_id {
            q.push(" AND a.service_id = ").bind(Arg::Int(s));
        }
        if filter.review_due {
            q.push(" AND a.review_at IS NOT NULL AND a.review_at <= ").bind(Arg::Int(now_micros()));
        }
        if let Some(text) = &filter.text {
            let terms = search::query(text);
            if terms.is_empty() {
                return Ok(Vec::new());
            }
            scan.push_text_match(&mut q, &terms, false);
        }
        if let Some(c) = cursor {
            scan.push_before(&mut q, c.id);
        }
        q.push(scan.order()).push(" LIMIT ").bind(Arg::Int(limit));
        let rows: Vec<ArticleRow> = q.query_as().fetch_all(self.pool()).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let groups: Vec<i64> =
                sqlx::query_scalar("SELECT group_id FROM article_groups WHERE record_id = $1 ORDER BY group_id")
                    .bind(r.id)
                    .fetch_all(self.pool())
                    .await?;
            out.push(article_from(r, groups)?);
        }
        Ok(out)
    }

    /// May the viewer read the article's published text?
    pub async fn may_read_article(&self, viewer: &Viewer, id: i64) -> Result<bool, StoreError> {
        let mut q = Sql::new("SELECT COUNT(*) FROM records r JOIN articles a ON a.record_id = r.id WHERE r.id = ");
        q.bind(Arg::Int(id));
        push_article_visible(&mut q, viewer, now_micros());
        let n: (i64,) = q.query_as().fetch_one(self.pool()).await?;
        Ok(n.0 > 0)
    }

    /// Problems and articles matching `terms` that the viewer may see,
    /// newest first; at most `limit` (the caller ranks them). With `any`, a
    /// record matching one term is enough (suggestions); otherwise all must.
    pub async fn search_knowledge(
        &self,
        viewer: &Viewer,
        terms: &[QueryTerm],
        any: bool,
        kinds: KnowledgeKinds,
        filter: &SearchFilter,
        limit: i64,
    ) -> Result<Vec<KnowledgeHit>, StoreError> {
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let problems = kinds.problems && viewer.agent;
        if !problems && !kinds.articles {
            return Ok(Vec::new());
        }
        let scan = Scan::new(self.engine(), true, !viewer.agent);
        let from = scan.from(
            "records r LEFT JOIN problems p ON p.record_id = r.id LEFT JOIN articles a ON a.record_id = r.id
             LEFT JOIN article_versions pv ON pv.record_id = r.id AND pv.version_no = a.published_version",
        );
        let mut q = Sql::new(&format!(
            "SELECT r.id, r.kind, r.number, r.state, COALESCE(pv.title, r.short_description) AS title,
                COALESCE(pv.body, r.description) AS body, p.workaround, a.audience,
                COALESCE(p.service_id, a.service_id) AS service_id, COALESCE(p.category_id, a.category_id) AS category_id, r.updated_at
             FROM {from} WHERE r.kind IN ('problem', 'article')"
        ));
        scan.push_text_match(&mut q, terms, any);
        if let Some(sv) = filter.service_id {
            q.push(" AND COALESCE(p.service_id, a.service_id) = ").bind(Arg::Int(sv));
        }
        if let Some(t) = filter.updated_from {
            q.push(" AND r.updated_at >= ").bind(Arg::Int(t));
        }
        if let Some(t) = filter.updated_to {
            q.push(" AND r.updated_at < ").bind(Arg::Int(t));
        }
        if let Some(o) = filter.open {
            q.push(" AND r.kind = 'problem' AND r.is_open = ").bind(Arg::Int(o as i64));
        }
        q.push(" AND (");
        if problems {
            q.push("(r.kind = 'problem'");
            if kinds.known_errors_only {
                q.push(" AND r.state = 'known_error'");
            }
            q.push(")");
        } else {
            q.push("1 = 0");
        }
        if kinds.articles {
            q.push(" OR (r.kind = 'article'");
            push_article_visible(&mut q, viewer, now_micros());
            q.push(")");
        }
        q.push(")").push(scan.order()).push(" LIMIT ").bind(Arg::Int(limit));
        Ok(q.query_as().fetch_all(self.pool()).await?)
    }

    /// Counts a view of an article (not a field change: no version bump, no audit).
    pub async fn count_article_view(&self, id: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                let n = sqlx::query("UPDATE articles SET views = views + 1 WHERE record_id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                crate::sql::found(n)
            }
            .boxed()
        })
        .await
    }

    /// "Did this help?" with an optional comment. Each person's latest
    /// answer is the one counted: asking again changes their vote, it does
    /// not add one (every comment is kept).
    pub async fn add_article_feedback(
        &self,
        id: i64,
        user: i64,
        helpful: bool,
        comment: String,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                // The article's row held (PostgreSQL) while the vote is
                // counted: two clicks at once must not both count as first.
                let lock = if crate::sql::engine_of(conn) == crate::Engine::Postgres { " FOR NO KEY UPDATE" } else { "" };
                let held: Option<i64> =
                    sqlx::query_scalar(&format!("SELECT record_id FROM articles WHERE record_id = $1{lock}"))
                        .bind(id)
                        .fetch_optional(&mut *conn)
                        .await?;
                held.ok_or(StoreError::NotFound)?;
                let before: Option<i64> = sqlx::query_scalar(
                    "SELECT helpful FROM article_feedback WHERE record_id = $1 AND user_id = $2 ORDER BY id DESC LIMIT 1",
                )
                .bind(id)
                .bind(user)
                .fetch_optional(&mut *conn)
                .await?;
                let col = |h: bool| if h { "helpful_yes" } else { "helpful_no" };
                let counts = match before.map(|b| b != 0) {
                    Some(old) if old == helpful => None,
                    Some(old) => Some(format!("{new} = {new} + 1, {old} = {old} - 1", new = col(helpful), old = col(old))),
                    None => Some(format!("{new} = {new} + 1", new = col(helpful))),
                };
                if let Some(set) = counts {
                    sqlx::query(&format!("UPDATE articles SET {set} WHERE record_id = $1")).bind(id).execute(&mut *conn).await?;
                }
                sqlx::query("INSERT INTO article_feedback (record_id, user_id, helpful, comment, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(id)
                    .bind(user)
                    .bind(helpful as i64)
                    .bind(&comment)
                    .bind(now_micros())
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    pub async fn article_feedback(&self, id: i64) -> Result<Vec<(i64, bool, String, i64)>, StoreError> {
        let rows: Vec<(i64, i64, String, i64)> = sqlx::query_as(
            "SELECT user_id, helpful, comment, created_at FROM article_feedback WHERE record_id = $1 ORDER BY id DESC LIMIT 200",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(u, h, c, t)| (u, h != 0, c, t)).collect())
    }

    /// A requester found the answer in an article and did not file.
    pub async fn record_deflection(&self, user: i64, article_id: i64, subject: String) -> Result<(), StoreError> {
        self.write(move |conn| {
            async move {
                let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM records WHERE id = $1")
                    .bind(article_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                if kind.as_deref() != Some("article") {
                    return Err(StoreError::UnknownReference { field: "article_id" });
                }
                sqlx::query(
                    "INSERT INTO deflections (user_id, article_id, subject, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(user)
                .bind(article_id)
                .bind(&subject)
                .bind(now_micros())
                .execute(&mut *conn)
                .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    /// Links an incident to the article that resolved it (`resolved_by`)
    /// with a journal line the requester sees.
    pub async fn resolve_with_article(&self, incident_id: i64, article_id: i64, actor: i64) -> Result<(), StoreError> {
        let engine = self.engine();
        self.write(move |conn| {
            async move {
                let a = article_in(conn, article_id).await?;
                let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM records WHERE id = $1")
                    .bind(incident_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                if kind.as_deref() != Some("incident") {
                    return Err(StoreError::NotFound);
                }
                let now = now_micros();
                crate::incidents::insert_link(
                    conn,
                    incident_id,
                    article_id,
                    LinkKind::ResolvedBy,
                    actor,
                    now,
                    "article",
                )
                .await?;
                let title = a.published_title.as_deref().unwrap_or(&a.title);
                let body = format!("Knowledge article {}: {title}", a.number);
                crate::incidents::reply_in(conn, engine, incident_id, actor, &body, now).await
            }
            .boxed()
        })
        .await
    }

    /// The knowledge and problem report over incidents created in `[from, to)`.
    pub async fn knowledge_report(&self, from: i64, to: i64) -> Result<Report, StoreError> {
        let pool = self.pool();
        let (resolved, fcr): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(i.first_contact), 0) AS BIGINT) FROM records r JOIN incidents i ON i.record_id = r.id
             WHERE r.kind = 'incident' AND r.resolved_at IS NOT NULL AND r.created_at >= $1 AND r.created_at < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_one(pool)
        .await?;
        let with_knowledge: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM records r WHERE r.kind = 'incident' AND r.resolved_at IS NOT NULL AND r.created_at >= $1 AND r.created_at < $2
               AND EXISTS (SELECT 1 FROM record_links l WHERE l.from_id = r.id AND l.kind IN ('resolved_by', 'workaround_from'))",
        )
        .bind(from)
        .bind(to)
        .fetch_one(pool)
        .await?;
        let deflections: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM deflections WHERE created_at >= $1 AND created_at < $2")
                .bind(from)
                .bind(to)
                .fetch_one(pool)
                .await?;
        let portal: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM records r JOIN incidents i ON i.record_id = r.id
             WHERE r.kind = 'incident' AND i.channel = 'portal' AND r.created_at >= $1 AND r.created_at < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_one(pool)
        .await?;
        let now = now_micros();
        // Both lists come from one text and differ only in their order. A
        // problem counts only its incidents created in the period (as every
        // other figure here does), so one whose incidents all fall outside
        // it is not listed; an incident still open has cost time until now.
        let top = |order: &'static str| async move {
            let sql = format!("SELECT p.id, p.number, p.short_description, p.state, p.resolved_at, COUNT(i.id) AS incidents,
                CAST(COALESCE(SUM(COALESCE(i.resolved_at, $1) - i.created_at), 0) AS BIGINT) AS time_spent,
                CAST(COALESCE(SUM(CASE WHEN p.resolved_at IS NULL OR i.created_at < p.resolved_at THEN 1 ELSE 0 END), 0) AS BIGINT) AS incidents_before_resolution,
                CAST(COALESCE(SUM(CASE WHEN p.resolved_at IS NOT NULL AND i.created_at >= p.resolved_at THEN 1 ELSE 0 END), 0) AS BIGINT) AS incidents_after_resolution
             FROM records p JOIN record_links l ON l.to_id = p.id AND l.kind = 'caused_by'
             JOIN records i ON i.id = l.from_id AND i.created_at >= $2 AND i.created_at < $3
             WHERE p.kind = 'problem'
             GROUP BY p.id, p.number, p.short_description, p.state, p.resolved_at
             ORDER BY {order} DESC, p.id DESC LIMIT 20");
            sqlx::query_as::<_, ProblemFigure>(&sql).bind(now).bind(from).bind(to).fetch_all(pool).await
        };
        let (top, by_time) = futures::try_join!(top("incidents"), top("time_spent"))?;
        Ok(Report {
            resolved_incidents: resolved,
            first_contact_resolved: fcr,
            resolved_with_knowledge: with_knowledge,
            deflections,
            portal_incidents: portal,
            top_problems: top,
            top_problems_by_time: by_time,
        })
    }
}

/// What the unified search may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchKinds {
    pub incidents: bool,
    pub problems: bool,
    pub known_errors: bool,
    pub articles: bool,
}

impl SearchKinds {
    pub const ALL: SearchKinds = SearchKinds { incidents: true, problems: true, known_errors: true, articles: true };
}

/// One result of the unified search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    /// incident, problem, known_error or article.
    pub kind: &'static str,
    pub id: i64,
    pub number: String,
    pub title: String,
    pub state: String,
    /// HTML: escaped text with the matched words in `<mark>`.
    pub snippet: String,
    pub score: f64,
    pub updated_at: i64,
}

/// How many of each kind the engines hand to the ranking: the newest
/// matches, the same on both engines, ranked in Rust.
const CANDIDATES: i64 = 100;

impl Store {
    /// One full-text search across incidents, problems, known errors and
    /// articles that the viewer may see: a requester finds only their own
    /// (and shared) incidents and public articles, never a work note, a
    /// problem or an internal article; restricted articles only reach
    /// members of their groups. Ranked by [`search::score`], best first,
    /// newest first among equals.
    pub async fn search_all(
        &self,
        viewer: &Viewer,
        q: &str,
        kinds: SearchKinds,
        filter: &SearchFilter,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let terms = search::query(q);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        // The two reads are independent: run them side by side.
        let incidents = async {
            if !kinds.incidents {
                return Ok(Vec::new());
            }
            let scope = if viewer.agent {
                crate::incidents::Scope::All
            } else {
                crate::incidents::Scope::Requester(viewer.user_id)
            };
            let f = crate::incidents::Filter {
                text: Some(q.to_string()),
                service_id: filter.service_id,
                updated_from: filter.updated_from,
                updated_to: filter.updated_to,
                open: filter.open,
                ..Default::default()
            };
            self.list_incidents(scope, &f, crate::incidents::Sort::Newest, None, CANDIDATES).await
        };
        let kk = KnowledgeKinds {
            problems: kinds.problems || kinds.known_errors,
            known_errors_only: kinds.known_errors && !kinds.problems,
            articles: kinds.articles,
        };
        let knowledge = self.search_knowledge(viewer, &terms, false, kk, filter, CANDIDATES);
        let (found, known) = futures::try_join!(incidents, knowledge)?;
        // Every candidate is scored; only those kept get a snippet (the
        // highlight costs about what the score does). `source` is the text
        // the snippet is cut from.
        let mut hits: Vec<(SearchHit, String)> = Vec::with_capacity(found.len() + known.len());
        for i in found {
            let source = if i.description.is_empty() { i.short_description.clone() } else { i.description.clone() };
            let hit = SearchHit {
                kind: "incident",
                id: i.id,
                score: search::score(&i.short_description, &i.description, &terms),
                snippet: String::new(),
                number: i.number,
                title: i.short_description,
                state: i.lifecycle.state.as_str().into(),
                updated_at: i.updated_at,
            };
            hits.push((hit, source));
        }
        for h in known {
            let kind = match (h.kind.as_str(), h.state.as_str()) {
                ("article", _) => "article",
                (_, "known_error") => "known_error",
                _ => "problem",
            };
            let text = match (&h.workaround, h.body.is_empty()) {
                (Some(w), true) => w.clone(),
                _ => h.body.clone(),
            };
            let source = if text.is_empty() { h.title.clone() } else { text };
            let body_for_score = format!("{} {}", h.body, h.workaround.as_deref().unwrap_or(""));
            let hit = SearchHit {
                kind,
                id: h.id,
                score: search::score(&h.title, &body_for_score, &terms),
                snippet: String::new(),
                number: h.number,
                title: h.title,
                state: h.state,
                updated_at: h.updated_at,
            };
            hits.push((hit, source));
        }
        hits.sort_by(|(a, _), (b, _)| b.score.total_cmp(&a.score).then(b.id.cmp(&a.id)));
        hits.truncate(limit);
        Ok(hits
            .into_iter()
            .map(|(mut hit, source)| {
                hit.snippet = search::highlight(&source, &terms, 200);
                hit
            })
            .collect())
    }

    /// Articles and known errors that may help with a text (an incident's
    /// subject and description, or what a requester is typing): records
    /// matching any of its words, ranked. `articles_only` for the portal.
    pub async fn suggestions(
        &self,
        viewer: &Viewer,
        text: &str,
        service_id: Option<i64>,
        category_id: Option<i64>,
        articles_only: bool,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        // Words of three letters or fewer ("the", "is", "my") would match
        // nearly everything with `any`; product names like "vpn" are kept
        // by their length of three only when they are the whole query.
        let all = search::query(text);
        let long: Vec<QueryTerm> = all.iter().filter(|t| t.word.chars().count() > 3).cloned().collect();
        let terms = if long.is_empty() { all } else { long };
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let kinds = KnowledgeKinds { problems: !articles_only, known_errors_only: true, articles: true };
        let found = self.search_knowledge(viewer, &terms, true, kinds, &SearchFilter::default(), CANDIDATES).await?;
        let mut hits: Vec<SearchHit> = found
            .into_iter()
            .map(|h| {
                let body = format!("{} {}", h.body, h.workaround.as_deref().unwrap_or(""));
                let mut score = search::score(&h.title, &body, &terms);
                // Same service or category: more likely the same cause.
                if service_id.is_some() && h.service_id == service_id {
                    score += 1.0;
                }
                if category_id.is_some() && h.category_id == category_id {
                    score += 0.5;
                }
                SearchHit {
                    kind: if h.kind == "article" { "article" } else { "known_error" },
                    id: h.id,
                    score,
                    snippet: search::highlight(
                        if h.kind == "article" { &h.body } else { h.workaround.as_deref().unwrap_or(&h.body) },
                        &terms,
                        160,
                    ),
                    number: h.number,
                    title: h.title,
                    state: h.state,
                    updated_at: h.updated_at,
                }
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.id.cmp(&a.id)));
        hits.truncate(limit);
        Ok(hits)
    }
}
