//! The job runner: claims due jobs from the durable job table and runs
//! them, with retries and backoff. Every node runs one; the store's leases
//! keep two nodes from running the same job.

use std::time::Duration;

use tokio::sync::watch;
use varde_store::jobs::Job;
use varde_store::{now_micros, Store};

use crate::error::AppError;

/// How long a claimed job is ours before another node may retry it.
const LEASE_MICROS: i64 = 5 * 60 * 1_000_000;
const POLL: Duration = Duration::from_secs(1);
const MAX_ATTEMPTS: i64 = 10;
const BATCH: i64 = 20;

pub async fn run(store: Store, mut stop: watch::Receiver<bool>) {
    let node = format!("{}-{}", std::process::id(), crate::auth::random_token().get(..8).unwrap_or("node"));
    let mut last_sweep = 0i64;
    loop {
        if *stop.borrow() {
            return;
        }
        let mut full = false;
        match store.claim_jobs(node.clone(), LEASE_MICROS, BATCH).await {
            Ok(jobs) => {
                // A full batch means more are due now: claim again at once
                // rather than after the poll interval, so that many timers due
                // in the same minute are not fired a batch per second.
                full = jobs.len() as i64 == BATCH;
                for job in jobs {
                    run_one(&store, &node, job).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot claim jobs"),
        }
        if full {
            continue;
        }
        let now = now_micros();
        if now - last_sweep > 3_600_000_000 {
            last_sweep = now;
            if let Err(e) = store.forget_idempotency_before(now - 24 * 3_600_000_000).await {
                tracing::warn!(error = %e, "cannot sweep idempotency keys");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {},
            _ = stop.changed() => {},
        }
    }
}

async fn run_one(store: &Store, node: &str, job: Job) {
    let result = match job.kind.as_str() {
        "close_incident" => match job.payload.parse::<i64>() {
            Ok(id) => crate::service::incidents::auto_close(store, id).await.or_else(|e| match e {
                AppError::NotFound => Ok(()),
                other => Err(other),
            }),
            Err(_) => Err(AppError::Internal(format!("bad payload {:?}", job.payload))),
        },
        varde_store::sla::timers::TIMER_JOB => {
            store.fire_sla_timer(job.payload.clone()).await.map(|_| ()).map_err(AppError::from)
        }
        varde_store::sla::timers::RECOMPUTE_JOB => {
            store.recompute_clocks(job.payload.clone()).await.map(|_| ()).map_err(AppError::from)
        }
        "detect_recurring" => crate::service::problems::detection_job(store).await,
        other => Err(AppError::Internal(format!("unknown job kind {other}"))),
    };
    let done = match result {
        Ok(()) => store.complete_claimed_job(job.id, node.to_string()).await,
        Err(e) if job.attempts >= MAX_ATTEMPTS => {
            tracing::error!(job = job.id, kind = %job.kind, error = %e, "job failed for good");
            store.complete_claimed_job(job.id, node.to_string()).await
        }
        Err(e) => {
            // Exponential backoff: 2, 4, 8, ... seconds, at most an hour.
            let delay = (1i64 << job.attempts.min(11)).min(3600) * 1_000_000;
            tracing::warn!(job = job.id, kind = %job.kind, error = %e, attempt = job.attempts, "job failed; will retry");
            store.fail_claimed_job(job.id, node.to_string(), e.to_string(), now_micros() + delay).await
        }
    };
    if let Err(e) = done {
        tracing::warn!(job = job.id, error = %e, "cannot record the job's outcome; its lease will expire and it will run again");
    }
}
