//! SLA benchmarks, not tests: each is `#[ignore]`d and prints figures for
//! BENCHMARKS.md (no timing is asserted). Run in release:
//!
//! ```sh
//! cargo test --release -p varde --test bench_sla -- --ignored --nocapture --test-threads 1
//! ```
//!
//! `VARDE_BENCH_ROWS` sets the size of the report and recompute data sets
//! (default 200000). Both engines when `VARDE_TEST_POSTGRES_URL` is set.

use std::time::{Duration, Instant};

use futures::FutureExt;
use varde_domain::priority::Level;
use varde_domain::sla::agreement::AgreementSpec;
use varde_store::incidents::NewIncident;
use varde_store::testing::databases;
use varde_store::Store;

fn rows() -> i64 {
    std::env::var("VARDE_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000)
}

async fn agent(store: &Store) -> i64 {
    let u = varde::service::directory::create_user(
        store,
        None,
        varde::service::directory::CreateUser {
            email: "bench@example.org".into(),
            name: "Bench".into(),
            role: "agent".into(),
            organisation_id: None,
            password: None,
        },
    )
    .await
    .unwrap();
    u.id
}

fn spec(json: serde_json::Value) -> AgreementSpec {
    serde_json::from_value(json).unwrap()
}

fn incident(who: i64, n: usize) -> NewIncident {
    NewIncident {
        short_description: format!("bench {n}"),
        description: String::new(),
        requester_id: who,
        created_by: who,
        assignment_group_id: None,
        assignee_id: None,
        impact: Level::new("", 2).unwrap(),
        urgency: Level::new("", 2).unwrap(),
        category_id: None,
        service_id: None,
        channel: varde_domain::incident::Channel::Api,
        major: false,
    }
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// 1,000 clocks whose breach falls in the same minute; the job runner
/// fires them; lag = when the threshold event was recorded minus its due
/// instant. Baseline: one timer alone on the idle runner, same run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn timer_lag_with_1000_clocks_due_in_one_minute() {
    for db in databases().await {
        let store = db.store.clone();
        let who = agent(&store).await;
        let a = store
            .create_agreement(
                spec(serde_json::json!({ "name": "Lag", "kind": "sla", "targets": [{ "name": "resolution", "minutes": 1 }],
                    "thresholds": [{ "percent": 100, "actions": [] }] })),
                who,
            )
            .await
            .unwrap();
        let _ = a;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let runner = tokio::spawn(varde::jobs::run(store.clone(), stop_rx));
        let lags = |created: Vec<(i64, i64)>, store: Store| async move {
            let mut lags = Vec::new();
            let until = Instant::now() + Duration::from_secs(240);
            loop {
                let rows: Vec<(i64, i64)> = sqlx::query_as(
                    "SELECT c.record_id, e.at FROM sla_clock_events e JOIN sla_clocks c ON c.id = e.clock_id WHERE e.event = 'threshold'",
                )
                .fetch_all(store.pool())
                .await
                .unwrap();
                if rows.len() >= created.len() || Instant::now() > until {
                    for (rec, at) in rows {
                        if let Some((_, c)) = created.iter().find(|(r, _)| *r == rec) {
                            lags.push(at - (c + 60_000_000));
                        }
                    }
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            lags.sort_unstable();
            lags
        };
        // Baseline: one clock alone.
        let one = store.create_incident(incident(who, 0), None).await.unwrap().0;
        let base = lags(vec![(one.id, one.created_at)], store.clone()).await;
        // 1,000 created as fast as the store takes them (8 at a time).
        let started = Instant::now();
        let mut created = Vec::new();
        let mut tasks = Vec::new();
        for w in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for n in 0..125 {
                    let i = store.create_incident(incident(who, w * 1000 + n), None).await.unwrap().0;
                    out.push((i.id, i.created_at));
                }
                out
            }));
        }
        for t in tasks {
            created.extend(t.await.unwrap());
        }
        let spread = created.iter().map(|c| c.1).max().unwrap() - created.iter().map(|c| c.1).min().unwrap();
        eprintln!(
            "{}: created 1000 in {:?} (due instants spread over {} ms)",
            db.engine,
            started.elapsed(),
            spread / 1000
        );
        let l = lags(created.clone(), store.clone()).await;
        stop_tx.send(true).unwrap();
        runner.await.unwrap();
        let twice: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sla_clock_events WHERE event = 'threshold'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        eprintln!(
            "BENCH timer-lag {}: fired {}/{} (events {}), lag ms p50 {} p90 {} p99 {} max {}; baseline single timer lag {} ms",
            db.engine,
            l.len(),
            created.len(),
            twice - 1,
            pct(&l, 0.5) / 1000,
            pct(&l, 0.9) / 1000,
            pct(&l, 0.99) / 1000,
            l.last().unwrap() / 1000,
            base[0] / 1000
        );
    }
}

