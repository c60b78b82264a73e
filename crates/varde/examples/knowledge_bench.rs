//! Measures the knowledge features straight through the store (no HTTP):
//! unified search, portal suggestions and the recurring-incident detection,
//! with the existing incident text search as the baseline measured in the
//! same run. Figures go into BENCHMARKS.md.
//!
//! cargo run --release -p varde --example knowledge_bench -- INCIDENTS ARTICLES
//! (SQLite in a temporary directory, or `VARDE_BENCH_DATABASE_URL=postgres://...`
//! naming an empty database.)
//!
//! `VARDE_BENCH_REUSE=1` measures a database this bench loaded
//! before (by an older build, say, so that one load serves a before/after
//! comparison: opening it migrates it first). `VARDE_BENCH_SKIP_RECURRING=1`
//! leaves out the recurring-incident job, which over a million incidents
//! takes minutes.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use varde_domain::access::Role;
use varde_domain::incident::{Channel, State};
use varde_domain::knowledge::{ArticleState, Audience};
use varde_domain::priority::Level;
use varde_store::directory::NewUser;
use varde_store::import::{ImportedIncident, MAX_IMPORT_BATCH};
use varde_store::incidents::{Filter, NewIncident, Scope, Sort};
use varde_store::knowledge::{NewArticle, SearchKinds, Viewer};
use varde_store::{Store, StoreOptions};

const DAY: i64 = 86_400_000_000;
/// Words that make otherwise alike texts differ, as real tickets do.
const PLACES: &[&str] = &[
    "Aarhus",
    "Malmö",
    "Utrecht",
    "Leeds",
    "floor",
    "reception",
    "warehouse",
    "lab",
    "finance",
    "payroll",
    "sales",
    "laptop",
    "desktop",
    "kiosk",
    "meeting",
    "room",
    "home",
    "office",
    "morning",
    "afternoon",
];
const QUERIES: &[&str] = &[
    "printer",
    "printing stuck",
    "vpn",
    "vpn disconnects",
    "outlook password",
    "password reset",
    "laptop battery",
    "teams",
    "wifi",
    "monitor",
    "payroll",
    "excel crashes",
    "skrivaren",
    "wachtwoord",
    "printerne",
    "mail",
];
const TYPED: &[&str] =
    &["pri", "print", "printer stu", "vp", "vpn dro", "outl", "outlook pass", "wif", "wifi slow", "pass"];

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, v: Vec<f64>) -> f64 {
    let (p50, p95) = (pct(v.clone(), 0.5), pct(v.clone(), 0.95));
    println!("{name:<44} n={:<5} p50 {p50:>8.2} ms  p95 {p95:>8.2} ms", v.len());
    p95
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let m: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5_000);
    let dir = tempfile::tempdir().unwrap();
    let opts = match std::env::var("VARDE_BENCH_DATABASE_URL") {
        Ok(url) => StoreOptions { url, max_connections: 8 },
        Err(_) => StoreOptions::sqlite_file(&dir.path().join("bench.db")),
    };
    // Opening a database an older build loaded migrates it: timed, as that
    // is what an upgrade costs at this size.
    let t = Instant::now();
    let store = Store::open(&opts).await.unwrap();
    let opened = t.elapsed().as_secs_f64();
    println!("engine {:?}, {n} incidents over the last 30 days, {m} articles", store.engine());
    let user = |email: &str, role| NewUser {
        email: email.into(),
        name: email.into(),
        role,
        organisation_id: None,
        password_hash: None,
    };
    let reuse = std::env::var("VARDE_BENCH_REUSE").is_ok_and(|v| v == "1");
    if reuse {
        let agent = store.user_by_email("agent@bench.local").await.expect("a database this bench loaded").id;
        let requester = store.user_by_email("u0@bench.local").await.unwrap().id;
        println!("reusing the loaded database, opened (and migrated) in {opened:.1} s");
        measure(&store, agent, requester, varde_store::now_micros()).await;
        return;
    }
    let agent = store.create_user(user("agent@bench.local", Role::ProblemManager), None).await.unwrap().id;
    let reviewer = store.create_user(user("rev@bench.local", Role::ProblemManager), None).await.unwrap().id;
    let mut requesters = Vec::new();
    for k in 0..50 {
        requesters.push(store.create_user(user(&format!("u{k}@bench.local"), Role::Requester), None).await.unwrap().id);
    }
    let mut services = Vec::new();
    for k in 0..8 {
        services.push(store.create_service(format!("Service {k}"), String::new()).await.unwrap().id);
    }
    let mut categories = Vec::new();
    for k in 0..10 {
        categories.push(store.create_category(0, format!("Category {k}")).await.unwrap().id);
    }

    // Incidents, all within the last 30 days (the detection's window).
    let started = Instant::now();
    let now = varde_store::now_micros();
    let mut rng = StdRng::seed_from_u64(7);
    let mut done = 0;
    while done < n {
        let k = (n - done).min(MAX_IMPORT_BATCH);
        let batch: Vec<ImportedIncident> = (0..k)
            .map(|_| {
                let (short, desc) = varde::demo::incident_text(&mut rng);
                let place = PLACES[rng.gen_range(0..PLACES.len())];
                let r = requesters[rng.gen_range(0..requesters.len())];
                ImportedIncident {
                    new: NewIncident {
                        short_description: format!("{short} ({place})"),
                        description: desc,
                        requester_id: r,
                        created_by: r,
                        assignment_group_id: None,
                        assignee_id: None,
                        impact: Level::MEDIUM,
                        urgency: Level::MEDIUM,
                        category_id: Some(categories[rng.gen_range(0..categories.len())]),
                        service_id: Some(services[rng.gen_range(0..services.len())]),
                        channel: Channel::Portal,
                        major: false,
                    },
                    created_at: now - rng.gen_range(0..30 * DAY),
                    updated_at: now,
                    state: State::New,
                    resolution: None,
                }
            })
            .collect();
        store.import_incidents(batch).await.unwrap();
        done += k;
    }
    println!("loaded {n} incidents in {:.1} s", started.elapsed().as_secs_f64());

    // Articles: a third public, the rest internal; all published.
    let started = Instant::now();
    for k in 0..m {
        let (short, desc) = varde::demo::incident_text(&mut rng);
        let a = store
            .create_article(NewArticle {
                title: format!("How to fix: {short} #{k}"),
                body: format!("{desc}\n\n1. Check the {}.\n2. Restart and try again.", PLACES[k % PLACES.len()]),
                author: agent,
                category_id: None,
                service_id: None,
                audience: if k % 3 == 0 { Audience::Public } else { Audience::Internal },
                groups: vec![],
                review_required: false,
                review_at: None,
                expires_at: None,
                source_incident_id: None,
            })
            .await
            .unwrap();
        store.transition_article(a.id, None, ArticleState::Published, reviewer, true).await.unwrap();
    }
    println!("loaded {m} articles in {:.1} s", started.elapsed().as_secs_f64());
    // A live database has statistics; one just filled has them from before
    // the articles came, and PostgreSQL then plans knowledge searches for a
    // handful of articles (BENCHMARKS.md). Measure the steady state.
    if store.engine() == varde_store::Engine::Postgres {
        sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
    }
    measure(&store, agent, requesters[0], now).await;
}

