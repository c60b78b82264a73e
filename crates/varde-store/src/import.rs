//! Bulk import of incidents: many rows per statement and per transaction,
//! for loading history (and the million-incident data sets the benchmarks
//! need) far faster than one `create_incident` at a time.
//!
//! What an import writes is what the ordinary path would leave behind for an
//! incident that reached the given state: the `records` and `incidents`
//! rows, the search document, and an audit trail (`created`, then the state
//! and resolution it was imported in). Foreign keys are checked by the
//! database; group membership of assignees is checked here once per pair.

use std::collections::HashSet;

use futures::FutureExt;
use sqlx::AnyConnection;
use varde_domain::incident::{ResolutionCode, State};
use varde_domain::record::RecordKind;
use varde_domain::{search, DomainError};

use crate::audit::Entity;
use crate::catalog::matrix_in;
use crate::incidents::NewIncident;
use crate::sql::{Arg, Sql};
use crate::{Engine, Store, StoreError};

/// An incident with its past: when it was made, and the state it is in now.
#[derive(Debug, Clone)]
pub struct ImportedIncident {
    pub new: NewIncident,
    pub created_at: i64,
    pub updated_at: i64,
    /// `New`, `InProgress`, `Closed` or `Cancelled`. On hold needs a reason
    /// and resolved a pending auto-close timer; import neither.
    pub state: State,
    /// Required for `Closed`: how it was resolved.
    pub resolution: Option<(ResolutionCode, String)>,
}

/// Rows per multi-row INSERT. Far below both engines' limits on bound
/// parameters, on purpose: the SQLite driver finds each `$n` by name with
/// a linear scan, so binding costs grow with the square of the parameter
/// count; at 500 rows (8,000 parameters) binding took 85% of the import's
/// time and it loaded 600 rows/s.
const ROWS_PER_STATEMENT: usize = 50;

/// Most incidents one `import_incidents` call takes.
pub const MAX_IMPORT_BATCH: usize = 5_000;

async fn allocate_numbers(conn: &mut AnyConnection, engine: Engine, n: usize) -> Result<Vec<i64>, StoreError> {
    match engine {
        Engine::Sqlite => {
            // One writer: bump the counter by n and take the range below it.
            let last: i64 =
                sqlx::query_scalar("UPDATE counters SET value = value + $1 WHERE name = $2 RETURNING value")
                    .bind(n as i64)
                    .bind(RecordKind::Incident.as_str())
                    .fetch_one(conn)
                    .await?;
            Ok(((last - n as i64 + 1)..=last).collect())
        }
        Engine::Postgres => {
            // Other nodes may draw numbers at the same time, so draw n from
            // the sequence rather than assume a contiguous range.
            Ok(sqlx::query_scalar("SELECT nextval('incident_number_seq') FROM generate_series(1, $1)")
                .bind(n as i64)
                .fetch_all(conn)
                .await?)
        }
    }
}

impl Store {
    /// Imports up to [`MAX_IMPORT_BATCH`] incidents in one transaction and
    /// returns their ids in input order. All or nothing.
    pub async fn import_incidents(&self, batch: Vec<ImportedIncident>) -> Result<Vec<i64>, StoreError> {
        if batch.len() > MAX_IMPORT_BATCH {
            return Err(DomainError::field("incidents", format!("at most {MAX_IMPORT_BATCH} per import")).into());
        }
        for inc in &batch {
            match (inc.state, &inc.resolution) {
                (State::New | State::InProgress | State::Cancelled, _) => {}
                (State::Closed, Some(_)) => {}
                (State::Closed, None) => {
                    return Err(DomainError::field("resolution_code", "is required for a closed incident").into())
                }
                (s, _) => {
                    return Err(DomainError::field("state", format!("cannot import an incident {}", s.as_str())).into())
                }
            }
            if inc.new.assignee_id.is_some() && inc.new.assignment_group_id.is_none() {
                return Err(DomainError::field("assignee_id", "needs an assignment group").into());
            }
        }
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let engine = self.engine();
        self.write(move |conn| async move { import_in(conn, engine, batch).await }.boxed()).await
    }
}