/// Fills `n` incidents with one closed SLA clock each (a tenth breached),
/// spread over a year, straight through the store's writer in batches.
async fn fill_closed(store: &Store, who: i64, agreement: i64, n: i64, open_on_calendar: Option<i64>) {
    let year_start = jiff::Timestamp::now().as_microsecond() - 365 * 86_400_000_000;
    let engine = store.engine();
    let mut next = 0i64;
    while next < n {
        let batch = 500.min(n - next);
        let from = next;
        let cal = open_on_calendar;
        store
            .write(move |conn| {
                async move {
                    let mut ids = Vec::new();
                    for k in from..from + batch {
                        let created = year_start + k * (365 * 86_400_000_000 / n.max(1));
                        let number = format!("BEN{k:09}");
                        let (state, open) = if cal.is_some() { ("in_progress", 1) } else { ("resolved", 0) };
                        let id: i64 = sqlx::query_scalar(
                            "INSERT INTO records (kind, number, version, state, is_open, short_description, description, requester_id,
                                created_by, priority, created_at, updated_at) VALUES ('incident', $1, 1, $2, $3, 'bench', '', $4, $4, 3, $5, $5)
                             RETURNING id",
                        )
                        .bind(&number)
                        .bind(state)
                        .bind(open)
                        .bind(who)
                        .bind(created)
                        .fetch_one(&mut *conn)
                        .await?;
                        ids.push((id, created, k));
                    }
                    let mut sql = String::from("INSERT INTO incidents (record_id, impact, urgency, channel) VALUES ");
                    for (n, (id, _, _)) in ids.iter().enumerate() {
                        if n > 0 {
                            sql.push_str(", ");
                        }
                        sql.push_str(&format!("({id}, 2, 2, 'api')"));
                    }
                    sqlx::query(&sql).execute(&mut *conn).await?;
                    let mut sql = String::from(
                        "INSERT INTO sla_clocks (record_id, clock_key, kind, party_id, target_name, agreement_id, target_us, calendar_id,
                            state, spans, running_since, stopped_at, cancelled, elapsed_us, due_at, started_at, fired, version, updated_at) VALUES ",
                    );
                    for (n, (id, created, k)) in ids.iter().enumerate() {
                        if n > 0 {
                            sql.push_str(", ");
                        }
                        let target = 8 * 3_600_000_000i64;
                        let took = if k % 10 == 0 { target + 3_600_000_000 } else { target / 2 };
                        match cal {
                            None => {
                                let state = if took > target { "breached" } else { "met" };
                                sql.push_str(&format!(
                                    "({id}, 'sla:0:resolution', 'sla', 0, 'resolution', {agreement}, {target}, NULL, '{state}', '[[{created},{}]]', NULL, {}, 0, {took}, NULL, {created}, '', 1, {created})",
                                    created + took,
                                    created + took
                                ));
                            }
                            Some(c) => {
                                sql.push_str(&format!(
                                    "({id}, 'sla:0:resolution', 'sla', 0, 'resolution', {agreement}, {target}, {c}, 'running', '[]', {created}, NULL, 0, 0, {}, {created}, '', 1, {created})",
                                    created + target
                                ));
                            }
                        }
                    }
                    sqlx::query(&sql).execute(&mut *conn).await?;
                    let _ = engine;
                    Ok(())
                }
                .boxed()
            })
            .await
            .unwrap();
        next += batch;
    }
}

/// The compliance report over `VARDE_BENCH_ROWS` closed clocks of a year.
/// Baseline: a plain `COUNT(*)` over the same clocks, same run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn compliance_report_over_many_closed_clocks() {
    let n = rows();
    for db in databases().await {
        let store = db.store.clone();
        let who = agent(&store).await;
        let a = store
            .create_agreement(spec(serde_json::json!({ "name": "Year", "kind": "sla", "targets": [{ "name": "resolution", "minutes": 480 }] })), who)
            .await
            .unwrap();
        let t = Instant::now();
        fill_closed(&store, who, a.id, n, None).await;
        eprintln!("{}: loaded {n} closed clocks in {:?}", db.engine, t.elapsed());
        let now = jiff::Timestamp::now().as_microsecond();
        let from = now - 366 * 86_400_000_000;
        for by in [
            varde_store::sla::reports::GroupBy::Agreement,
            varde_store::sla::reports::GroupBy::Month,
            varde_store::sla::reports::GroupBy::Group,
        ] {
            let mut times = Vec::new();
            let mut total = 0;
            for _ in 0..3 {
                let t = Instant::now();
                let r = store.sla_report("sla", from, now + 1, by).await.unwrap();
                times.push(t.elapsed().as_millis());
                total = r.rows.iter().map(|r| r.total).sum::<i64>();
            }
            times.sort_unstable();
            eprintln!(
                "BENCH report {} by {}: {total} clocks, median {} ms (runs {:?})",
                db.engine,
                by.as_str(),
                times[1],
                times
            );
        }
        let mut times = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sla_clocks WHERE stopped_at >= $1")
                .bind(from)
                .fetch_one(store.pool())
                .await
                .unwrap();
            times.push(t.elapsed().as_millis());
        }
        times.sort_unstable();
        eprintln!("BENCH report {} baseline COUNT(*): median {} ms", db.engine, times[1]);
    }
}

