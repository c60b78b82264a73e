//! The durable timers in use: a resolved incident is closed by the job
//! runner when the auto-close period has passed, and not when it was reopened.

use std::time::Duration;

use varde::service::directory::{self, CreateUser};
use varde_domain::incident::{Channel, Patch, State};
use varde_domain::priority::Level;
use varde_store::incidents::NewIncident;
use varde_store::testing::databases;

#[tokio::test]
async fn resolved_incidents_close_themselves_unless_reopened() {
    for db in databases().await {
        let s = db.store.clone();
        let admin = directory::create_user(
            &s,
            None,
            CreateUser {
                email: "admin@example.org".into(),
                name: "Admin".into(),
                role: "admin".into(),
                organisation_id: None,
                password: None,
            },
        )
        .await
        .unwrap();
        // Zero days: due as soon as it is resolved.
        s.set_setting("auto_close_days".into(), "0".into(), admin.id).await.unwrap();
        let mut ids = Vec::new();
        for text in ["closes", "reopened"] {
            let new = NewIncident {
                short_description: text.into(),
                description: String::new(),
                requester_id: admin.id,
                created_by: admin.id,
                assignment_group_id: None,
                assignee_id: None,
                impact: Level::LOW,
                urgency: Level::LOW,
                category_id: None,
                service_id: None,
                channel: Channel::Phone,
                major: false,
            };
            let (i, _) = s.create_incident(new, None).await.unwrap();
            let resolve = Patch {
                state: Some("resolved".into()),
                resolution_code: Some("fixed".into()),
                resolution_notes: Some("done".into()),
                ..Patch::default()
            };
            s.update_incident(i.id, None, resolve, admin.id).await.unwrap();
            ids.push(i.id);
        }
        s.update_incident(ids[1], None, Patch { state: Some("in_progress".into()), ..Patch::default() }, admin.id)
            .await
            .unwrap();

        let (stop, rx) = tokio::sync::watch::channel(false);
        let runner = tokio::spawn(varde::jobs::run(s.clone(), rx));
        let mut closed = false;
        for _ in 0..50 {
            if s.incident(ids[0]).await.unwrap().lifecycle.state == State::Closed {
                closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.send(true).unwrap();
        runner.await.unwrap();
        assert!(closed, "{}: the resolved incident was not closed", db.engine);
        assert_eq!(s.incident(ids[1]).await.unwrap().lifecycle.state, State::InProgress, "{}", db.engine);
        assert!(s.pending_jobs().await.unwrap().is_empty(), "{}: spent jobs are removed", db.engine);
        let journal = s.journal(ids[0], true).await.unwrap();
        assert!(journal.iter().any(|j| j.kind == "system"), "{}: the closure is explained in the journal", db.engine);
    }
}
