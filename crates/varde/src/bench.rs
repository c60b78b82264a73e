//! `varde bench`: a load generator for the HTTP API, and a fast loader of
//! large data sets straight through the store (see BENCHMARKS.md).
//!
//! The load generator only ever talks to the server named by `--url`, and
//! only on the loopback interface: it is a measuring tool, not a way to
//! flood someone else's server. Every run is bounded by a duration and a
//! request count.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use varde_domain::access::Role;
use varde_domain::incident::{Channel, ResolutionCode, State};
use varde_domain::priority::Level;
use varde_store::directory::NewUser;
use varde_store::import::{ImportedIncident, MAX_IMPORT_BATCH};
use varde_store::incidents::NewIncident;
use varde_store::Store;

use crate::config::{anyhow_lite, DbArgs};

/// Hard ceilings, whatever the flags say.
const MAX_CLIENTS: usize = 256;
const MAX_DURATION_SECS: u64 = 600;
const MAX_REQUESTS: u64 = 10_000_000;
const MAX_SEED: u64 = 20_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// POST /api/v1/incidents.
    Create,
    /// GET /api/v1/incidents/{id}, ids from a set made first.
    Read,
    /// The agent's queue: assigned to me, open, by priority, 50 rows.
    Queue,
    /// Text search: ?q=word, 50 rows.
    Search,
}

