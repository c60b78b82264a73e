//! Warning and escalation timers: one durable job per clock in the job
//! table, due when the clock's next unfired threshold is reached. A fired
//! threshold is written to the clock in the same transaction as its actions
//! and the clock's version is checked, so a threshold fires once even when
//! a job runs twice (a node died after committing) or two nodes share one
//! PostgreSQL (claims use SKIP LOCKED; a stale job finds a newer version and
//! does nothing).

use std::collections::{HashMap, HashSet};

use futures::FutureExt;
use sqlx::AnyConnection;
use varde_domain::priority::Level;
use varde_domain::record::ChangeSet;
use varde_domain::sla::agreement::{Action, Recipient};
use varde_domain::sla::clock::{self, Clock, WorkingTime};

use super::agreements::{active_in, agreement_in};
use super::clocks::{derive, evaluate_in, event_in, ClockRow, CLOCK_COLUMNS};
use super::worktime;
use crate::audit::{self, Entity};
use crate::jobs::enqueue_in;
use crate::sql::{json_param, json_rows, versioned, JsonCol};
use crate::{now_micros, Engine, Store, StoreError};

pub const TIMER_JOB: &str = "sla_timer";
pub const RECOMPUTE_JOB: &str = "sla_recompute";

pub(crate) fn timer_key(clock_id: i64) -> String {
    format!("sla_timer:{clock_id}")
}

/// A timer's payload: its clock, at the version it was set for (a timer
/// that finds its clock moved on does nothing; see `fire_in`).
pub(crate) fn timer_payload(clock_id: i64, version: i64) -> String {
    format!("{clock_id}:{version}")
}

/// Replaces the clock's timer job with one for its next unfired threshold,
/// if it has one. Runs in the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn schedule_in(
    conn: &mut AnyConnection,
    clock_id: i64,
    version: i64,
    c: &Clock,
    cal: &dyn WorkingTime,
    target: i64,
    percents: &[i64],
    fired: &[i64],
) -> Result<(), StoreError> {
    let key = timer_key(clock_id);
    let next = clock::next_threshold(c, cal, target, percents, fired);
    // Always a new row, never the old one moved: the old one may be claimed
    // by a runner right now, which deletes it by id when done and would
    // take a moved timer with it.
    sqlx::query("DELETE FROM jobs WHERE dedupe_key = $1").bind(&key).execute(&mut *conn).await?;
    if let Some((_, at)) = next {
        let engine = crate::sql::engine_of(conn);
        insert_timers_in(conn, engine, &[(key, timer_payload(clock_id, version), at)], now_micros()).await?;
    }
    Ok(())
}

/// Queues a recompute of open clocks: `calendar:ID`, `agreement:ID` or `all`.
pub(crate) async fn queue_recompute_in(conn: &mut AnyConnection, scope: &str, now: i64) -> Result<(), StoreError> {
    enqueue_in(conn, RECOMPUTE_JOB, scope, now, None).await
}

