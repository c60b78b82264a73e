//! Calendars on both engines: the seeded ones, create, unique names, versions and If-Match,
//! audit rows, listing and deletion.

use varde_domain::sla::calendar::{Calendar, CalendarSpec, Exception};
use varde_store::audit::Entity;
use varde_store::calendars::CalendarFields;
use varde_store::testing::databases;
use varde_store::StoreError;

fn fields(name: &str) -> CalendarFields {
    CalendarFields {
        name: name.into(),
        description: "Office".into(),
        spec: CalendarSpec::weekdays("Europe/Copenhagen", &[("08:00", "12:00"), ("12:30", "16:00")]),
    }
}

#[tokio::test]
async fn the_default_calendars_exist_and_compile() {
    for db in databases().await {
        let s = &db.store;
        let all = s.list_calendars(0, 50, None).await.unwrap();
        let names: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["24x7", "Business hours"], "{}", db.engine);
        let always = Calendar::compile(&all[0].spec).unwrap();
        let t: jiff::Timestamp = "2026-11-28T03:00:00Z".parse().unwrap();
        assert!(always.is_working(t));
        let office = Calendar::compile(&all[1].spec).unwrap();
        assert!(!office.is_working(t), "Saturday");
        // Monday 08:00 Copenhagen (CET) is 07:00Z; nine hours a day.
        let monday: jiff::Timestamp = "2026-11-30T07:00:00Z".parse().unwrap();
        assert_eq!(office.add(monday, jiff::SignedDuration::from_hours(9)), "2026-11-30T16:00:00Z".parse().unwrap());
        assert!(all.iter().all(|c| c.version == 1 && c.created_at > 0), "{}", db.engine);
    }
}

#[tokio::test]
async fn create_read_update_with_versions_and_audit() {
    for db in databases().await {
        let s = &db.store;
        let c = s.create_calendar(fields("Office"), Some(7)).await.unwrap();
        assert_eq!(c.version, 1);
        assert_eq!(s.calendar(c.id).await.unwrap(), c);
        assert_eq!(s.calendar_by_name("Office").await.unwrap(), c);

        let dup = s.create_calendar(fields("Office"), None).await;
        assert!(matches!(dup, Err(StoreError::Duplicate { field: "name" })), "{}: {dup:?}", db.engine);

        let mut next = fields("Office DK");
        next.spec.exceptions.push(Exception {
            name: "Juledag".into(),
            date: "2026-12-25".into(),
            yearly: true,
            closed: vec![],
        });
        let stale = s.update_calendar(c.id, Some(5), next.clone(), 7).await;
        assert!(matches!(stale, Err(StoreError::Conflict { current: 1 })), "{}: {stale:?}", db.engine);
        let u = s.update_calendar(c.id, Some(1), next.clone(), 7).await.unwrap();
        assert_eq!((u.version, u.name.as_str()), (2, "Office DK"));
        assert_eq!(u.spec, next.spec);
        assert!(u.updated_at >= c.updated_at);
        // The same again changes nothing and keeps the version.
        let same = s.update_calendar(c.id, Some(2), next, 7).await.unwrap();
        assert_eq!(same.version, 2);

        let trail = s.audit_of(Entity::Calendar, c.id).await.unwrap();
        let f: Vec<&str> = trail.iter().map(|a| a.field.as_str()).collect();
        assert_eq!(f, vec!["created", "name", "spec"], "{}", db.engine);
        assert_eq!(trail[1].old_value.as_deref(), Some("Office"));
        assert!(trail[2].new_value.as_deref().unwrap().contains("Juledag"));
        assert_eq!(trail[1].actor_id, Some(7));

        // Renaming onto a taken name is refused and changes nothing.
        let clash = s.update_calendar(c.id, None, fields("24x7"), 7).await;
        assert!(matches!(clash, Err(StoreError::Duplicate { field: "name" })), "{}: {clash:?}", db.engine);
        assert_eq!(s.calendar(c.id).await.unwrap().name, "Office DK");

        assert!(matches!(s.calendar(999_999).await, Err(StoreError::NotFound)));
        assert!(matches!(s.update_calendar(999_999, None, fields("x"), 7).await, Err(StoreError::NotFound)));
    }
}

#[tokio::test]
async fn list_pages_and_filters() {
    for db in databases().await {
        let s = &db.store;
        for n in ["Nordic 100%", "Nordic_x", "Americas"] {
            s.create_calendar(fields(n), None).await.unwrap();
        }
        let page1 = s.list_calendars(0, 3, None).await.unwrap();
        assert_eq!(page1.len(), 3);
        let page2 = s.list_calendars(page1[2].id, 3, None).await.unwrap();
        let names: Vec<&str> = page2.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["Nordic_x", "Americas"], "{}", db.engine);
        let nordic: Vec<String> =
            s.list_calendars(0, 50, Some("NORDIC")).await.unwrap().into_iter().map(|c| c.name).collect();
        assert_eq!(nordic, vec!["Nordic 100%", "Nordic_x"]);
        // LIKE wildcards in the query are taken literally.
        let pct: Vec<String> = s.list_calendars(0, 50, Some("%")).await.unwrap().into_iter().map(|c| c.name).collect();
        assert_eq!(pct, vec!["Nordic 100%"], "{}", db.engine);
        let us: Vec<String> = s.list_calendars(0, 50, Some("c_x")).await.unwrap().into_iter().map(|c| c.name).collect();
        assert_eq!(us, vec!["Nordic_x"], "{}", db.engine);
    }
}

#[tokio::test]
async fn delete_checks_the_version_and_leaves_an_audit_row() {
    for db in databases().await {
        let s = &db.store;
        let c = s.create_calendar(fields("Temp"), None).await.unwrap();
        let stale = s.delete_calendar(c.id, Some(9), 1).await;
        assert!(matches!(stale, Err(StoreError::Conflict { current: 1 })), "{}: {stale:?}", db.engine);
        s.delete_calendar(c.id, Some(1), 1).await.unwrap();
        assert!(matches!(s.calendar(c.id).await, Err(StoreError::NotFound)));
        assert!(matches!(s.delete_calendar(c.id, None, 1).await, Err(StoreError::NotFound)));
        let trail = s.audit_of(Entity::Calendar, c.id).await.unwrap();
        assert_eq!(trail.last().map(|a| a.field.as_str()), Some("deleted"));
        // The name is free again.
        s.create_calendar(fields("Temp"), None).await.unwrap();
    }
}