async fn import_in(
    conn: &mut AnyConnection,
    engine: Engine,
    batch: Vec<ImportedIncident>,
) -> Result<Vec<i64>, StoreError> {
    let pairs: HashSet<(i64, i64)> =
        batch.iter().filter_map(|i| Some((i.new.assignment_group_id?, i.new.assignee_id?))).collect();
    for (g, a) in pairs {
        crate::incidents::ensure_member(conn, g, a).await?;
    }
    let matrix = matrix_in(conn).await?;
    let numbers = allocate_numbers(conn, engine, batch.len()).await?;
    let mut ids = Vec::with_capacity(batch.len());
    for (chunk, nums) in batch.chunks(ROWS_PER_STATEMENT).zip(numbers.chunks(ROWS_PER_STATEMENT)) {
        let numbers: Vec<String> = nums.iter().map(|n| RecordKind::Incident.number(*n)).collect();
        let docs: Vec<String> = chunk
            .iter()
            .zip(&numbers)
            .map(|(i, number)| search::document(&[number, &i.new.short_description, &i.new.description]))
            .collect();

        let mut q = Sql::new(
            "INSERT INTO records (kind, number, version, state, is_open, short_description, description, requester_id, \
             created_by, assignment_group_id, assignee_id, priority, created_at, updated_at, resolved_at, closed_at",
        );
        q.push(if engine == Engine::Postgres { ", search) VALUES " } else { ") VALUES " });
        for (k, (inc, number)) in chunk.iter().zip(&numbers).enumerate() {
            let n = &inc.new;
            let done = (inc.state == State::Closed).then_some(inc.updated_at);
            let version = if inc.state == State::New { 1 } else { 2 };
            q.push(if k == 0 { "('incident', " } else { ", ('incident', " });
            q.bind(Arg::Text(number.clone())).push(", ");
            q.bind(Arg::Int(version)).push(", ");
            q.bind(Arg::Text(inc.state.as_str().into())).push(", ");
            q.bind(Arg::Int(inc.state.is_open() as i64)).push(", ");
            q.bind(Arg::Text(n.short_description.clone())).push(", ");
            q.bind(Arg::Text(n.description.clone())).push(", ");
            q.bind(Arg::Int(n.requester_id)).push(", ");
            q.bind(Arg::Int(n.created_by)).push(", ");
            q.bind(Arg::OptInt(n.assignment_group_id)).push(", ");
            q.bind(Arg::OptInt(n.assignee_id)).push(", ");
            q.bind(Arg::Int(matrix.priority(n.impact, n.urgency).get())).push(", ");
            q.bind(Arg::Int(inc.created_at)).push(", ");
            q.bind(Arg::Int(inc.updated_at)).push(", ");
            q.bind(Arg::OptInt(done)).push(", ");
            q.bind(Arg::OptInt(done));
            if engine == Engine::Postgres {
                // Imported records have no work notes: all of the document is
                // public, weight A (see `reindex` in incidents.rs).
                q.push(", setweight(to_tsvector('simple', ").bind(Arg::Text(docs[k].clone())).push("), 'A')");
                // The reader token, as `index_document` writes it.
                q.push(" || array_to_tsvector(string_to_array(")
                    .bind(Arg::Text(crate::incidents::reader_words(&[n.requester_id])))
                    .push(", ' '))");
            }
            q.push(")");
        }
        q.push(" RETURNING id, number");
        let rows: Vec<(i64, String)> = q.query_as().fetch_all(&mut *conn).await?;
        // RETURNING order is not promised for multi-row inserts: match by number.
        let by_number: std::collections::HashMap<&str, i64> = rows.iter().map(|(id, n)| (n.as_str(), *id)).collect();
        let chunk_ids: Vec<i64> = numbers
            .iter()
            .map(|n| by_number.get(n.as_str()).copied().ok_or_else(|| StoreError::corrupt(format!("import of {n}"))))
            .collect::<Result<_, _>>()?;

        let mut q = Sql::new(
            "INSERT INTO incidents (record_id, impact, urgency, category_id, service_id, channel, major, \
             resolution_code, resolution_notes) VALUES ",
        );
        for (k, (inc, id)) in chunk.iter().zip(&chunk_ids).enumerate() {
            let n = &inc.new;
            q.push(if k == 0 { "(" } else { ", (" });
            q.bind(Arg::Int(*id)).push(", ");
            q.bind(Arg::Int(n.impact.get())).push(", ");
            q.bind(Arg::Int(n.urgency.get())).push(", ");
            q.bind(Arg::OptInt(n.category_id)).push(", ");
            q.bind(Arg::OptInt(n.service_id)).push(", ");
            q.bind(Arg::Text(n.channel.as_str().into())).push(", ");
            q.bind(Arg::Int(n.major as i64)).push(", ");
            match &inc.resolution {
                Some((code, notes)) if inc.state == State::Closed => {
                    q.bind(Arg::Text(code.as_str().into())).push(", ");
                    q.bind(Arg::Text(notes.clone()));
                }
                _ => {
                    q.push("NULL, NULL");
                }
            }
            q.push(")");
        }
        q.query().execute(&mut *conn).await?;

        // The audit trail: created, then how it got to where it is.
        let mut q =
            Sql::new("INSERT INTO audit (entity, entity_id, actor_id, at, field, old_value, new_value) VALUES ");
        let mut first = true;
        let mut row = |q: &mut Sql, id: i64, actor: i64, at: i64, field: &str, old: Option<&str>, new: Option<&str>| {
            q.push(if first { "(" } else { ", (" });
            first = false;
            q.bind(Arg::Text(Entity::Record.as_str().into())).push(", ");
            q.bind(Arg::Int(id)).push(", ");
            q.bind(Arg::Int(actor)).push(", ");
            q.bind(Arg::Int(at)).push(", ");
            q.bind(Arg::Text(field.into())).push(", ");
            match old {
                Some(o) => q.bind(Arg::Text(o.into())),
                None => q.push("NULL"),
            };
            q.push(", ");
            match new {
                Some(v) => q.bind(Arg::Text(v.into())),
                None => q.push("NULL"),
            };
            q.push(")");
        };
        for (inc, id) in chunk.iter().zip(&chunk_ids) {
            let actor = inc.new.assignee_id.unwrap_or(inc.new.created_by);
            row(&mut q, *id, inc.new.created_by, inc.created_at, "created", None, None);
            if inc.state != State::New {
                row(&mut q, *id, actor, inc.updated_at, "state", Some("new"), Some(inc.state.as_str()));
            }
            if let (State::Closed, Some((code, _))) = (inc.state, &inc.resolution) {
                row(&mut q, *id, actor, inc.updated_at, "resolution_code", None, Some(code.as_str()));
            }
        }
        q.query().execute(&mut *conn).await?;

        if engine == Engine::Sqlite {
            let mut q = Sql::new("INSERT INTO record_search (rowid, document) VALUES ");
            // Two rows per record, as `index_document` writes them: the
            // agents' document at rowid = id and the requester's, the same
            // text with no work notes yet and their reader token, at -id.
            for (k, ((id, doc), inc)) in chunk_ids.iter().zip(docs).zip(chunk).enumerate() {
                let readers = crate::incidents::reader_words(&[inc.new.requester_id]);
                q.push(if k == 0 { "(" } else { ", (" });
                q.bind(Arg::Int(*id)).push(", ").bind(Arg::Text(doc.clone())).push("), (");
                q.bind(Arg::Int(-*id)).push(", ").bind(Arg::Text(format!("{doc} {readers}"))).push(")");
            }
            q.query().execute(&mut *conn).await?;
        }
        ids.extend(chunk_ids);
    }
    // An open imported incident is still owed its service levels: its
    // clocks start at the instant it was made, as if it had been created
    // here then (its holds before the import are not known, so none are
    // assumed). Closed ones keep no clocks: their history is not here to
    // judge. With no agreement this costs one query per batch.
    let agreements = crate::sla::agreements::active_in(conn).await?;
    if !agreements.is_empty() {
        for (id, inc) in ids.iter().zip(&batch).filter(|(_, inc)| inc.state.is_open()) {
            crate::sla::clocks::evaluate_with(conn, &agreements, *id, inc.created_at).await?;
        }
    }
    Ok(ids)
}