/// Searches, suggestions and (unless skipped) the recurring job, as the
/// desk (`agent`) and as one requester.
async fn measure(store: &Store, agent: i64, requester: i64, now: i64) {
    let desk = Viewer { user_id: agent, agent: true, admin: false };
    let requester = Viewer { user_id: requester, agent: false, admin: false };
    // Warm up the caches once.
    for q in QUERIES {
        store.search_all(&desk, q, SearchKinds::ALL, &Default::default(), 20).await.unwrap();
    }
    let reps = 10;
    let mut base = Vec::new();
    let mut unified = Vec::new();
    let mut unified_req = Vec::new();
    let mut req_inc = Vec::new();
    let mut req_kb = Vec::new();
    for _ in 0..reps {
        for q in QUERIES {
            let f = Filter { text: Some(q.to_string()), ..Filter::default() };
            let t = Instant::now();
            store.list_incidents(Scope::All, &f, Sort::Newest, None, 50).await.unwrap();
            base.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            store.search_all(&desk, q, SearchKinds::ALL, &Default::default(), 20).await.unwrap();
            unified.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            store.search_all(&requester, q, SearchKinds::ALL, &Default::default(), 20).await.unwrap();
            unified_req.push(t.elapsed().as_secs_f64() * 1e3);
            let only = |incidents, articles| SearchKinds { incidents, problems: false, known_errors: false, articles };
            let t = Instant::now();
            store.search_all(&requester, q, only(true, false), &Default::default(), 20).await.unwrap();
            req_inc.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            store.search_all(&requester, q, only(false, true), &Default::default(), 20).await.unwrap();
            req_kb.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let b = report("baseline: incident q= search (agent, 50 rows)", base);
    let u = report("unified search, agent (20 best of 4 kinds)", unified);
    report("unified search, requester", unified_req);
    report("  of which: requester's own incidents", req_inc);
    report("  of which: public articles", req_kb);
    println!("ratio unified/baseline p95: {:.2}", u / b);
    let mut sugg = Vec::new();
    for _ in 0..reps * 2 {
        for q in TYPED {
            let t = Instant::now();
            store.suggestions(&requester, q, None, None, true, 5).await.unwrap();
            sugg.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    report("portal suggestions while typing (requester)", sugg);

    if std::env::var("VARDE_BENCH_SKIP_RECURRING").is_ok_and(|v| v == "1") {
        return;
    }
    // The recurring-incident detection over the last 30 days.
    let t = Instant::now();
    let items = store.similarity_items(now - 30 * DAY).await.unwrap();
    let read = t.elapsed().as_secs_f64();
    let count = items.len();
    let t2 = Instant::now();
    let clusters = varde_domain::recurring::clusters(&items, &Default::default());
    let cluster = t2.elapsed().as_secs_f64();
    let t3 = Instant::now();
    let saved = store.save_candidates(clusters).await.unwrap();
    let save = t3.elapsed().as_secs_f64();
    println!(
        "recurring detection over {count} incidents: read {read:.2} s, group {cluster:.2} s, store {saved} candidates {save:.2} s, total {:.2} s",
        t.elapsed().as_secs_f64()
    );
}