impl Scenario {
    fn as_str(self) -> &'static str {
        match self {
            Scenario::Create => "create",
            Scenario::Read => "read",
            Scenario::Queue => "queue",
            Scenario::Search => "search",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The server to drive (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An agent's API token (`varde admin create-token`).
    #[arg(long, env = "VARDE_BENCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// What to measure; repeat or comma-separate for several, run one after another.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Scenario::Create])]
    pub scenario: Vec<Scenario>,
    /// Concurrent clients, each with one request in flight.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// How long each scenario runs, in seconds (after the warm-up).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Stop a scenario after this many requests, even before the duration.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Seconds of load before measuring starts (connections, caches).
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    /// How many incidents the read scenario creates first and reads at random.
    #[arg(long, default_value_t = 500)]
    pub read_set: usize,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Instead of driving a server: load this many incidents straight into
    /// the database (--data-dir / --database-url), in large transactions.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// The random seed for generated data, so data sets can be made again.
    #[arg(long, default_value_t = 42)]
    pub rng_seed: u64,
}

pub async fn run(args: BenchArgs, db: &DbArgs) -> anyhow_lite::Result<ExitCode> {
    if let Some(n) = args.seed {
        if n > MAX_SEED {
            return Err(format!("--seed is at most {MAX_SEED}").into());
        }
        let config = db.resolve(None)?;
        let store = Store::open(&config.store).await?;
        seed(&store, n, args.rng_seed).await?;
        store.close().await;
        return Ok(ExitCode::SUCCESS);
    }
    let base = check_url(&args.url)?;
    let token = args.token.clone().ok_or("--token (or VARDE_BENCH_TOKEN) is required: an agent's API token")?;
    if args.clients == 0 || args.clients > MAX_CLIENTS {
        return Err(format!("--clients must be 1 to {MAX_CLIENTS}").into());
    }
    if args.duration == 0 || args.duration > MAX_DURATION_SECS || args.warmup > MAX_DURATION_SECS {
        return Err(format!("--duration must be 1 to {MAX_DURATION_SECS} seconds").into());
    }
    let requests = args.requests.unwrap_or(MAX_REQUESTS).min(MAX_REQUESTS);
    let client =
        reqwest::Client::builder().pool_max_idle_per_host(args.clients).timeout(Duration::from_secs(30)).build()?;
    let api = Api { client, base, token: format!("Bearer {token}") };
    let mut reports = Vec::new();
    for scenario in &args.scenario {
        let ids = if *scenario == Scenario::Read {
            Arc::new(make_read_set(&api, args.read_set).await?)
        } else {
            Arc::default()
        };
        if args.warmup > 0 {
            let _ =
                drive(&api, *scenario, args.clients, Duration::from_secs(args.warmup), requests, &ids, args.rng_seed)
                    .await;
        }
        let r = drive(&api, *scenario, args.clients, Duration::from_secs(args.duration), requests, &ids, args.rng_seed)
            .await;
        if !args.json {
            if reports.is_empty() {
                println!("{}", Report::header());
            }
            println!("{}", r.row());
            for e in &r.sample_errors {
                eprintln!("  {}: {e}", r.scenario);
            }
        }
        reports.push(r);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(if reports.iter().all(|r| r.errors == 0) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Only loopback targets: the tool measures one's own server.
fn check_url(url: &str) -> anyhow_lite::Result<String> {
    let base = url.trim_end_matches('/');
    let rest = base
        .strip_prefix("http://")
        .ok_or("--url must be http://127.0.0.1:PORT (or localhost, [::1]); bench only drives a local server")?;
    let host = if let Some(v6) = rest.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        rest.split([':', '/']).next().unwrap_or("")
    };
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false);
    if !loopback {
        return Err(format!("--url host {host:?} is not a loopback address; bench only drives a local server").into());
    }
    Ok(base.to_string())
}

#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

/// Words the generated texts use, so searches find something.
const SEARCH_WORDS: &[&str] =
    &["vpn", "printer", "outlook", "password", "laptop", "payroll", "wifi", "teams", "erp", "monitor", "intranet"];

impl Api {
    async fn create(&self, rng: &mut StdRng) -> Result<i64, String> {
        let (short, description) = crate::demo::incident_text(rng);
        let body = serde_json::json!({
            "short_description": short,
            "description": description,
            "impact": rng.gen_range(1..=3),
            "urgency": rng.gen_range(1..=3),
        });
        let res = self
            .client
            .post(format!("{}/api/v1/incidents", self.base))
            .header("authorization", &self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status();
        if status != reqwest::StatusCode::CREATED {
            return Err(format!("POST /incidents: {status}"));
        }
        let v: serde_json::Value = res.json().await.map_err(|e| e.to_string())?;
        v["id"].as_i64().ok_or_else(|| "POST /incidents: no id in the answer".to_string())
    }

    async fn get(&self, path_and_query: &str) -> Result<(), String> {
        let res = self
            .client
            .get(format!("{}{path_and_query}", self.base))
            .header("authorization", &self.token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status();
        // Read the whole body: the server's work includes sending it.
        let body = res.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!(
                "GET {path_and_query}: {status} {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ));
        }
        Ok(())
    }

    async fn one(&self, scenario: Scenario, rng: &mut StdRng, ids: &[i64]) -> Result<(), String> {
        match scenario {
            Scenario::Create => self.create(rng).await.map(|_| ()),
            Scenario::Read => {
                let id = ids[rng.gen_range(0..ids.len())];
                self.get(&format!("/api/v1/incidents/{id}")).await
            }
            Scenario::Queue => self.get("/api/v1/incidents?assignee_id=me&open=true&sort=priority&limit=50").await,
            Scenario::Search => {
                let w = SEARCH_WORDS[rng.gen_range(0..SEARCH_WORDS.len())];
                self.get(&format!("/api/v1/incidents?q={w}&limit=50")).await
            }
        }
    }
}

async fn make_read_set(api: &Api, n: usize) -> anyhow_lite::Result<Vec<i64>> {
    let n = n.clamp(1, 100_000);
    let mut rng = StdRng::seed_from_u64(7);
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(api.create(&mut rng).await?);
    }
    Ok(ids)
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub clients: usize,
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sample_errors: Vec<String>,
}

impl Report {
    fn header() -> String {
        format!(
            "{:<8} {:>7} {:>9} {:>7} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9}",
            "scenario", "clients", "requests", "errors", "seconds", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"
        )
    }
    fn row(&self) -> String {
        format!(
            "{:<8} {:>7} {:>9} {:>7} {:>8.2} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            self.scenario,
            self.clients,
            self.requests,
            self.errors,
            self.seconds,
            self.per_second,
            self.p50_ms,
            self.p95_ms,
            self.p99_ms,
            self.max_ms
        )
    }
}

/// Runs `clients` loops, each sending one request after another, until the
/// time is up or `max_requests` have been sent; latency is recorded per
/// request in microseconds.
async fn drive(
    api: &Api,
    scenario: Scenario,
    clients: usize,
    duration: Duration,
    max_requests: u64,
    ids: &Arc<Vec<i64>>,
    rng_seed: u64,
) -> Report {
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let (api, ids, sent) = (api.clone(), ids.clone(), sent.clone());
        let mut rng = StdRng::seed_from_u64(rng_seed ^ ((c as u64 + 1) << 32) ^ started.elapsed().as_nanos() as u64);
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
            let (mut errors, mut samples) = (0u64, Vec::new());
            while Instant::now() < deadline && sent.fetch_add(1, Ordering::Relaxed) < max_requests {
                let t = Instant::now();
                let r = api.one(scenario, &mut rng, &ids).await;
                let _ = h.record((t.elapsed().as_micros() as u64).max(1));
                if let Err(e) = r {
                    errors += 1;
                    if samples.len() < 3 {
                        samples.push(e);
                    }
                }
            }
            (h, errors, samples)
        }));
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
    let (mut errors, mut sample_errors) = (0, Vec::new());
    for t in tasks {
        match t.await {
            Ok((h, e, s)) => {
                let _ = all.add(h);
                errors += e;
                sample_errors.extend(s.into_iter().take(3usize.saturating_sub(sample_errors.len())));
            }
            Err(e) => {
                errors += 1;
                sample_errors.push(format!("client task failed: {e}"));
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let ms = |q: f64| all.value_at_quantile(q) as f64 / 1000.0;
    Report {
        scenario: scenario.as_str(),
        clients,
        requests: all.len(),
        errors,
        seconds,
        per_second: all.len() as f64 / seconds,
        p50_ms: ms(0.50),
        p95_ms: ms(0.95),
        p99_ms: ms(0.99),
        max_ms: all.max() as f64 / 1000.0,
        sample_errors,
    }
}

// --- seeding ---

const SEED_AGENTS: usize = 20;
const SEED_REQUESTERS: usize = 500;
const SEED_GROUPS: &[&str] = &["Bench Service Desk", "Bench Network", "Bench Workplace", "Bench Applications"];

/// The people and groups seeded incidents refer to; made once, found again
/// on later runs so seeding can be repeated to grow a data set.
struct SeedDirectory {
    agents: Vec<i64>,
    requesters: Vec<i64>,
    /// Each group with its members (indexes into `agents`).
    groups: Vec<(i64, Vec<i64>)>,
}

async fn user_once(store: &Store, email: String, name: String, role: Role) -> anyhow_lite::Result<i64> {
    if let Ok(u) = store.user_by_email(&email).await {
        return Ok(u.id);
    }
    let new = NewUser { email, name, role, organisation_id: None, password_hash: None };
    Ok(store.create_user(new, None).await?.id)
}

async fn seed_directory(store: &Store) -> anyhow_lite::Result<SeedDirectory> {
    let mut agents = Vec::new();
    for k in 1..=SEED_AGENTS {
        agents.push(
            user_once(store, format!("agent{k:02}@bench.varde.local"), format!("Bench Agent {k:02}"), Role::Agent)
                .await?,
        );
    }
    let mut requesters = Vec::new();
    for k in 1..=SEED_REQUESTERS {
        requesters.push(
            user_once(store, format!("user{k:03}@bench.varde.local"), format!("Bench User {k:03}"), Role::Requester)
                .await?,
        );
    }
    let existing = store.groups().await?;
    let mut groups = Vec::new();
    for (g, name) in SEED_GROUPS.iter().enumerate() {
        let id = match existing.iter().find(|x| x.name == *name) {
            Some(x) => x.id,
            None => store.create_group(name.to_string(), "Made by varde bench --seed".into()).await?.id,
        };
        // Every agent is in one group, and agent01 in all: the queue the
        // benchmark reads is agent01's.
        let members: Vec<i64> = agents
            .iter()
            .enumerate()
            .filter(|(a, _)| a % SEED_GROUPS.len() == g || *a == 0)
            .map(|(_, id)| *id)
            .collect();
        for m in &members {
            store.add_member(id, *m).await?;
        }
        groups.push((id, members));
    }
    Ok(SeedDirectory { agents, requesters, groups })
}

/// One generated incident as it would look some time after it was raised:
/// most closed, a few cancelled, about 2% still open.
fn seed_incident(rng: &mut StdRng, dir: &SeedDirectory, now: i64) -> ImportedIncident {
    const DAY: i64 = 86_400_000_000;
    let (short, description) = crate::demo::incident_text(rng);
    let requester = dir.requesters[rng.gen_range(0..dir.requesters.len())];
    let age = rng.gen_range(0..3 * 365 * DAY);
    let created_at = now - age;
    let roll = rng.gen_range(0..1000);
    let state = match roll {
        0..=9 => State::New,
        10..=19 => State::InProgress,
        20..=39 => State::Cancelled,
        _ => State::Closed,
    };
    let (group, members) = &dir.groups[rng.gen_range(0..dir.groups.len())];
    let (group, assignee) = match state {
        State::New if rng.gen_bool(0.5) => (None, None),
        State::New => (Some(*group), None),
        _ => (Some(*group), Some(members[rng.gen_range(0..members.len())])),
    };
    let updated_at = (created_at + rng.gen_range(DAY / 24..10 * DAY)).min(now);
    let resolution = (state == State::Closed).then(|| {
        let code = ResolutionCode::ALL[rng.gen_range(0..ResolutionCode::ALL.len())];
        (code, "Resolved; the caller confirmed it works again.".to_string())
    });
    let level = |rng: &mut StdRng| Level::new("", [1, 2, 2, 3, 3, 3][rng.gen_range(0..6)]).expect("1 to 3");
    ImportedIncident {
        new: NewIncident {
            short_description: short,
            description,
            requester_id: requester,
            created_by: requester,
            assignment_group_id: group,
            assignee_id: assignee,
            impact: level(rng),
            urgency: level(rng),
            category_id: None,
            service_id: None,
            channel: Channel::ALL[rng.gen_range(0..Channel::ALL.len())],
            major: rng.gen_ratio(1, 2000),
        },
        created_at,
        updated_at,
        state,
        resolution,
    }
}

/// Loads `n` incidents in transactions of [`MAX_IMPORT_BATCH`], generating
/// the next batch while the previous one commits.
pub async fn seed(store: &Store, n: u64, rng_seed: u64) -> anyhow_lite::Result<()> {
    let started = Instant::now();
    let dir = Arc::new(seed_directory(store).await?);
    let now = varde_store::now_micros();
    let mut rng = StdRng::seed_from_u64(rng_seed);
    let mut done = 0u64;
    let mut pending: Option<tokio::task::JoinHandle<Result<Vec<i64>, varde_store::StoreError>>> = None;
    let mut last_report = Instant::now();
    while done < n {
        let k = (n - done).min(MAX_IMPORT_BATCH as u64) as usize;
        let batch: Vec<ImportedIncident> = (0..k).map(|_| seed_incident(&mut rng, &dir, now)).collect();
        if let Some(p) = pending.take() {
            p.await??;
        }
        let s = store.clone();
        pending = Some(tokio::spawn(async move { s.import_incidents(batch).await }));
        done += k as u64;
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!("seeded {done} of {n} ({:.0}/s)", done as f64 / started.elapsed().as_secs_f64());
            last_report = Instant::now();
        }
    }
    if let Some(p) = pending.take() {
        p.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("seeded {n} incidents in {secs:.1} s ({:.0}/s)", n as f64 / secs.max(1e-9));
    let agent = dir.agents[0];
    let (_, token) =
        crate::service::directory::create_token(store, agent, "bench").await.map_err(|e| e.problem().detail)?;
    println!("agent01@bench.varde.local token (for --token): {token}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_are_driven() {
        assert_eq!(check_url("http://127.0.0.1:8080/").unwrap(), "http://127.0.0.1:8080");
        assert!(check_url("http://localhost:9000").is_ok());
        assert!(check_url("http://[::1]:9000").is_ok());
        assert!(check_url("http://10.0.0.1:8080").is_err());
        assert!(check_url("http://example.org").is_err());
        assert!(check_url("https://127.0.0.1:8080").is_err());
        assert!(check_url("http://127.0.0.1.example.org:80").is_err());
    }

    #[tokio::test]
    async fn seeding_writes_incidents_audit_and_search_on_every_engine() {
        for db in varde_store::testing::databases().await {
            seed(&db.store, 1200, 1).await.unwrap();
            let all = db
                .store
                .list_incidents(varde_store::incidents::Scope::All, &Default::default(), Default::default(), None, 2000)
                .await
                .unwrap();
            assert_eq!(all.len(), 1200, "{}", db.engine);
            let mut numbers: Vec<_> = all.iter().map(|i| i.number.clone()).collect();
            numbers.sort();
            numbers.dedup();
            assert_eq!(numbers.len(), 1200, "{}: numbers are unique", db.engine);
            let closed = all.iter().find(|i| i.lifecycle.state == State::Closed).expect("some closed");
            assert!(closed.closed_at.is_some() && closed.lifecycle.resolution_code.is_some(), "{}", db.engine);
            let audit = db.store.audit_of(varde_store::audit::Entity::Record, closed.id).await.unwrap();
            let fields: Vec<_> = audit.iter().map(|a| a.field.as_str()).collect();
            assert_eq!(fields, ["created", "state", "resolution_code"], "{}", db.engine);
            // The search index holds the imported text.
            let word = closed.short_description.split_whitespace().find(|w| w.len() > 4).unwrap().to_string();
            let filter = varde_store::incidents::Filter { text: Some(word.clone()), ..Default::default() };
            let found = db
                .store
                .list_incidents(varde_store::incidents::Scope::All, &filter, Default::default(), None, 2000)
                .await
                .unwrap();
            assert!(found.iter().any(|i| i.id == closed.id), "{}: search for {word:?}", db.engine);
            // An incident created the ordinary way afterwards gets the next number.
            let inc = db
                .store
                .create_incident(
                    NewIncident {
                        ..seed_incident(&mut StdRng::seed_from_u64(3), &seed_directory(&db.store).await.unwrap(), 0).new
                    },
                    None,
                )
                .await
                .unwrap()
                .0;
            assert!(!numbers.contains(&inc.number), "{}: {} is new", db.engine, inc.number);
        }
    }
}
