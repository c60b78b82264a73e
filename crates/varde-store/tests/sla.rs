//! Store conformance for service levels: every story on SQLite and, when
//! configured, PostgreSQL.

use varde_domain::incident::Patch;
use varde_domain::sla::agreement::AgreementSpec;
use varde_store::testing::{agent, databases, incident, resolve};
use varde_store::{Store, StoreError};

fn spec(v: serde_json::Value) -> AgreementSpec {
    serde_json::from_value(v).unwrap()
}

/// `who` takes the incident on, in a desk group of theirs: the response
/// clocks stop.
async fn answer(s: &Store, id: i64, who: i64) {
    let desk = s.create_group("Service desk".into(), String::new()).await.unwrap();
    s.add_member(desk.id, who).await.unwrap();
    let assign = Patch { assignment_group_id: Some(Some(desk.id)), assignee_id: Some(Some(who)), ..Patch::default() };
    s.update_incident(id, None, assign, who).await.unwrap();
}

async fn timer(store: &Store) -> Option<(String, i64)> {
    sqlx::query_as("SELECT payload, run_at FROM jobs WHERE kind = 'sla_timer'")
        .fetch_optional(store.pool())
        .await
        .unwrap()
}

/// The timer (payload, run at) of one clock, when several clocks have one.
async fn timer_of(store: &Store, clock_id: i64) -> (String, i64) {
    sqlx::query_as("SELECT payload, run_at FROM jobs WHERE dedupe_key = $1")
        .bind(format!("sla_timer:{clock_id}"))
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn clocks_and_their_timer_are_written_with_the_incident() {
    for db in databases().await {
        let s = &db.store;
        let who = agent(s).await;
        s.create_agreement(
            spec(
                serde_json::json!({ "name": "Std", "kind": "sla", "targets": [{ "name": "resolution", "minutes": 100 }],
                "thresholds": [{ "percent": 50 }, { "percent": 100 }] }),
            ),
            who,
        )
        .await
        .unwrap();
        let (i, _) = s.create_incident(incident(who), None).await.unwrap();
        let clocks = s.clocks(i.id).await.unwrap();
        assert_eq!(clocks.len(), 1, "{}", db.engine);
        let c = &clocks[0];
        assert_eq!((c.state.as_str(), c.due_at), ("running", Some(i.created_at + 100 * 60_000_000)), "{}", db.engine);
        // The timer is for the 50 % threshold, set in the same write.
        let (payload, at) = timer(s).await.expect("a timer");
        assert_eq!(payload, format!("{}:1", c.id), "{}", db.engine);
        assert_eq!(at, i.created_at + 50 * 60_000_000, "{}", db.engine);
        assert_eq!(s.sla_dues(&[i.id]).await.unwrap()[&i.id], c.due_at);
        // On hold: no timer, no due instant; the queue's key is cleared.
        let hold =
            Patch { state: Some("on_hold".into()), hold_reason: Some("awaiting_caller".into()), ..Patch::default() };
        s.update_incident(i.id, None, hold, who).await.unwrap();
        assert!(timer(s).await.is_none(), "{}: a paused clock has no timer", db.engine);
        assert_eq!(s.sla_dues(&[i.id]).await.unwrap()[&i.id], None);
        let back = Patch { state: Some("in_progress".into()), ..Patch::default() };
        s.update_incident(i.id, None, back, who).await.unwrap();
        let c = &s.clocks(i.id).await.unwrap()[0];
        let (payload, _) = timer(s).await.expect("a timer again");
        assert_eq!(payload, format!("{}:{}", c.id, c.version), "{}", db.engine);
        let events: Vec<String> = s.clock_events(i.id).await.unwrap().into_iter().map(|e| e.event).collect();
        assert_eq!(events, ["attach", "start", "pause", "resume"], "{}", db.engine);
    }
}

#[tokio::test]
async fn imported_open_incidents_get_clocks_from_when_they_were_made() {
    use varde_domain::incident::{ResolutionCode, State};
    use varde_store::import::ImportedIncident;
    for db in databases().await {
        let s = &db.store;
        let who = agent(s).await;
        s.create_agreement(
            spec(serde_json::json!({ "name": "Std", "kind": "sla", "targets": [{ "name": "resolution", "minutes": 100 }] })),
            who,
        )
        .await
        .unwrap();
        let made = varde_store::now_micros() - 30 * 60_000_000;
        let imported = |state: State| ImportedIncident {
            new: incident(who),
            created_at: made,
            updated_at: made,
            state,
            resolution: (state == State::Closed).then(|| (ResolutionCode::Fixed, "Done".to_string())),
        };
        let ids = s.import_incidents(vec![imported(State::New), imported(State::Closed)]).await.unwrap();
        let open = s.clocks(ids[0]).await.unwrap();
        assert_eq!(open.len(), 1, "{}", db.engine);
        assert_eq!(open[0].started_at, made, "{}: the clock starts when the incident was made", db.engine);
        assert_eq!(open[0].due_at, Some(made + 100 * 60_000_000), "{}", db.engine);
        assert!(s.clocks(ids[1]).await.unwrap().is_empty(), "{}: a closed import has no clock", db.engine);
    }
}

#[tokio::test]
async fn a_timer_fires_once_and_a_stale_one_not_at_all() {
    for db in databases().await {
        let s = &db.store;
        let who = agent(s).await;
        // 1 % of a minute: due 0.6 s after creation.
        s.create_agreement(
            spec(
                serde_json::json!({ "name": "Fast", "kind": "sla", "targets": [{ "name": "resolution", "minutes": 1 }],
                "thresholds": [{ "percent": 1, "actions": [{ "type": "escalate" }] }, { "percent": 90 }] }),
            ),
            who,
        )
        .await
        .unwrap();
        let (i, _) = s.create_incident(incident(who), None).await.unwrap();
        let (payload, at) = timer(s).await.unwrap();
        // Too early: nothing fires (the version moves and the timer is set again).
        let early = s.fire_sla_timer(payload.clone()).await.unwrap();
        assert!(early.percents.is_empty() || varde_store::now_micros() >= at, "{}", db.engine);
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        let (payload, _) = timer(s).await.unwrap();
        let fired = s.fire_sla_timer(payload.clone()).await.unwrap();
        assert_eq!(fired.percents, vec![1], "{}", db.engine);
        // The same job run again (a node died after committing): nothing.
        assert!(s.fire_sla_timer(payload).await.unwrap().percents.is_empty(), "{}", db.engine);
        assert_eq!(s.sla_flags(i.id).await.unwrap(), (None, true), "{}: escalated", db.engine);
        let thresholds = s.clock_events(i.id).await.unwrap().into_iter().filter(|e| e.event == "threshold").count();
        assert_eq!(thresholds, 1, "{}", db.engine);
        // The next timer waits for 90 %.
        let (_, at) = timer(s).await.unwrap();
        assert_eq!(at, i.created_at + 54_000_000, "{}", db.engine);
    }
}

#[tokio::test]
async fn agreements_refer_only_to_what_exists_and_keep_their_kind() {
    for db in databases().await {
        let s = &db.store;
        let who = agent(s).await;
        let bad = s
            .create_agreement(
                spec(serde_json::json!({ "name": "O", "kind": "ola", "group_id": 77, "targets": [{ "name": "resolution", "minutes": 5 }] })),
                who,
            )
            .await;
        assert!(matches!(bad, Err(StoreError::UnknownReference { field: "group_id" })), "{}: {bad:?}", db.engine);
        let a = s
            .create_agreement(spec(serde_json::json!({ "name": "S", "kind": "sla", "targets": [{ "name": "resolution", "minutes": 5 }] })), who)
            .await
            .unwrap();
        let mut changed = a.spec.clone();
        changed.targets[0].minutes = 10;
        assert!(matches!(
            s.update_agreement(a.id, Some(9), changed.clone(), who).await,
            Err(StoreError::Conflict { .. })
        ));
        let b = s.update_agreement(a.id, Some(1), changed, who).await.unwrap();
        assert_eq!((b.version, b.spec.targets[0].minutes), (2, 10), "{}", db.engine);
        // A changed agreement queues a recompute of its open clocks.
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'sla_recompute'")
            .fetch_one(s.pool())
            .await
            .unwrap();
        assert_eq!(n, 1, "{}", db.engine);
        let sup = s.create_supplier(varde_store::sla::SupplierInput { name: "Telco".into() }).await.unwrap();
        assert!(matches!(
            s.create_supplier(varde_store::sla::SupplierInput { name: "Telco".into() }).await,
            Err(StoreError::Duplicate { field: "name" })
        ));
        assert_eq!(s.suppliers().await.unwrap(), vec![sup]);
    }
}

#[tokio::test]
async fn notifications_belong_to_their_person() {
    for db in databases().await {
        let s = &db.store;
        let who = agent(s).await;
        assert_eq!(s.unread_notifications(who).await.unwrap(), 0);
        assert_eq!(s.mark_notifications_read(who, Some(1)).await.unwrap(), 0, "{}", db.engine);
        assert!(s.notifications(who, true, None, 10).await.unwrap().is_empty());
    }
}

/// The OLA/UC chain of a breached SLA counts a group's clock that still
/// runs with the time it has had so far, derived from its spans: the
/// elapsed time stored with it is only as of its last event.
#[tokio::test]
async fn chain_counts_a_running_ola_clock_with_its_time_so_far() {
    for db in databases().await {
        let s = &db.store;
        let who = agent(s).await;
        let desk = s.create_group("Service desk".into(), String::new()).await.unwrap();
        let gold =
            serde_json::json!({ "name": "Gold", "kind": "sla", "targets": [{ "name": "resolution", "minutes": 60 }] });
        s.create_agreement(spec(gold), who).await.unwrap();
        let ola = serde_json::json!({ "name": "Desk", "kind": "ola", "group_id": desk.id,
            "targets": [{ "name": "resolution", "minutes": 600 }] });
        s.create_agreement(spec(ola), who).await.unwrap();
        let (i, _) = s
            .create_incident(
                varde_store::incidents::NewIncident { assignment_group_id: Some(desk.id), ..incident(who) },
                None,
            )
            .await
            .unwrap();
        // Two hours ago the record came in (both clocks 24x7); the SLA's
        // clock has since stopped, breached, and the desk's still runs,
        // its stored elapsed time as at its start.
        let now = varde_store::now_micros();
        let start = now - 2 * 3_600_000_000;
        varde_store::testing::clocks_ran(s, i.id, "ola", start, None).await;
        varde_store::testing::clocks_ran(s, i.id, "sla", start, Some(now)).await;
        let report = s
            .sla_report("sla", now - 3_600_000_000, now + 1, varde_store::sla::reports::GroupBy::Agreement)
            .await
            .unwrap();
        assert_eq!(report.breaches.len(), 1, "{}", db.engine);
        assert_eq!(report.chain.len(), 1, "{}: {:?}", db.engine, report.chain);
        let desk_row = &report.chain[0];
        assert_eq!((desk_row.kind.as_str(), desk_row.party_id, desk_row.records), ("ola", desk.id, 1), "{}", db.engine);
        assert!(
            desk_row.elapsed_us >= now - start && desk_row.elapsed_us < now - start + 60_000_000,
            "{}: the desk's two hours so far, not its stored 0: {}",
            db.engine,
            desk_row.elapsed_us
        );
    }
}

/// A response given under one priority keeps that priority's target when
/// the priority changes afterwards, so the what-if replay must pair a
/// target change with the priority the clock was measured under, not the
/// record's priority now.
#[tokio::test]
async fn what_if_pairs_a_target_change_with_the_priority_a_clock_was_measured_under() {
    use varde_store::sla::reports::{TargetChange, WhatIf};
    for db in databases().await {
        let s = &db.store;
        let who = agent(s).await;
        let targets: Vec<_> =
            (1..=5).map(|p| serde_json::json!({ "name": "response", "priority": p, "minutes": 30 })).collect();
        let tiers = s
            .create_agreement(spec(serde_json::json!({ "name": "Tiers", "kind": "sla", "targets": targets })), who)
            .await
            .unwrap();
        let (i, _) = s.create_incident(incident(who), None).await.unwrap();
        let measured = i64::from(i.priority);
        // Answered (assigned) at this priority: the response clock stops, met.
        answer(s, i.id, who).await;
        let raise = Patch { impact: Some(1), urgency: Some(1), ..Patch::default() };
        let now = i64::from(s.update_incident(i.id, None, raise, who).await.unwrap().priority);
        assert_ne!(now, measured, "{}: the priority moved", db.engine);
        let what_if = |priority: i64| WhatIf {
            from: i.created_at,
            to: varde_store::now_micros() + 1,
            targets: vec![TargetChange {
                agreement_id: tiers.id,
                name: "response".into(),
                priority: Some(priority),
                minutes: 0,
            }],
            ..WhatIf::default()
        };
        let r = s.sla_what_if(what_if(now)).await.unwrap();
        assert_eq!(r.clocks, 1, "{}", db.engine);
        assert!(r.changed.is_empty(), "{}: the response was not measured at priority {now}: {r:?}", db.engine);
        let r = s.sla_what_if(what_if(measured)).await.unwrap();
        assert_eq!(r.changed.len(), 1, "{}: {r:?}", db.engine);
        assert_eq!((r.changed[0].before.as_str(), r.changed[0].after.as_str()), ("met", "breached"), "{}", db.engine);
    }
}

/// A stopped clock is a result: its state and elapsed time are what was
/// measured when it stopped, on the calendar of then. The clock view and the
/// what-if's "before" read them as stored, as the report does, rather than
/// measure the spans again on the calendar as it is now.
#[tokio::test]
async fn a_stopped_clock_shows_and_replays_the_result_it_stopped_with() {
    use varde_store::sla::reports::{TargetChange, WhatIf};
    for db in databases().await {
        let s = &db.store;
        let who = agent(s).await;
        let sla = s
            .create_agreement(
                spec(serde_json::json!({ "name": "Std", "kind": "sla", "targets": [{ "name": "resolution", "minutes": 60 }] })),
                who,
            )
            .await
            .unwrap();
        let (i, _) = s.create_incident(incident(who), None).await.unwrap();
        resolve(s, i.id, who).await;
        // As measured then (say, on a calendar since edited): breached after
        // two hours, though the spans on today's calendar say otherwise.
        sqlx::query("UPDATE sla_clocks SET state = 'breached', elapsed_us = 7200000000 WHERE record_id = $1")
            .bind(i.id)
            .execute(s.pool())
            .await
            .unwrap();
        let c = &s.clocks(i.id).await.unwrap()[0];
        assert_eq!((c.state.as_str(), c.elapsed_us), ("breached", 7_200_000_000), "{}", db.engine);
        let w = WhatIf {
            from: i.created_at,
            to: varde_store::now_micros() + 1,
            targets: vec![TargetChange {
                agreement_id: sla.id,
                name: "resolution".into(),
                priority: None,
                minutes: 180,
            }],
            ..WhatIf::default()
        };
        let r = s.sla_what_if(w).await.unwrap();
        assert_eq!((r.rows[0].met_before, r.rows[0].met_after), (0, 1), "{}: {r:?}", db.engine);
    }
}

/// A clock past its target has breached. When its agreement stops
/// applying (the priority lowered out of its conditions), the clock ends
/// as that breach; one still within its target is cancelled.
#[tokio::test]
async fn a_breach_is_not_undone_by_leaving_the_agreement() {
    for db in databases().await {
        let s = &db.store;
        let who = agent(s).await;
        let p = i64::from(s.create_incident(incident(who), None).await.unwrap().0.priority);
        let sla = serde_json::json!({ "name": "Tight", "kind": "sla", "conditions": { "priorities": [p] },
            "targets": [{ "name": "resolution", "minutes": 60 }] });
        s.create_agreement(spec(sla), who).await.unwrap();
        let (late, _) = s.create_incident(incident(who), None).await.unwrap();
        let (fresh, _) = s.create_incident(incident(who), None).await.unwrap();
        // Running for two hours, one past its target.
        let now = varde_store::now_micros();
        varde_store::testing::clocks_ran(s, late.id, "sla", now - 2 * 3_600_000_000, None).await;
        let away = Patch { impact: Some(if p == 5 { 1 } else { 3 }), urgency: Some(3), ..Patch::default() };
        for id in [late.id, fresh.id] {
            let moved = s.update_incident(id, None, away.clone(), who).await.unwrap();
            assert_ne!(i64::from(moved.priority), p, "{}: out of the agreement", db.engine);
        }
        let ended = &s.clocks(late.id).await.unwrap()[0];
        assert_eq!((ended.state.as_str(), ended.running), ("breached", false), "{}: {ended:?}", db.engine);
        assert!(ended.stopped_at.is_some(), "{}", db.engine);
        let gone = &s.clocks(fresh.id).await.unwrap()[0];
        assert_eq!(gone.state, "cancelled", "{}: {gone:?}", db.engine);
    }
}

/// The report's average response and resolution come from what each
/// target stops on, whatever it is called.
#[tokio::test]
async fn report_averages_follow_what_a_target_stops_on() {
    for db in databases().await {
        let s = &db.store;
        let who = agent(s).await;
        let gold = serde_json::json!({ "name": "Gold", "kind": "sla", "targets": [
            { "name": "First response", "stop_on": "response", "minutes": 30 },
            { "name": "Resolution", "stop_on": "resolution", "minutes": 240 }] });
        s.create_agreement(spec(gold), who).await.unwrap();
        let (i, _) = s.create_incident(incident(who), None).await.unwrap();
        answer(s, i.id, who).await;
        resolve(s, i.id, who).await;
        let r = s
            .sla_report(
                "sla",
                i.created_at,
                varde_store::now_micros() + 1,
                varde_store::sla::reports::GroupBy::Agreement,
            )
            .await
            .unwrap();
        assert_eq!(r.rows.len(), 1, "{}: {r:?}", db.engine);
        let row = &r.rows[0];
        assert_eq!((row.total, row.met), (2, 2), "{}", db.engine);
        assert!(row.avg_response_us.is_some() && row.avg_resolution_us.is_some(), "{}: {row:?}", db.engine);
    }
}

/// A breach stands whatever happens to the record afterwards: a lower
/// priority with a longer target, or cancelling the record, leaves the
/// clock breached. A clock not yet breached takes a longer target with the
/// warnings it has not reached on it still to come.
#[tokio::test]
async fn a_breach_stands_and_a_longer_target_warns_again() {
    const MIN: i64 = 60_000_000;
    for db in databases().await {
        let s = &db.store;
        let who = agent(s).await;
        let high = i64::from(s.create_incident(incident(who), None).await.unwrap().0.priority);
        let lower = Patch { impact: Some(3), urgency: Some(3), ..Patch::default() };
        let (probe, _) = s.create_incident(incident(who), None).await.unwrap();
        let low = i64::from(s.update_incident(probe.id, None, lower.clone(), who).await.unwrap().priority);
        assert_ne!(high, low, "{}", db.engine);
        let sla = serde_json::json!({ "name": "Tiered", "kind": "sla",
            "targets": [{ "name": "resolution", "minutes": 60, "priority": high },
                        { "name": "resolution", "minutes": 600, "priority": low }],
            "thresholds": [{ "percent": 50 }, { "percent": 100 }] });
        s.create_agreement(spec(sla), who).await.unwrap();
        let now = varde_store::now_micros();

        // Two hours into a one-hour target, then a lower priority.
        let (late, _) = s.create_incident(incident(who), None).await.unwrap();
        varde_store::testing::clocks_ran(s, late.id, "sla", now - 120 * MIN, None).await;
        s.update_incident(late.id, None, lower.clone(), who).await.unwrap();
        let c = &s.clocks(late.id).await.unwrap()[0];
        assert_eq!((c.state.as_str(), c.target_us), ("breached", 60 * MIN), "{}: {c:?}", db.engine);
        // Cancelled, it ends as that breach rather than leave the reports.
        let cancel = Patch { state: Some("cancelled".into()), ..Patch::default() };
        s.update_incident(late.id, None, cancel.clone(), who).await.unwrap();
        let c = &s.clocks(late.id).await.unwrap()[0];
        assert_eq!((c.state.as_str(), c.running), ("breached", false), "{}: {c:?}", db.engine);

        // A breach recorded when the clock stopped stays when the record is
        // cancelled after.
        let (stopped, _) = s.create_incident(incident(who), None).await.unwrap();
        varde_store::testing::clocks_ran(s, stopped.id, "sla", now - 120 * MIN, Some(now - MIN)).await;
        s.update_incident(stopped.id, None, cancel, who).await.unwrap();
        let c = &s.clocks(stopped.id).await.unwrap()[0];
        assert_eq!(c.state, "breached", "{}: {c:?}", db.engine);

        // Forty minutes into the hour: its 50 % warning fires; at the lower
        // priority's ten hours, the next warning is at five hours.
        let (mid, _) = s.create_incident(incident(who), None).await.unwrap();
        let start = now - 40 * MIN;
        varde_store::testing::clocks_ran(s, mid.id, "sla", start, None).await;
        let clock = s.clocks(mid.id).await.unwrap()[0].id;
        let (payload, _) = timer_of(s, clock).await;
        assert_eq!(s.fire_sla_timer(payload).await.unwrap().percents, vec![50], "{}", db.engine);
        s.update_incident(mid.id, None, lower, who).await.unwrap();
        let c = &s.clocks(mid.id).await.unwrap()[0];
        assert_eq!((c.state.as_str(), c.target_us), ("running", 600 * MIN), "{}: {c:?}", db.engine);
        assert!(c.fired.is_empty(), "{}: {c:?}", db.engine);
        let (_, at) = timer_of(s, clock).await;
        assert_eq!(at, start + 300 * MIN, "{}", db.engine);
        // Raised back: its 50 % warning fired for this target already, so
        // it does not fire again; the next is the breach at the hour.
        let back = Patch { impact: Some(2), urgency: Some(2), ..Patch::default() };
        s.update_incident(mid.id, None, back, who).await.unwrap();
        let c = &s.clocks(mid.id).await.unwrap()[0];
        assert_eq!((c.target_us, c.fired.as_slice()), (60 * MIN, &[50][..]), "{}: {c:?}", db.engine);
        let (_, at) = timer_of(s, clock).await;
        assert_eq!(at, start + 60 * MIN, "{}", db.engine);
    }
}

/// A clock stopped as a breach when its target stopped applying is not
/// restarted when the target applies again, even where reopening restarts
/// clocks: it resumes, still breached.
#[tokio::test]
async fn a_breach_is_not_restarted_by_a_target_given_back() {
    const MIN: i64 = 60_000_000;
    for db in databases().await {
        let s = &db.store;
        let who = agent(s).await;
        let high = i64::from(s.create_incident(incident(who), None).await.unwrap().0.priority);
        let sla = serde_json::json!({ "name": "High only", "kind": "sla", "reopen": "restart",
            "conditions": { "priorities": [high] },
            "targets": [{ "name": "resolution", "minutes": 60 }] });
        s.create_agreement(spec(sla), who).await.unwrap();
        let (i, _) = s.create_incident(incident(who), None).await.unwrap();
        varde_store::testing::clocks_ran(s, i.id, "sla", varde_store::now_micros() - 120 * MIN, None).await;
        let lower = Patch { impact: Some(3), urgency: Some(3), ..Patch::default() };
        s.update_incident(i.id, None, lower, who).await.unwrap();
        let c = &s.clocks(i.id).await.unwrap()[0];
        assert_eq!((c.state.as_str(), c.running), ("breached", false), "{}: {c:?}", db.engine);
        let back = Patch { impact: Some(2), urgency: Some(2), ..Patch::default() };
        let now = s.update_incident(i.id, None, back, who).await.unwrap();
        assert_eq!(i64::from(now.priority), high, "{}", db.engine);
        let c = &s.clocks(i.id).await.unwrap()[0];
        assert_eq!(c.state, "breached", "{}: restarted: {c:?}", db.engine);
        assert!(c.elapsed_us >= 120 * MIN, "{}: {c:?}", db.engine);
    }
}