/// Recompute every open clock after a calendar change: `VARDE_BENCH_ROWS`
/// open records on one calendar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn recompute_open_clocks_after_a_calendar_change() {
    let n = rows();
    for db in databases().await {
        let store = db.store.clone();
        let who = agent(&store).await;
        let office = store.calendar_by_name("Business hours").await.unwrap();
        let a = store
            .create_agreement(
                spec(serde_json::json!({ "name": "Office", "kind": "sla",
                    "targets": [{ "name": "resolution", "minutes": 480, "calendar_id": office.id }] })),
                who,
            )
            .await
            .unwrap();
        fill_closed(&store, who, a.id, n, Some(office.id)).await;
        // A live database has statistics; one just filled has none until
        // autovacuum comes by, and without them PostgreSQL sorts every
        // remaining clock for each batch (a bitmap scan and a top-N sort,
        // 77 ms a batch instead of 3 ms). Measure the steady state.
        if db.engine == "postgres" {
            sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
        }
        // The filled clocks carry wall-clock due instants and no timers; the
        // first recompute puts them on the calendar (every figure and due
        // instant moves, every timer is inserted).
        let t = Instant::now();
        let visited = store.recompute_clocks(format!("calendar:{}", office.id)).await.unwrap();
        let first = t.elapsed();
        // Then the calendar really changes: its working hours move by an
        // hour (another time zone). A clock whose start and due instant
        // fall in hours both zones work keeps its due instant (an 8-hour
        // target is one working day in either); the others' move, and so
        // does nearly every timer (75 % of a day lands elsewhere), so most
        // clocks, incidents and timers are written again.
        let mut spec = office.spec.clone();
        spec.time_zone = if spec.time_zone == "Europe/London" { "Europe/Copenhagen" } else { "Europe/London" }.into();
        let fields = varde_store::calendars::CalendarFields {
            name: office.name.clone(),
            description: office.description.clone(),
            spec,
        };
        store.update_calendar(office.id, None, fields, who).await.unwrap();
        // A sample spread over the whole year the clocks started in: the
        // first hundred all start within the same few hours of one day.
        let sample = "SELECT due_at FROM sla_clocks WHERE id % 2000 = 0 ORDER BY id";
        let before: Vec<i64> = sqlx::query_scalar(sample).fetch_all(store.pool()).await.unwrap();
        let (t, cpu) = (Instant::now(), process_cpu_ms());
        let again = store.recompute_clocks(format!("calendar:{}", office.id)).await.unwrap();
        let (took, cpu) = (t.elapsed(), process_cpu_ms() - cpu);
        let after: Vec<i64> = sqlx::query_scalar(sample).fetch_all(store.pool()).await.unwrap();
        let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'sla_timer'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        eprintln!(
            "BENCH recompute {}: first {visited} clocks onto the calendar in {} ms; after the calendar changed, {again} clocks recomputed ({moved} of {} sampled due instants moved) and {jobs} timers set in {} ms, {cpu} ms of this process's CPU",
            db.engine,
            first.as_millis(),
            before.len(),
            took.as_millis()
        );
    }
}

/// CPU time (user and system) this process has used, in ms: with the
/// database server on the same machine, what Varde itself costs of a run.
fn process_cpu_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command (which may hold spaces) begin at its ')':
    // state, ppid, ... (some may be -1); utime and stime are the 12th and
    // 13th of them, in ticks of 10 ms.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |n: usize| fields.get(n).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) * 10
}

async fn creates_per_second(store: &Store, who: i64, n: usize) -> f64 {
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..n / 8 {
                store.create_incident(incident(who, w * 100_000 + k), None).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    n as f64 / t.elapsed().as_secs_f64()
}

/// What clock evaluation in the write path costs an incident create:
/// creates per second (8 writers, through the store) with no agreement,
/// then with an SLA (two targets on a business calendar) and an OLA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn create_cost_of_clock_evaluation() {
    for db in databases().await {
        let store = db.store.clone();
        let who = agent(&store).await;
        let _ = creates_per_second(&store, who, 400).await;
        let without = creates_per_second(&store, who, 4000).await;
        let office = store.calendar_by_name("Business hours").await.unwrap();
        let g = store.create_group("Desk".into(), String::new()).await.unwrap().id;
        store
            .create_agreement(
                spec(serde_json::json!({ "name": "Gold", "kind": "sla", "targets": [
                    { "name": "response", "minutes": 30, "calendar_id": office.id },
                    { "name": "resolution", "minutes": 480, "calendar_id": office.id }] })),
                who,
            )
            .await
            .unwrap();
        store
            .create_agreement(
                spec(serde_json::json!({ "name": "Desk", "kind": "ola", "group_id": g, "targets": [{ "name": "resolution", "minutes": 240 }] })),
                who,
            )
            .await
            .unwrap();
        let with = creates_per_second(&store, who, 4000).await;
        eprintln!(
            "BENCH create {}: {:.0}/s without agreements, {:.0}/s with an SLA of two targets (ratio {:.2})",
            db.engine,
            without,
            with,
            with / without
        );
    }
}
