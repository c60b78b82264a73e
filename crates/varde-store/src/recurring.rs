//! Problem candidates: groups of similar incidents found by the recurring-
//! incident job (`varde_domain::recurring`), waiting for a problem manager.
//! Decided candidates stay, so a rejected group is not proposed again.

use futures::FutureExt;
use serde::Serialize;
use sqlx::FromRow;
use varde_domain::recurring::{Cluster, Item};
use varde_domain::DomainError;

use crate::sql::{json_param, json_rows, Arg, Sql};
use sqlx::AnyConnection;
use varde_domain::problem::Problem;

use crate::problems::NewProblem;
use crate::{now_micros, Engine, Store, StoreError};

/// A candidate as stored: id, group key, service, category, terms, cohesion.
type StoredCandidate<'a> = (i64, &'a str, Option<i64>, Option<i64>, String, i64);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub id: i64,
    pub group_key: String,
    pub service_id: Option<i64>,
    pub category_id: Option<i64>,
    /// The shared words: the evidence.
    pub terms: Vec<String>,
    /// Mean cosine similarity, in percent.
    pub cohesion: i64,
    pub state: String,
    pub problem_id: Option<i64>,
    pub incidents: Vec<i64>,
    pub created_at: i64,
    pub decided_by: Option<i64>,
    pub decided_at: Option<i64>,
}

#[derive(FromRow)]
struct CandidateRow {
    id: i64,
    group_key: String,
    service_id: Option<i64>,
    category_id: Option<i64>,
    terms: String,
    cohesion: i64,
    state: String,
    problem_id: Option<i64>,
    created_at: i64,
    decided_by: Option<i64>,
    decided_at: Option<i64>,
}

const COLUMNS: &str =
    "id, group_key, service_id, category_id, terms, cohesion, state, problem_id, created_at, decided_by, decided_at";

/// id, service, category, lowest affected CI, created_at, short description, description.
type SimilarityRow = (i64, Option<i64>, Option<i64>, Option<i64>, i64, String, String);

/// The group key of an incident: the CI it affects (the lowest id when it
/// names several), or else its service and category. Incidents on one CI
/// are the strongest hint of one cause, however differently the desk filed
/// them; without a CI, service and category are what the desk knows.
pub fn group_key(service: Option<i64>, category: Option<i64>, ci: Option<i64>) -> String {
    match ci {
        Some(ci) => format!("ci{ci}"),
        None => format!(
            "s{}:c{}",
            service.map(|v| v.to_string()).unwrap_or_default(),
            category.map(|v| v.to_string()).unwrap_or_default()
        ),
    }
}