/// Adds an in-app notification unless this one (by key) was made already.
pub(crate) async fn notify_in(
    conn: &mut AnyConnection,
    user_id: i64,
    record_id: i64,
    kind: &str,
    body: &str,
    key: &str,
    now: i64,
) -> Result<(), StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE dedupe_key = $1")
        .bind(key)
        .fetch_one(&mut *conn)
        .await?;
    if n == 0 {
        sqlx::query(
            "INSERT INTO notifications (user_id, record_id, kind, body, dedupe_key, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(user_id)
        .bind(record_id)
        .bind(kind)
        .bind(body)
        .bind(key)
        .bind(now)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// What a firing changed on the record.
#[derive(Debug, Default)]
pub struct Fired {
    pub percents: Vec<i64>,
    pub record_changed: bool,
}

async fn run_action(
    conn: &mut AnyConnection,
    row: &ClockRow,
    percent: i64,
    action: &Action,
    now: i64,
) -> Result<bool, StoreError> {
    let (number, state, group, assignee): (String, String, Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT number, state, assignment_group_id, assignee_id FROM records WHERE id = $1")
            .bind(row.record_id)
            .fetch_one(&mut *conn)
            .await?;
    let open = matches!(state.as_str(), "new" | "in_progress" | "on_hold");
    let kind = if percent >= 100 { "sla_breach" } else { "sla_warning" };
    let body = format!("{number} · {} · {percent}%", row.target_name);
    match action {
        Action::Notify { to } => {
            let users: Vec<i64> = match to {
                Recipient::Assignee => assignee.into_iter().collect(),
                Recipient::Group => match group {
                    Some(g) => {
                        sqlx::query_scalar("SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id")
                            .bind(g)
                            .fetch_all(&mut *conn)
                            .await?
                    }
                    None => Vec::new(),
                },
                Recipient::Manager => match group {
                    Some(g) => {
                        sqlx::query_scalar::<_, Option<i64>>("SELECT manager_id FROM assignment_groups WHERE id = $1")
                            .bind(g)
                            .fetch_optional(&mut *conn)
                            .await?
                            .flatten()
                            .into_iter()
                            .collect()
                    }
                    None => Vec::new(),
                },
            };
            for u in users {
                let key = format!("sla:{}:{}:{percent}:{u}", row.id, row.version);
                notify_in(conn, u, row.record_id, kind, &body, &key, now).await?;
            }
            Ok(false)
        }
        Action::Reassign { group_id } => {
            if !open || group == Some(*group_id) {
                return Ok(false);
            }
            sqlx::query(
                "UPDATE records SET assignment_group_id = $1, assignee_id = NULL, version = version + 1, updated_at = $2 WHERE id = $3",
            )
            .bind(group_id)
            .bind(now)
            .bind(row.record_id)
            .execute(&mut *conn)
            .await?;
            sqlx::query("UPDATE incidents SET reassignment_count = reassignment_count + 1 WHERE record_id = $1")
                .bind(row.record_id)
                .execute(&mut *conn)
                .await?;
            let mut cs = ChangeSet::default();
            cs.record("assignment_group_id", &group, &Some(*group_id));
            cs.record("assignee_id", &assignee, &None);
            audit::changes(conn, Entity::Record, row.record_id, None, now, &cs).await?;
            Ok(true)
        }
        Action::RaisePriority => {
            if !open {
                return Ok(false);
            }
            let (impact, urgency, priority): (i64, i64, i64) = sqlx::query_as(
                "SELECT i.impact, i.urgency, r.priority FROM incidents i JOIN records r ON r.id = i.record_id WHERE i.record_id = $1",
            )
            .bind(row.record_id)
            .fetch_one(&mut *conn)
            .await?;
            let (ni, nu) = if urgency > 1 { (impact, urgency - 1) } else { (impact.max(2) - 1, urgency) };
            if (ni, nu) == (impact, urgency) {
                return Ok(false);
            }
            let matrix = crate::catalog::matrix_in(conn).await?;
            let lvl = |v: i64| Level::new("", v).map_err(|_| StoreError::corrupt("impact/urgency"));
            let np = matrix.priority(lvl(ni)?, lvl(nu)?).get();
            sqlx::query("UPDATE incidents SET impact = $1, urgency = $2 WHERE record_id = $3")
                .bind(ni)
                .bind(nu)
                .bind(row.record_id)
                .execute(&mut *conn)
                .await?;
            sqlx::query("UPDATE records SET priority = $1, version = version + 1, updated_at = $2 WHERE id = $3")
                .bind(np)
                .bind(now)
                .bind(row.record_id)
                .execute(&mut *conn)
                .await?;
            let mut cs = ChangeSet::default();
            cs.record("impact", &Some(impact), &Some(ni));
            cs.record("urgency", &Some(urgency), &Some(nu));
            cs.record("priority", &Some(priority), &Some(np));
            audit::changes(conn, Entity::Record, row.record_id, None, now, &cs).await?;
            Ok(true)
        }
        Action::Escalate => {
            let n = sqlx::query("UPDATE incidents SET escalated = 1 WHERE record_id = $1 AND escalated = 0")
                .bind(row.record_id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            if n > 0 {
                sqlx::query("UPDATE records SET version = version + 1, updated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(row.record_id)
                    .execute(&mut *conn)
                    .await?;
                audit::write(conn, Entity::Record, row.record_id, None, now, "escalated", Some("false"), Some("true"))
                    .await?;
            }
            Ok(n > 0)
        }
    }
}

/// Fires what is due of the clock's thresholds, once. `payload` is
/// `CLOCK_ID:VERSION` as [`schedule_in`] wrote it.
pub(crate) async fn fire_in(conn: &mut AnyConnection, payload: &str, now: i64) -> Result<Fired, StoreError> {
    let (id, version) = payload
        .split_once(':')
        .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)))
        .ok_or_else(|| StoreError::corrupt(format!("timer payload {payload:?}")))?;
    // The record's row, then its incident's, as every writer of a clock
    // takes them (`records` module); the clock is read once they are held.
    if crate::sql::engine_of(conn) == Engine::Postgres {
        let record: Option<i64> = sqlx::query_scalar("SELECT record_id FROM sla_clocks WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(record) = record else { return Ok(Fired::default()) };
        crate::records::lock_in(conn, record).await?;
        super::clocks::hold_in(conn, record).await?;
    }
    let row: Option<ClockRow> = sqlx::query_as(&format!("SELECT {CLOCK_COLUMNS} FROM sla_clocks WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(Fired::default()) };
    if row.version != version {
        // The clock moved since this timer was set; its newer timer rules.
        return Ok(Fired::default());
    }
    let agreement = agreement_in(conn, row.agreement_id).await?;
    let cals = worktime::load_in(conn, &row.calendar_id.into_iter().collect::<Vec<_>>()).await?;
    let cal = cals.get(row.calendar_id);
    let c = row.clock()?;
    let mut fired = row.fired();
    let mut thresholds = agreement.spec.thresholds.clone();
    thresholds.sort_by_key(|t| t.percent);
    let mut out = Fired::default();
    let mut due_now = Vec::new();
    for th in &thresholds {
        if fired.contains(&th.percent) || c.is_stopped() || c.cancelled {
            continue;
        }
        match c.instant_at(cal.as_ref(), clock::threshold_amount(row.target_us, th.percent)) {
            // Only what is due by this node's clock: a job claimed a moment
            // early (another node's clock runs ahead) fires nothing and is
            // set again for the same instant below.
            Some(at) if at <= now => due_now.push(th.clone()),
            _ => {}
        }
    }
    let new_version = row.version + 1;
    let mut fired_set = row.fired_set();
    for th in &due_now {
        fired.push(th.percent);
        fired_set.push(th.percent, row.target_us);
    }
    let d = derive(&c, cal.as_ref(), row.target_us, now);
    let n = sqlx::query(
        "UPDATE sla_clocks SET fired = $1, state = $2, version = $3, updated_at = $4 WHERE id = $5 AND version = $6",
    )
    .bind(fired_set.text())
    .bind(d.state.as_str())
    .bind(new_version)
    .bind(now)
    .bind(row.id)
    .bind(row.version)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    versioned(n, row.version)?;
    for th in &due_now {
        let what = if th.percent >= 100 { "breach".to_string() } else { format!("warning {}%", th.percent) };
        event_in(conn, row.id, row.record_id, now, "threshold", &what).await?;
        for a in &th.actions {
            out.record_changed |= run_action(conn, &row, th.percent, a, now).await?;
        }
        out.percents.push(th.percent);
    }
    let percents: Vec<i64> = thresholds.iter().map(|t| t.percent).collect();
    let fresh = ClockRow { version: new_version, fired: fired_set.text(), ..row.clone() };
    schedule_in(conn, fresh.id, new_version, &c, cal.as_ref(), row.target_us, &percents, &fired).await?;
    if out.record_changed {
        evaluate_in(conn, row.record_id, now).await?;
    }
    Ok(out)
}

impl Store {
    /// Runs one timer job. Returns the thresholds that fired.
    pub async fn fire_sla_timer(&self, payload: String) -> Result<Fired, StoreError> {
        self.write(move |conn| async move { fire_in(conn, &payload, now_micros()).await }.boxed()).await
    }

    /// Recomputes open clocks after a calendar or agreement changed. Works in
    /// batches, each its own transaction; returns how many clocks it visited.
    pub async fn recompute_clocks(&self, scope: String) -> Result<u64, StoreError> {
        self.recompute_clocks_by(scope, 2000).await
    }

    /// [`Store::recompute_clocks`] in batches of `batch` clocks.
    async fn recompute_clocks_by(&self, scope: String, batch_size: i64) -> Result<u64, StoreError> {
        let (what, id) = match scope.split_once(':') {
            Some((w, i)) => {
                (w.to_string(), i.parse::<i64>().map_err(|_| StoreError::corrupt(format!("scope {scope}")))?)
            }
            None if scope == "all" => ("all".to_string(), 0),
            None => return Err(StoreError::corrupt(format!("scope {scope}"))),
        };
        let filter = match what.as_str() {
            "calendar" => "calendar_id = $1",
            "agreement" => "agreement_id = $1",
            _ => "$1 = $1",
        };
        let select = format!(
            "SELECT {CLOCK_COLUMNS} FROM sla_clocks WHERE {filter} AND stopped_at IS NULL AND cancelled = 0 AND id > $2
             ORDER BY id LIMIT $3"
        );
        let read = |after: i64| {
            sqlx::query_as::<_, ClockRow>(&select).bind(id).bind(after).bind(batch_size).fetch_all(self.pool())
        };
        let by_calendar = what == "calendar";
        let engine = self.engine();
        // PostgreSQL writes the batches on several connections at once: the
        // server's time is nearly all row and index writes, which one
        // backend does on one core. SQLite has one writer.
        let writers = match engine {
            Engine::Postgres => (self.pool().options().get_max_connections() as usize / 2).clamp(1, 4),
            Engine::Sqlite => 1,
        };
        let mut visited = 0u64;
        // A JoinSet: should one batch fail, the others in flight are stopped
        // (each is its own transaction, so what they wrote stands or goes
        // whole). On SQLite a write already handed to the writer still
        // commits; the job's retry finds those clocks unmoved.
        let mut writing = tokio::task::JoinSet::new();
        // The records of the batches in flight. Batches that run at once never
        // share a record: two transactions evaluating one record would
        // overwrite each other's clocks, and on a calendar change the later
        // one would wait out its retries for the other's locks.
        let mut busy: HashSet<i64> = HashSet::new();
        let mut next = read(0).await?;
        // Each batch is written while the next is read: the read goes to a
        // reader connection (SQLite's WAL lets it run beside the writer). Read
        // one after the other, the reads were a quarter of the run
        // (BENCHMARKS.md).
        while !next.is_empty() {
            let mut batch = next;
            if batch.len() as i64 == batch_size {
                // The last record's clocks may go on in the next batch: they
                // wait for it, so that a record is written in one batch.
                let last = batch[batch.len() - 1].record_id;
                let keep = batch.iter().rposition(|r| r.record_id != last).map_or(batch.len(), |i| i + 1);
                batch.truncate(keep);
            }
            let after = batch[batch.len() - 1].id;
            visited += batch.len() as u64;
            let mut records: Vec<i64> = batch.iter().map(|r| r.record_id).collect();
            records.sort_unstable();
            records.dedup();
            while writing.len() >= writers || records.iter().any(|r| busy.contains(r)) {
                let (done, written) = writing.join_next().await.expect("a write is in flight").map_err(joined)?;
                for r in &done {
                    busy.remove(r);
                }
                written?;
            }
            busy.extend(records.iter().copied());
            // A task each, so that the batches in flight run (and their
            // clocks are derived) while this loop waits for a read.
            let store = self.clone();
            let these = records.clone();
            writing.spawn(async move {
                let written = store
                    .write(move |conn| {
                        let records = these;
                        async move {
                            let now = now_micros();
                            if by_calendar {
                                recompute_figures_in(conn, engine, batch, now).await
                            } else {
                                // The record's row first, as every
                                // record write (`records` module).
                                for r in records {
                                    crate::records::lock_in(conn, r).await?;
                                    evaluate_in(conn, r, now).await?;
                                }
                                Ok(())
                            }
                        }
                        .boxed()
                    })
                    .await;
                (records, written)
            });
            next = read(after).await?;
        }
        while let Some(done) = writing.join_next().await {
            done.map_err(joined)?.1?;
        }
        Ok(visited)
    }
}

/// A batch's task ended without an answer (it panicked).
fn joined(e: tokio::task::JoinError) -> StoreError {
    StoreError::Database(format!("a recompute batch failed: {e}"))
}

/// A calendar changed under these (open) clocks: their spans stand, their
/// figures and timers are recomputed on the calendar as it is now. Set-wise,
/// one statement of each kind for the whole batch, its rows bound as one
/// JSON parameter (`sql::json_rows`): a calendar can have hundreds of
/// thousands of open clocks on it.
///
/// The rows were read before this transaction, so a clock may have moved
/// since (paused by an agent, a threshold fired). Each write is guarded by
/// the version read; a clock that moved is read again and recomputed from
/// what it is now, never overwritten with figures of spans it no longer has.
async fn recompute_figures_in(
    conn: &mut AnyConnection,
    engine: Engine,
    rows: Vec<ClockRow>,
    now: i64,
) -> Result<(), StoreError> {
    let mut rows = rows;
    // A clock moves again (or its incident stays held, on PostgreSQL) only
    // if someone keeps writing it while we look; after a few rounds, each
    // after a longer pause, that is a conflict for the job to retry.
    for round in 0..5 {
        let moved = recompute_batch_in(conn, engine, &rows, now).await?;
        if moved.is_empty() {
            return Ok(());
        }
        if engine == Engine::Postgres {
            tokio::time::sleep(std::time::Duration::from_millis(10 << round)).await;
        }
        let v = json_rows(engine, 1, &[("id", JsonCol::Int)]);
        rows = sqlx::query_as(&format!(
            "SELECT {CLOCK_COLUMNS} FROM sla_clocks WHERE id IN (SELECT id FROM {v} AS v)
             AND stopped_at IS NULL AND cancelled = 0 ORDER BY id"
        ))
        .bind(json_param(&moved.iter().map(|id| (*id,)).collect::<Vec<_>>()))
        .fetch_all(&mut *conn)
        .await?;
    }
    Err(StoreError::Conflict { current: 0 })
}

/// One round of [`recompute_figures_in`]; returns the clocks that moved
/// since `rows` were read and were left alone.
async fn recompute_batch_in(
    conn: &mut AnyConnection,
    engine: Engine,
    rows: &[ClockRow],
    now: i64,
) -> Result<Vec<i64>, StoreError> {
    let ids: Vec<i64> = rows.iter().filter_map(|r| r.calendar_id).collect();
    let cals = worktime::load_in(conn, &ids).await?;
    let agreements = active_in(conn).await?;
    let mut derived = Vec::with_capacity(rows.len());
    for row in rows {
        let c = row.clock()?;
        let cal = cals.get(row.calendar_id);
        let d = derive(&c, cal.as_ref(), row.target_us, now);
        let percents: Vec<i64> = agreements
            .iter()
            .find(|a| a.id == row.agreement_id)
            .map(|a| a.spec.thresholds.iter().map(|t| t.percent).collect())
            .unwrap_or_default();
        let next = clock::next_threshold(&c, cal.as_ref(), row.target_us, &percents, &row.fired()).map(|(_, at)| at);
        // A running clock's stored elapsed time is as of its last event and
        // grows by itself; only a stopped or paused one's must match.
        let same = d.due_at == row.due_at
            && d.state.as_str() == row.state
            && (c.is_running() || d.elapsed_us == row.elapsed_us);
        derived.push((row, d, next, same, c.is_running()));
    }
    // A clock the change did not move keeps its row, version and timer (a
    // holiday added next month moves only the clocks due after it); its
    // timer decides, as a warning can move while the due instant stays.
    let unmoved: Vec<&ClockRow> = derived.iter().filter(|(_, _, _, same, _)| *same).map(|(row, ..)| *row).collect();
    let timers_now = if unmoved.is_empty() { HashMap::new() } else { timers_in(conn, engine, &unmoved).await? };
    // [id, state, elapsed, due, version] of every clock whose figures
    // moved, and the record and next timer of each.
    let mut changed: Vec<(i64, &'static str, i64, Option<i64>, i64)> = Vec::new();
    // The clocks left as they are, with the version they were read at: they
    // too must not have moved since (a write that began on the old
    // calendar), or they are read again.
    let mut kept: Vec<(i64, i64)> = Vec::new();
    let mut record_of: HashMap<i64, i64> = HashMap::new();
    let mut timer_of: HashMap<i64, (String, i64)> = HashMap::new();
    for (row, d, next, same, running) in derived {
        record_of.insert(row.id, row.record_id);
        if same && next == timers_now.get(&row.id).copied() {
            kept.push((row.id, row.version));
            continue;
        }
        let version = row.version + 1;
        // A running clock keeps the elapsed time stored at its last event
        // (as a fired threshold leaves it): readers derive the live figure
        // from its spans. Left as it is, with its state, the write changes
        // no indexed column, and PostgreSQL writes the row in place (a HOT
        // update) instead of a new entry in each of the clock's six indexes
        // (BENCHMARKS.md).
        let elapsed = if running && d.state.as_str() == row.state { row.elapsed_us } else { d.elapsed_us };
        changed.push((row.id, d.state.as_str(), elapsed, d.due_at, version));
        if let Some(at) = next {
            timer_of.insert(row.id, (timer_payload(row.id, version), at));
        }
    }
    use JsonCol::{Int, Text};
    let mut skipped: Vec<i64> = Vec::new();
    if engine == Engine::Postgres {
        // Every writer of a record's clocks holds its incident row first
        // (`clocks::hold_in`, and the `records` module for the order), and
        // every clock belongs to an incident. Holding the batch's incidents,
        // this job writes their clocks and incidents without waiting for any
        // record write. It takes only the incidents no one holds (SKIP
        // LOCKED) and leaves the rest to the next round, read afresh, so the
        // two cannot deadlock. Its timer deletes may wait a moment for a job
        // runner's claim of that row, a statement that holds nothing else.
        // Holding the records' own rows would do as well, but writes a lock
        // into pages the recompute otherwise leaves alone, and measured no
        // faster (BENCHMARKS.md, twelfth run).
        let records: Vec<i64> = record_of.values().copied().collect();
        let free: HashSet<i64> = lock_unheld_in(conn, &records).await?.into_iter().collect();
        let mut held = |id: i64| {
            let held = free.contains(&record_of[&id]);
            if !held {
                skipped.push(id);
            }
            held
        };
        changed.retain(|c| held(c.0));
        kept.retain(|k| held(k.0));
    }
    // Which clocks moved since they were read: no one can move them while
    // this runs (SQLite has one writer; on PostgreSQL their incidents are
    // held, see above). On SQLite this is asked of every clock before the
    // write, and usually no rows answer, where the write's `RETURNING` of
    // every clock it wrote sent 2,000 ids a batch back. PostgreSQL returns
    // those ids cheaply, so there the write's own version guard answers for
    // the clocks it writes, and only the kept ones are asked about: each
    // lookup by id once, not twice (BENCHMARKS.md).
    let asked: Vec<(i64, i64)> = match engine {
        Engine::Sqlite => changed.iter().map(|c| (c.0, c.4 - 1)).chain(kept.iter().copied()).collect(),
        Engine::Postgres => kept,
    };
    let mut moved: Vec<i64> = if asked.is_empty() {
        Vec::new()
    } else {
        let v = json_rows(engine, 1, &[("id", Int), ("version", Int)]);
        sqlx::query_scalar(&format!(
            "SELECT v.id FROM {v} AS v WHERE NOT EXISTS
             (SELECT 1 FROM sla_clocks c WHERE c.id = v.id AND c.version = v.version)"
        ))
        .bind(json_param(&asked))
        .fetch_all(&mut *conn)
        .await?
    };
    if !moved.is_empty() {
        let gone: HashSet<i64> = moved.iter().copied().collect();
        changed.retain(|c| !gone.contains(&c.0));
    }
    moved.extend(skipped);
    if changed.is_empty() {
        return Ok(moved);
    }
    let v = json_rows(engine, 1, &[("id", Int), ("state", Text), ("elapsed", Int), ("due", Int), ("version", Int)]);
    let update = format!(
        "UPDATE sla_clocks SET state = v.state, elapsed_us = v.elapsed, due_at = v.due, version = v.version, updated_at = $2
         FROM {v} AS v WHERE sla_clocks.id = v.id AND sla_clocks.version = v.version - 1"
    );
    let written: Vec<i64> = match engine {
        Engine::Postgres => {
            let written: Vec<i64> = sqlx::query_scalar(&format!("{update} RETURNING sla_clocks.id"))
                .bind(json_param(&changed))
                .bind(now)
                .fetch_all(&mut *conn)
                .await?;
            if written.len() != changed.len() {
                let done: HashSet<i64> = written.iter().copied().collect();
                moved.extend(changed.iter().map(|c| c.0).filter(|id| !done.contains(id)));
            }
            written
        }
        Engine::Sqlite => {
            let n =
                sqlx::query(&update).bind(json_param(&changed)).bind(now).execute(&mut *conn).await?.rows_affected();
            if n != changed.len() as u64 {
                // Cannot happen (see above); if it did, the batch is undone
                // whole and the job retries rather than leave a clock
                // half-written.
                return Err(StoreError::Conflict { current: 0 });
            }
            changed.iter().map(|c| c.0).collect()
        }
    };
    let keys: Vec<(String,)> = written.iter().map(|id| (timer_key(*id),)).collect();
    let mut records: Vec<(i64,)> = written.iter().map(|id| (record_of[id],)).collect();
    records.sort_unstable();
    records.dedup();
    let timers: Vec<(String, String, i64)> = written
        .iter()
        .filter_map(|id| timer_of.remove(id).map(|(payload, at)| (timer_key(*id), payload, at)))
        .collect();
    // The old timers go, new ones come (see `schedule_in` for why a timer
    // is never moved).
    let v = json_rows(engine, 1, &[("key", Text)]);
    sqlx::query(&format!("DELETE FROM jobs WHERE dedupe_key IN (SELECT key FROM {v} AS v)"))
        .bind(json_param(&keys))
        .execute(&mut *conn)
        .await?;
    // Each record's earliest due instant over all its clocks (some may be
    // on another calendar, outside this batch), grouped in one pass rather
    // than a subquery per record, and written only where it moved.
    let v = json_rows(engine, 1, &[("id", Int)]);
    sqlx::query(&format!(
        "UPDATE incidents SET sla_due = m.due
         FROM (SELECT c.record_id, MIN(c.due_at) AS due FROM sla_clocks c
               WHERE c.record_id IN (SELECT id FROM {v} AS v) GROUP BY c.record_id) AS m
         WHERE incidents.record_id = m.record_id AND incidents.sla_due IS DISTINCT FROM m.due"
    ))
    .bind(json_param(&records))
    .execute(&mut *conn)
    .await?;
    insert_timers_in(conn, engine, &timers, now).await?;
    Ok(moved)
}

/// When each of these clocks' timer is set to run, for those that have one.
async fn timers_in(
    conn: &mut AnyConnection,
    engine: Engine,
    rows: &[&ClockRow],
) -> Result<HashMap<i64, i64>, StoreError> {
    let clock_of: HashMap<String, i64> = rows.iter().map(|r| (timer_key(r.id), r.id)).collect();
    let keys: Vec<(&String,)> = clock_of.keys().map(|k| (k,)).collect();
    let v = json_rows(engine, 1, &[("key", JsonCol::Text)]);
    let set: Vec<(String, i64)> =
        sqlx::query_as(&format!("SELECT dedupe_key, run_at FROM jobs WHERE dedupe_key IN (SELECT key FROM {v} AS v)"))
            .bind(json_param(&keys))
            .fetch_all(&mut *conn)
            .await?;
    Ok(set.into_iter().filter_map(|(key, at)| Some((*clock_of.get(&key)?, at))).collect())
}

/// Locks the incident rows of these records (PostgreSQL) that no other
/// transaction holds, as [`super::clocks::hold_in`] would, and says which
/// those are; never waits.
async fn lock_unheld_in(conn: &mut AnyConnection, records: &[i64]) -> Result<Vec<i64>, StoreError> {
    let mut ids: Vec<(i64,)> = records.iter().map(|id| (*id,)).collect();
    ids.sort_unstable();
    ids.dedup();
    let v = json_rows(Engine::Postgres, 1, &[("id", JsonCol::Int)]);
    Ok(sqlx::query_scalar(&format!(
        "SELECT record_id FROM incidents WHERE record_id IN (SELECT id FROM {v} AS v)
         ORDER BY record_id FOR NO KEY UPDATE SKIP LOCKED"
    ))
    .bind(json_param(&ids))
    .fetch_all(&mut *conn)
    .await?)
}

/// Adds timer jobs (`dedupe key, payload, run at`) for clocks that have
/// none, in one statement.
pub(crate) async fn insert_timers_in(
    conn: &mut AnyConnection,
    engine: Engine,
    timers: &[(String, String, i64)],
    now: i64,
) -> Result<(), StoreError> {
    use JsonCol::{Int, Text};
    if timers.is_empty() {
        return Ok(());
    }
    let v = json_rows(engine, 1, &[("key", Text), ("payload", Text), ("at", Int)]);
    sqlx::query(&format!(
        "INSERT INTO jobs (kind, payload, run_at, attempts, dedupe_key, created_at)
         SELECT $2, v.payload, v.at, 0, v.key, $3 FROM {v} AS v"
    ))
    .bind(json_param(timers))
    .bind(TIMER_JOB)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use varde_domain::incident::Patch;

    use super::*;
    use crate::testing::{agent, databases, incident};

    /// An agent, an SLA of 100 minutes with a 50 % warning, and an incident
    /// with its clock running.
    async fn agent_and_incident(s: &Store) -> (i64, varde_domain::incident::Incident) {
        let who = agent(s).await;
        let spec = serde_json::from_value(serde_json::json!({ "name": "Std", "kind": "sla",
            "targets": [{ "name": "resolution", "minutes": 100 }], "thresholds": [{ "percent": 50 }] }))
        .unwrap();
        s.create_agreement(spec, who).await.unwrap();
        let (i, _) = s.create_incident(incident(who), None).await.unwrap();
        (who, i)
    }

    /// Whole days closed, `days` of them from `from` days after today (UTC).
    fn closed_days(from: i64, days: i64) -> Vec<varde_domain::sla::calendar::Exception> {
        let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
        (from..from + days)
            .map(|d| varde_domain::sla::calendar::Exception {
                name: "Closed".into(),
                date: today.checked_add(jiff::Span::new().days(d)).unwrap().to_string(),
                yearly: false,
                closed: Vec::new(),
            })
            .collect()
    }

    /// An agent and an SLA with these targets (name, minutes) on the
    /// "Business hours" calendar, warning at 50 %; the calendar.
    async fn on_office_hours(s: &Store, targets: &[(&str, i64)]) -> (i64, crate::calendars::CalendarRecord) {
        let who = agent(s).await;
        let office = s.calendar_by_name("Business hours").await.unwrap();
        let targets: Vec<_> = targets
            .iter()
            .map(|(name, minutes)| serde_json::json!({ "name": name, "minutes": minutes, "calendar_id": office.id }))
            .collect();
        let spec = serde_json::from_value(serde_json::json!({ "name": "Office", "kind": "sla",
            "targets": targets, "thresholds": [{ "percent": 50 }] }))
        .unwrap();
        s.create_agreement(spec, who).await.unwrap();
        (who, office)
    }

    /// A recompute works on rows read before its transaction. A clock paused
    /// in between must stay paused, not get the figures of a running one.
    #[tokio::test]
    async fn recompute_leaves_a_clock_that_moved_since_it_was_read_as_it_now_is() {
        for db in databases().await {
            let s = &db.store;
            let (who, i) = agent_and_incident(s).await;
            let stale: ClockRow =
                sqlx::query_as(&format!("SELECT {CLOCK_COLUMNS} FROM sla_clocks WHERE record_id = $1"))
                    .bind(i.id)
                    .fetch_one(s.pool())
                    .await
                    .unwrap();
            assert_eq!(stale.state, "running");
            let hold = Patch {
                state: Some("on_hold".into()),
                hold_reason: Some("awaiting_caller".into()),
                ..Patch::default()
            };
            s.update_incident(i.id, None, hold, who).await.unwrap();
            // The stale row says "running" with a due instant an hour on:
            // recomputed as it was read, the clock would run again.
            let engine = s.engine();
            let later = now_micros() + 3_600_000_000;
            s.write(move |conn| recompute_figures_in(conn, engine, vec![stale], later).boxed()).await.unwrap();
            // The stored figures, not the live ones `clocks()` derives.
            let stored: (String, Option<i64>, i64) =
                sqlx::query_as("SELECT state, due_at, version FROM sla_clocks WHERE record_id = $1")
                    .bind(i.id)
                    .fetch_one(s.pool())
                    .await
                    .unwrap();
            assert_eq!(stored, ("paused".to_string(), None, 2), "{}", db.engine);
            assert_eq!(s.sla_dues(&[i.id]).await.unwrap()[&i.id], None, "{}", db.engine);
            let timers: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'sla_timer'")
                .fetch_one(s.pool())
                .await
                .unwrap();
            assert_eq!(timers, 0, "{}: a paused clock has no timer", db.engine);
        }
    }

    /// A recompute in many small batches (three clocks read, cut back to
    /// whole records), several written at once on PostgreSQL: every clock
    /// ends on the changed calendar, once, with one timer of its own, and
    /// every record's due instant is its clocks' first.
    #[tokio::test]
    async fn recompute_in_batches_written_side_by_side_moves_every_clock_once() {
        for db in databases().await {
            let s = &db.store;
            let (who, office) = on_office_hours(s, &[("response", 30), ("resolution", 100)]).await;
            let mut records = Vec::new();
            for _ in 0..20 {
                records.push(s.create_incident(incident(who), None).await.unwrap().0.id);
            }
            // Closed from yesterday for a fortnight: every due instant moves.
            let mut spec = office.spec.clone();
            spec.exceptions.extend(closed_days(-1, 15));
            let cal = varde_domain::sla::calendar::Calendar::compile(&spec).unwrap();
            let fields = crate::calendars::CalendarFields {
                name: office.name.clone(),
                description: office.description.clone(),
                spec,
            };
            s.update_calendar(office.id, None, fields, who).await.unwrap();
            let visited = s.recompute_clocks_by(format!("calendar:{}", office.id), 3).await.unwrap();
            assert_eq!(visited, 40, "{}", db.engine);
            let clocks: Vec<(i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
                "SELECT id, record_id, started_at, target_us, due_at, version FROM sla_clocks ORDER BY id",
            )
            .fetch_all(s.pool())
            .await
            .unwrap();
            let timers: HashMap<String, String> =
                sqlx::query_as::<_, (String, String)>("SELECT dedupe_key, payload FROM jobs WHERE kind = 'sla_timer'")
                    .fetch_all(s.pool())
                    .await
                    .unwrap()
                    .into_iter()
                    .collect();
            assert_eq!(timers.len(), 40, "{}: one timer a clock", db.engine);
            let dues = s.sla_dues(&records).await.unwrap();
            for (id, record, started, target, due, version) in clocks {
                // The target on from the start, on the calendar as it now is.
                assert_eq!(due, cal.add_us(started, target), "{}: clock {id}", db.engine);
                assert_eq!(version, 2, "{}: clock {id} written once", db.engine);
                assert_eq!(timers[&timer_key(id)], format!("{id}:2"), "{}", db.engine);
                assert!(dues[&record].is_some_and(|d| d <= due), "{}: record {record}", db.engine);
            }
        }
    }

    /// A calendar change rewrites only the clocks it moves: a holiday next
    /// year leaves today's clocks, their versions and timers alone; a closed
    /// week from today moves every one of them.
    #[tokio::test]
    async fn recompute_writes_only_the_clocks_a_calendar_change_moves() {
        for db in databases().await {
            let s = &db.store;
            let (who, office) = on_office_hours(s, &[("resolution", 100)]).await;
            for _ in 0..4 {
                s.create_incident(incident(who), None).await.unwrap();
            }
            let state = || async {
                let clocks: Vec<(i64, i64, Option<i64>)> =
                    sqlx::query_as("SELECT id, version, due_at FROM sla_clocks ORDER BY id")
                        .fetch_all(s.pool())
                        .await
                        .unwrap();
                let timers: Vec<(String, String, i64)> = sqlx::query_as(
                    "SELECT dedupe_key, payload, run_at FROM jobs WHERE kind = 'sla_timer' ORDER BY dedupe_key",
                )
                .fetch_all(s.pool())
                .await
                .unwrap();
                (clocks, timers)
            };
            let before = state().await;
            assert_eq!(before.1.len(), 4, "{}", db.engine);
            let mut fields = crate::calendars::CalendarFields {
                name: office.name.clone(),
                description: office.description.clone(),
                spec: office.spec.clone(),
            };
            fields.spec.exceptions.extend(closed_days(400, 1));
            s.update_calendar(office.id, None, fields.clone(), who).await.unwrap();
            assert_eq!(s.recompute_clocks(format!("calendar:{}", office.id)).await.unwrap(), 4);
            assert_eq!(state().await, before, "{}: a holiday next year moves nothing", db.engine);
            // The elapsed time stored at a running clock's last event, marked
            // so that a rewrite of it shows.
            sqlx::query("UPDATE sla_clocks SET elapsed_us = 12345").execute(s.pool()).await.unwrap();
            fields.spec.exceptions.extend(closed_days(-1, 15));
            s.update_calendar(office.id, None, fields, who).await.unwrap();
            assert_eq!(s.recompute_clocks(format!("calendar:{}", office.id)).await.unwrap(), 4);
            let (clocks, timers) = state().await;
            for ((id, version, due), (_, old_version, old_due)) in clocks.iter().zip(&before.0) {
                assert_eq!(*version, old_version + 1, "{}: clock {id}", db.engine);
                assert!(due.unwrap() > old_due.unwrap() + 7 * 86_400_000_000, "{}: clock {id}", db.engine);
            }
            // Nothing indexed moved on these running clocks: their state and
            // stored elapsed time stay, so PostgreSQL can write them in place.
            let indexed: Vec<(String, i64)> = sqlx::query_as("SELECT state, elapsed_us FROM sla_clocks ORDER BY id")
                .fetch_all(s.pool())
                .await
                .unwrap();
            assert_eq!(indexed, vec![("running".to_string(), 12345); 4], "{}", db.engine);
            for ((key, payload, at), (_, old_payload, old_at)) in timers.iter().zip(&before.1) {
                assert!(payload != old_payload && at > old_at, "{}: timer {key}", db.engine);
            }
        }
    }

    /// A clock that looks unmoved as read, but was written since (by a
    /// write that began on the old calendar), is read again, not skipped:
    /// the figures of that write do not stay.
    #[tokio::test]
    async fn recompute_reads_again_an_unmoved_clock_written_since() {
        for db in databases().await {
            let s = &db.store;
            let (_, i) = agent_and_incident(s).await;
            let read: ClockRow =
                sqlx::query_as(&format!("SELECT {CLOCK_COLUMNS} FROM sla_clocks WHERE record_id = $1"))
                    .bind(i.id)
                    .fetch_one(s.pool())
                    .await
                    .unwrap();
            let right = read.due_at.unwrap();
            // The other write: a due instant an hour off, a version on.
            sqlx::query("UPDATE sla_clocks SET due_at = due_at + 3600000000, version = version + 1 WHERE id = $1")
                .bind(read.id)
                .execute(s.pool())
                .await
                .unwrap();
            let engine = s.engine();
            let now = now_micros();
            s.write(move |conn| recompute_figures_in(conn, engine, vec![read], now).boxed()).await.unwrap();
            let (due, version): (i64, i64) =
                sqlx::query_as("SELECT due_at, version FROM sla_clocks WHERE record_id = $1")
                    .bind(i.id)
                    .fetch_one(s.pool())
                    .await
                    .unwrap();
            assert_eq!((due, version), (right, 3), "{}", db.engine);
        }
    }

    /// On PostgreSQL the recompute takes only the rows nobody holds: a record
    /// being written (its incident held, as every writer of its clocks holds
    /// it) is left for later, never waited for, so the job cannot deadlock
    /// with the write.
    #[tokio::test]
    async fn recompute_on_postgresql_does_not_wait_for_a_record_being_written() {
        for db in databases().await {
            if db.engine != "postgres" {
                continue;
            }
            let s = &db.store;
            let (_, i) = agent_and_incident(s).await;
            let row: ClockRow = sqlx::query_as(&format!("SELECT {CLOCK_COLUMNS} FROM sla_clocks WHERE record_id = $1"))
                .bind(i.id)
                .fetch_one(s.pool())
                .await
                .unwrap();
            // Three hours on, the 100-minute clock has breached: a figure
            // the recompute must write.
            let later = now_micros() + 3 * 3_600_000_000;
            let engine = s.engine();
            let mut writer = s.pool().begin().await.unwrap();
            sqlx::query("SELECT record_id FROM incidents WHERE record_id = $1 FOR NO KEY UPDATE")
                .bind(i.id)
                .fetch_all(&mut *writer)
                .await
                .unwrap();
            let held = row.clone();
            let r = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                s.write(move |conn| recompute_figures_in(conn, engine, vec![held], later).boxed()),
            )
            .await
            .expect("the recompute does not wait for the lock");
            assert!(matches!(r, Err(StoreError::Conflict { .. })), "{r:?}");
            let version: i64 = sqlx::query_scalar("SELECT version FROM sla_clocks WHERE id = $1")
                .bind(row.id)
                .fetch_one(s.pool())
                .await
                .unwrap();
            assert_eq!(version, 1, "nothing written while the record was held");
            writer.rollback().await.unwrap();
            s.write(move |conn| recompute_figures_in(conn, engine, vec![row], later).boxed()).await.unwrap();
            let (version, elapsed): (i64, i64) =
                sqlx::query_as("SELECT version, elapsed_us FROM sla_clocks WHERE record_id = $1")
                    .bind(i.id)
                    .fetch_one(s.pool())
                    .await
                    .unwrap();
            assert_eq!(version, 2);
            assert!(elapsed > 0, "recomputed once the record was free");
        }
    }

    /// A transaction holding record `id`'s row as a record write does (it
    /// updates the row first), left open for the caller.
    async fn writing(s: &Store, id: i64) -> (sqlx::Transaction<'static, sqlx::Any>, i64) {
        let mut writer = s.pool().begin().await.unwrap();
        sqlx::query("UPDATE records SET updated_at = updated_at WHERE id = $1")
            .bind(id)
            .execute(&mut *writer)
            .await
            .unwrap();
        let pid: i64 =
            sqlx::query_scalar("SELECT CAST(pg_backend_pid() AS BIGINT)").fetch_one(&mut *writer).await.unwrap();
        (writer, pid)
    }

    /// Whether `job` is seen waiting on the backend `pid` while it runs: not
    /// merely unfinished, which a slow start would look like too.
    async fn waits_on<T>(s: &Store, pid: i64, job: &tokio::task::JoinHandle<T>) -> bool {
        for _ in 0..200 {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE CAST($1 AS INTEGER) = ANY(pg_blocking_pids(pid))",
            )
            .bind(pid)
            .fetch_one(s.pool())
            .await
            .unwrap();
            if n > 0 {
                return !job.is_finished();
            }
            if job.is_finished() {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    }

    /// A firing timer takes the record's row, then its incident's, before
    /// it reads the clock, as every writer of a clock does: the recompute's
    /// reliance on the incident lock needs that order (`records` module).
    /// Held by a record write, it waits for that write, then finds the clock
    /// moved on and leaves it as the write left it.
    #[tokio::test]
    async fn a_firing_timer_on_postgresql_waits_for_the_record_being_written() {
        for db in databases().await {
            if db.engine != "postgres" {
                continue;
            }
            let s = &db.store;
            let (_, i) = agent_and_incident(s).await;
            let (clock, version): (i64, i64) =
                sqlx::query_as("SELECT id, version FROM sla_clocks WHERE record_id = $1")
                    .bind(i.id)
                    .fetch_one(s.pool())
                    .await
                    .unwrap();
            let (mut writer, pid) = writing(s, i.id).await;
            let store = s.clone();
            let fire = tokio::spawn(async move { store.fire_sla_timer(timer_payload(clock, version)).await });
            assert!(waits_on(s, pid, &fire).await, "the timer waits for the record's writer");
            // The write moves the clock on, as a record write evaluating it does.
            sqlx::query("UPDATE sla_clocks SET version = version + 1 WHERE id = $1")
                .bind(clock)
                .execute(&mut *writer)
                .await
                .unwrap();
            writer.commit().await.unwrap();
            let fired = fire.await.unwrap().unwrap();
            assert!(fired.percents.is_empty() && !fired.record_changed);
            let now: i64 = sqlx::query_scalar("SELECT version FROM sla_clocks WHERE id = $1")
                .bind(clock)
                .fetch_one(s.pool())
                .await
                .unwrap();
            assert_eq!(now, version + 1, "the timer left the clock as the write left it");
        }
    }

    /// The agreement recompute evaluates many records in one transaction.
    /// It takes each record's row before it evaluates it, as every record
    /// write does (`records` module), so it waits for a record being written
    /// rather than take the incident and clocks from under the write (out of
    /// that order, it could deadlock with a problem's resolution).
    #[tokio::test]
    async fn agreement_recompute_on_postgresql_waits_for_a_record_being_written() {
        for db in databases().await {
            if db.engine != "postgres" {
                continue;
            }
            let s = &db.store;
            let (_, i) = agent_and_incident(s).await;
            let agreement: i64 = sqlx::query_scalar("SELECT agreement_id FROM sla_clocks WHERE record_id = $1")
                .bind(i.id)
                .fetch_one(s.pool())
                .await
                .unwrap();
            let (writer, pid) = writing(s, i.id).await;
            let store = s.clone();
            let job = tokio::spawn(async move { store.recompute_clocks(format!("agreement:{agreement}")).await });
            assert!(waits_on(s, pid, &job).await, "the recompute waits for the record's writer");
            writer.commit().await.unwrap();
            assert_eq!(job.await.unwrap().unwrap(), 1);
        }
    }

    /// Setting an incident's supplier takes the record's row first, as every
    /// record write (it used to update the incident before the record), so
    /// it waits for a record being written.
    #[tokio::test]
    async fn setting_a_supplier_on_postgresql_waits_for_the_record_being_written() {
        for db in databases().await {
            if db.engine != "postgres" {
                continue;
            }
            let s = &db.store;
            let (who, i) = agent_and_incident(s).await;
            let (writer, pid) = writing(s, i.id).await;
            let store = s.clone();
            let job = tokio::spawn(async move { store.set_supplier(i.id, None, who).await });
            assert!(waits_on(s, pid, &job).await, "setting the supplier waits for the record's writer");
            writer.commit().await.unwrap();
            job.await.unwrap().unwrap();
        }
    }
}