impl Store {
    /// Incidents opened since `from` that are not linked to a problem yet
    /// and not in any candidate, as the similarity wants them.
    pub async fn similarity_items(&self, from: i64) -> Result<Vec<Item>, StoreError> {
        let rows: Vec<SimilarityRow> = sqlx::query_as(
            "SELECT r.id, i.service_id, i.category_id, (SELECT MIN(rc.ci_id) FROM record_cis rc WHERE rc.record_id = r.id),
                r.created_at, r.short_description, r.description
             FROM records r JOIN incidents i ON i.record_id = r.id
             WHERE r.kind = 'incident' AND r.created_at >= $1
               AND NOT EXISTS (SELECT 1 FROM record_links l WHERE l.from_id = r.id AND l.kind = 'caused_by')
               AND NOT EXISTS (SELECT 1 FROM problem_candidate_incidents c WHERE c.incident_id = r.id)",
        )
        .bind(from)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, s, c, ci, at, short, desc)| Item {
                id,
                group: group_key(s, c, ci),
                at,
                // The short description says what is wrong; a long
                // description would drown it, so only its start counts.
                text: format!("{short} {short} {}", desc.chars().take(300).collect::<String>()),
            })
            .collect())
    }

    /// Stores new candidates; returns how many were added. Set-wise: one
    /// statement for the candidates and one per 20,000 of their incidents,
    /// rows bound as JSON (`sql::json_rows`). A run over 100,000 incidents
    /// finds thousands of candidates, and a statement or two per candidate
    /// took 9 s of round trips on PostgreSQL (BENCHMARKS.md).
    pub async fn save_candidates(&self, clusters: Vec<Cluster>) -> Result<usize, StoreError> {
        use crate::sql::JsonCol::{Int, Text};
        if clusters.is_empty() {
            return Ok(0);
        }
        let engine = self.engine();
        self.write(move |conn| {
            async move {
                let now = now_micros();
                let ids = reserve_candidate_ids(conn, engine, clusters.len()).await?;
                let rows: Vec<StoredCandidate> = clusters
                    .iter()
                    .zip(&ids)
                    .map(|(c, id)| {
                        // A CI's group (`ci7`) names no service or category.
                        let parse = |p: &str| p.get(1..).and_then(|p| p.parse::<i64>().ok());
                        let (s, cat) = c.group.split_once(':').unwrap_or(("s", "c"));
                        (*id, c.group.as_str(), parse(s), parse(cat), c.terms.join(" "), (c.cohesion * 100.0).round() as i64)
                    })
                    .collect();
                let v = json_rows(
                    engine,
                    1,
                    &[("id", Int), ("grp", Text), ("service", Int), ("category", Int), ("terms", Text), ("cohesion", Int)],
                );
                sqlx::query(&format!(
                    "INSERT INTO problem_candidates (id, group_key, service_id, category_id, terms, cohesion, state, created_at)
                     SELECT v.id, v.grp, v.service, v.category, v.terms, v.cohesion, 'proposed', $2 FROM {v} AS v"
                ))
                .bind(json_param(&rows))
                .bind(now)
                .execute(&mut *conn)
                .await?;
                let members: Vec<(i64, i64)> =
                    ids.iter().zip(&clusters).flat_map(|(id, c)| c.ids.iter().map(move |inc| (*id, *inc))).collect();
                let v = json_rows(engine, 1, &[("candidate", Int), ("incident", Int)]);
                for chunk in members.chunks(20_000) {
                    sqlx::query(&format!(
                        "INSERT INTO problem_candidate_incidents (candidate_id, incident_id)
                         SELECT v.candidate, v.incident FROM {v} AS v"
                    ))
                    .bind(json_param(chunk))
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(clusters.len())
            }
            .boxed()
        })
        .await
    }

    pub async fn candidates(&self, state: Option<&str>, limit: i64) -> Result<Vec<Candidate>, StoreError> {
        let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM problem_candidates WHERE 1 = 1"));
        if let Some(s) = state {
            q.push(" AND state = ").bind(Arg::Text(s.into()));
        }
        q.push(" ORDER BY id DESC LIMIT ").bind(Arg::Int(limit));
        let rows: Vec<CandidateRow> = q.query_as().fetch_all(self.pool()).await?;
        let mut out = Vec::new();
        for r in rows {
            out.push(self.candidate_from(r).await?);
        }
        Ok(out)
    }

    async fn candidate_from(&self, r: CandidateRow) -> Result<Candidate, StoreError> {
        let incidents: Vec<i64> = sqlx::query_scalar(
            "SELECT incident_id FROM problem_candidate_incidents WHERE candidate_id = $1 ORDER BY incident_id",
        )
        .bind(r.id)
        .fetch_all(self.pool())
        .await?;
        Ok(Candidate {
            id: r.id,
            group_key: r.group_key,
            service_id: r.service_id,
            category_id: r.category_id,
            terms: r.terms.split_whitespace().map(String::from).collect(),
            cohesion: r.cohesion,
            state: r.state,
            problem_id: r.problem_id,
            incidents,
            created_at: r.created_at,
            decided_by: r.decided_by,
            decided_at: r.decided_at,
        })
    }

    pub async fn candidate(&self, id: i64) -> Result<Candidate, StoreError> {
        let row: CandidateRow = sqlx::query_as(&format!("SELECT {COLUMNS} FROM problem_candidates WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        self.candidate_from(row).await
    }

    /// Records the decision on a proposed candidate. Only a proposed one can
    /// be decided, once: a second decision is refused.
    pub async fn decide_candidate(
        &self,
        id: i64,
        accepted: bool,
        problem_id: Option<i64>,
        actor: i64,
    ) -> Result<(), StoreError> {
        self.write(move |conn| async move { decide_in(conn, id, accepted, problem_id, actor).await }.boxed()).await
    }

    /// Accepts a proposed candidate: decides it, creates `new` and links the
    /// candidate's incidents to it, all in one transaction, so a failure
    /// leaves the candidate proposed and no half-linked problem behind, and
    /// two managers accepting at once make one problem.
    pub async fn accept_candidate(&self, id: i64, new: NewProblem, actor: i64) -> Result<Problem, StoreError> {
        let engine = self.engine();
        self.write(move |conn| {
            async move {
                decide_in(conn, id, true, None, actor).await?;
                let problem_id = crate::problems::insert_problem(conn, engine, &new).await?;
                let incidents: Vec<i64> = sqlx::query_scalar(
                    "SELECT incident_id FROM problem_candidate_incidents WHERE candidate_id = $1 ORDER BY incident_id",
                )
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
                for incident in incidents {
                    crate::problems::link_incident_in(conn, problem_id, incident, actor).await?;
                }
                sqlx::query("UPDATE problem_candidates SET problem_id = $1 WHERE id = $2")
                    .bind(problem_id)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                crate::problems::problem_in(conn, problem_id).await
            }
            .boxed()
        })
        .await
    }
}

/// Decides a proposed candidate inside the caller's transaction; a second
/// decision is refused.
async fn decide_in(
    conn: &mut AnyConnection,
    id: i64,
    accepted: bool,
    problem_id: Option<i64>,
    actor: i64,
) -> Result<(), StoreError> {
    let n = sqlx::query(
        "UPDATE problem_candidates SET state = $1, problem_id = $2, decided_by = $3, decided_at = $4
         WHERE id = $5 AND state = 'proposed'",
    )
    .bind(if accepted { "accepted" } else { "rejected" })
    .bind(problem_id)
    .bind(actor)
    .bind(now_micros())
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 0 {
        let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM problem_candidates WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
        if exists == 0 {
            return Err(StoreError::NotFound);
        }
        return Err(DomainError::field("state", "this candidate has already been decided").into());
    }
    Ok(())
}

/// `n` fresh ids for problem candidates, taken before the rows are written
/// so that each cluster's incidents can name theirs (the order a multi-row
/// insert hands out or returns ids in is not promised). SQLite has one
/// writer: the ids above the largest. PostgreSQL draws them from the
/// column's sequence, as a default would, so other nodes' inserts cannot
/// collide with them.
async fn reserve_candidate_ids(conn: &mut AnyConnection, engine: Engine, n: usize) -> Result<Vec<i64>, StoreError> {
    match engine {
        Engine::Sqlite => {
            let last: i64 =
                sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM problem_candidates").fetch_one(&mut *conn).await?;
            Ok((last + 1..=last + n as i64).collect())
        }
        Engine::Postgres => Ok(sqlx::query_scalar(
            "SELECT nextval(pg_get_serial_sequence('problem_candidates', 'id')) FROM generate_series(1, $1)",
        )
        .bind(n as i64)
        .fetch_all(&mut *conn)
        .await?),
    }
}
