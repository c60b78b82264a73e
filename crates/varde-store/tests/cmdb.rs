//! CMDB conformance: classes, CIs, relations, history and as-of queries,
//! impact, record links, assets. Every story runs on every engine.

use serde_json::{json, Map, Value};
use varde_domain::access::Role;
use varde_domain::cmdb::{AttrKind, AttributeDef, CiStatus, RelationKind};
use varde_domain::DomainError;
use varde_store::cmdb::{ChangeContext, CiFields, CiFilter, ClassChanges, Direction, NewClass};
use varde_store::cmdb_import::{ImportRelation, ImportRequest, ImportRow, OPTIONAL_FIELDS};
use varde_store::testing::{databases, empty_urls, migrate_url_to, user};
use varde_store::{Store, StoreError, StoreOptions};

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

async fn class_id(store: &Store, name: &str) -> i64 {
    store.ci_classes().await.unwrap().by_name(name).unwrap_or_else(|| panic!("class {name}")).id
}

fn ctx(actor: i64) -> ChangeContext {
    ChangeContext { actor: Some(actor), ..Default::default() }
}

/// An optional, non-unique attribute definition, for tests to adjust.
fn attr(name: &str, kind: AttrKind) -> AttributeDef {
    AttributeDef { name: name.into(), label: String::new(), kind, required: false, unique: false, values: vec![] }
}

/// An import of CSV rows by `actor`, written (not a dry run).
fn import_of(actor: i64, rows: Vec<ImportRow>) -> ImportRequest {
    ImportRequest {
        source: "test".into(),
        format: "csv".into(),
        actor,
        dry_run: false,
        row_label: |l| format!("line {l}"),
        rows,
        relations: Vec::new(),
    }
}

async fn ci(store: &Store, class: &str, name: &str, attrs: Value) -> i64 {
    let class_id = class_id(store, class).await;
    store
        .create_ci(
            CiFields { class_id, name: name.into(), attributes: obj(attrs), ..Default::default() },
            ChangeContext::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e:?}"))
        .id
}

fn fields_of(e: &StoreError) -> Vec<String> {
    match e {
        StoreError::Domain(DomainError::Invalid(errs)) => errs.iter().map(|e| e.field.clone()).collect(),
        other => panic!("expected field errors, got {other:?}"),
    }
}

async fn rel(store: &Store, from: i64, to: i64, kind: RelationKind) -> i64 {
    store.add_ci_relation(from, to, kind, Map::new(), ChangeContext::default()).await.unwrap().id
}

/// Starts each write on a task of its own, so that they run at once (on
/// PostgreSQL, side by side on their own connections).
fn spawn_all<T, F>(writes: impl IntoIterator<Item = F>) -> Vec<tokio::task::JoinHandle<T>>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    writes.into_iter().map(tokio::spawn).collect()
}

/// What the writes of [`spawn_all`] came to, in the order they were given.
async fn joined<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("a write panicked"));
    }
    out
}

#[tokio::test]
async fn default_classes_ship_and_inherit() {
    for db in databases().await {
        let s = &db.store;
        let classes = s.ci_classes().await.unwrap();
        for name in [
            "Hardware",
            "Computer",
            "Laptop",
            "Server",
            "Software",
            "Application",
            "Service",
            "Business service",
            "Technical service",
            "Database",
            "Network device",
            "Location",
            "Supplier",
            "Contract",
        ] {
            assert!(classes.by_name(name).is_some(), "{}: {name}", db.engine);
        }
        let laptop = classes.by_name("Laptop").unwrap().id;
        let schema = classes.schema(laptop);
        assert!(schema.get("serial_number").is_some(), "inherited from Hardware");
        assert!(schema.get("os").is_some(), "inherited from Computer");
        let service = classes.by_name("Service").unwrap().id;
        assert_eq!(classes.subtree(service).len(), 3);
        // Services are found by the class's name: it keeps it.
        let who = user(s, "admin@example.org", Role::Admin).await;
        let rename = ClassChanges { name: Some("IT service".into()), ..Default::default() };
        let refused = s.update_ci_class(service, None, rename, who).await.unwrap_err();
        assert_eq!(fields_of(&refused), ["name"], "{}", db.engine);
        let described = ClassChanges { description: Some("What we deliver".into()), ..Default::default() };
        s.update_ci_class(service, None, described, who).await.unwrap();
        // Names are found ignoring case, so they are unique ignoring case.
        let phone = |name: &str| NewClass {
            name: name.into(),
            parent_id: None,
            description: String::new(),
            attributes: Vec::new(),
            identify_by: Vec::new(),
        };
        let first = s.create_ci_class(phone("Phone"), who).await.unwrap();
        assert!(matches!(s.create_ci_class(phone("phone"), who).await, Err(StoreError::Duplicate { field: "name" })));
        let rename = ClassChanges { name: Some("LAPTOP".into()), ..Default::default() };
        assert!(matches!(
            s.update_ci_class(first.id, None, rename, who).await,
            Err(StoreError::Duplicate { field: "name" })
        ));
        let recase = ClassChanges { name: Some("PHONE".into()), ..Default::default() };
        assert_eq!(s.update_ci_class(first.id, None, recase, who).await.unwrap().name, "PHONE", "{}", db.engine);
    }
}

#[tokio::test]
async fn cis_are_validated_against_their_class() {
    for db in databases().await {
        let s = &db.store;
        let admin = user(s, "admin@example.org", Role::Agent).await;
        let hw = class_id(s, "Hardware").await;
        let class = s
            .create_ci_class(
                NewClass {
                    name: "Phone".into(),
                    parent_id: Some(hw),
                    description: String::new(),
                    attributes: vec![
                        AttributeDef {
                            name: "imei".into(),
                            label: "IMEI".into(),
                            kind: AttrKind::Text,
                            required: true,
                            unique: true,
                            values: vec![],
                        },
                        AttributeDef {
                            name: "size".into(),
                            label: String::new(),
                            kind: AttrKind::Enum,
                            required: false,
                            unique: false,
                            values: vec!["s".into(), "l".into()],
                        },
                        AttributeDef {
                            name: "holder".into(),
                            label: String::new(),
                            kind: AttrKind::UserRef,
                            required: false,
                            unique: false,
                            values: vec![],
                        },
                    ],
                    identify_by: vec!["imei".into()],
                },
                admin,
            )
            .await
            .unwrap();
        let bad = s
            .create_ci(
                CiFields {
                    class_id: class.id,
                    name: " ".into(),
                    attributes: obj(json!({"size": "xl", "holder": 999999, "colour": "red", "mac_address": "nope"})),
                    purchased_on: Some("yesterday".into()),
                    owner_id: Some(999999),
                    ..Default::default()
                },
                ctx(admin),
            )
            .await
            .unwrap_err();
        let f = fields_of(&bad);
        for want in [
            "name",
            "attributes.imei",
            "attributes.size",
            "attributes.colour",
            "attributes.mac_address",
            "purchased_on",
        ] {
            assert!(f.contains(&want.to_string()), "{}: {want} in {f:?}", db.engine);
        }
        let ok = s
            .create_ci(
                CiFields {
                    class_id: class.id,
                    name: "Ann's phone".into(),
                    attributes: obj(json!({"imei": "35-1", "holder": admin})),
                    ..Default::default()
                },
                ctx(admin),
            )
            .await
            .unwrap();
        assert_eq!(ok.status, CiStatus::Deployed);
        // The same IMEI again: unique attribute and identification key.
        let dup = s
            .create_ci(
                CiFields {
                    class_id: class.id,
                    name: "other".into(),
                    attributes: obj(json!({"imei": "35-1"})),
                    ..Default::default()
                },
                ctx(admin),
            )
            .await
            .unwrap_err();
        assert!(fields_of(&dup).contains(&"attributes.imei".to_string()), "{}", db.engine);
        let holder_bad = s
            .create_ci(
                CiFields {
                    class_id: class.id,
                    name: "x".into(),
                    attributes: obj(json!({"imei": "2", "holder": 424242})),
                    ..Default::default()
                },
                ctx(admin),
            )
            .await
            .unwrap_err();
        assert_eq!(fields_of(&holder_bad), vec!["attributes.holder"]);
        // Nothing of the refused creates was written.
        let all = s.list_cis(&CiFilter { class_ids: vec![class.id], ..Default::default() }, None, 50).await.unwrap();
        assert_eq!(all.len(), 1, "{}", db.engine);

        // A class with CIs takes a new optional attribute but not a required one.
        let mut attrs = class.attributes.clone();
        attrs.push(AttributeDef {
            name: "carrier".into(),
            label: String::new(),
            kind: AttrKind::Text,
            required: true,
            unique: false,
            values: vec![],
        });
        let e = s
            .update_ci_class(
                class.id,
                None,
                ClassChanges { attributes: Some(attrs.clone()), ..Default::default() },
                admin,
            )
            .await
            .unwrap_err();
        assert!(fields_of(&e).iter().any(|f| f.ends_with(".required")));
        attrs.last_mut().unwrap().required = false;
        let c2 = s
            .update_ci_class(
                class.id,
                Some(class.version),
                ClassChanges { attributes: Some(attrs), ..Default::default() },
                admin,
            )
            .await
            .unwrap();
        assert_eq!(c2.version, 2);
        // Removing an attribute some CI uses is refused.
        let e = s
            .update_ci_class(class.id, None, ClassChanges { attributes: Some(vec![]), ..Default::default() }, admin)
            .await
            .unwrap_err();
        assert!(fields_of(&e).contains(&"attributes".to_string()), "{}", db.engine);
        let stale = s.update_ci_class(class.id, Some(1), ClassChanges::default(), admin).await;
        assert!(matches!(stale, Err(StoreError::Conflict { current: 2 })));
    }
}

#[tokio::test]
async fn history_and_as_of() {
    for db in databases().await {
        let s = &db.store;
        let admin = user(s, "admin@example.org", Role::Agent).await;
        let db01 = ci(s, "Server", "db-01", json!({"hostname": "db-01", "domain": "corp", "os": "Linux"})).await;
        let san = ci(s, "Hardware", "SAN-2", json!({"serial_number": "SAN2"})).await;
        let db02 = ci(s, "Server", "db-02", json!({"hostname": "db-02", "domain": "corp", "os": "BSD"})).await;
        let t0 = varde_store::now_micros();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let before = s.ci(db01).await.unwrap();
        let mut f = before.fields();
        f.attributes.insert("os".into(), json!("Debian"));
        f.status = Some(CiStatus::InRepair);
        let after = s.update_ci(db01, Some(before.version), f.clone(), ctx(admin)).await.unwrap();
        assert_eq!(after.version, 2);
        // A stale version changes nothing.
        let stale = s.update_ci(db01, Some(1), f.clone(), ctx(admin)).await;
        assert!(matches!(stale, Err(StoreError::Conflict { current: 2 })), "{}: {stale:?}", db.engine);
        // Same fields again: no new version.
        assert_eq!(s.update_ci(db01, None, f.clone(), ctx(admin)).await.unwrap().version, 2);
        let r = rel(s, db01, san, RelationKind::RunsOn).await;
        let t1 = varde_store::now_micros();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        s.end_ci_relation(db01, r, ctx(admin)).await.unwrap();
        let t2 = varde_store::now_micros();

        let then = s.ci_as_of(db01, t0).await.unwrap();
        assert_eq!(then.attributes["os"], json!("Linux"), "{}", db.engine);
        assert_eq!(then.status, CiStatus::Deployed);
        assert_eq!(s.ci_as_of(db01, t1).await.unwrap().attributes["os"], json!("Debian"));
        assert!(matches!(s.ci_as_of(db01, 1).await, Err(StoreError::NotFound)), "did not exist at the epoch");

        assert!(s.ci_relations(db01, Some(t0)).await.unwrap().is_empty());
        let at1 = s.ci_relations(db01, Some(t1)).await.unwrap();
        assert_eq!(at1.len(), 1, "{}", db.engine);
        assert_eq!(at1[0].label, "runs on");
        assert_eq!(at1[0].other_name, "SAN-2");
        assert_eq!(at1[0].valid_to, None, "{}: current then; its later end is not told", db.engine);
        let back = s.ci_relations(san, Some(t1)).await.unwrap();
        assert_eq!(back[0].label, "hosts");
        assert!(s.ci_relations(db01, Some(t2)).await.unwrap().is_empty());
        assert!(s.ci_relations(db01, None).await.unwrap().is_empty());

        let log = s.ci_changes(db01).await.unwrap();
        let fields: Vec<&str> = log.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["created", "attributes.os", "status", "relation", "relation"], "{}", db.engine);
        assert_eq!(log[1].old_value.as_deref(), Some("Linux"));
        assert_eq!(log[1].new_value.as_deref(), Some("Debian"));
        assert_eq!(log[1].actor_id, Some(admin));
        assert!(log[4].new_value.is_none() && log[4].old_value.as_deref().unwrap().starts_with("runs on SAN-2"));

        // Life cycle: in repair cannot go back to ordered; disposed is final.
        let mut g = after.fields();
        g.status = Some(CiStatus::Ordered);
        assert!(matches!(
            s.update_ci(db01, None, g, ctx(admin)).await,
            Err(StoreError::Domain(DomainError::Transition { .. }))
        ));

        // As-of list by class.
        let server = class_id(s, "Server").await;
        let then = s
            .list_cis(&CiFilter { class_ids: vec![server], as_of: Some(t0), ..Default::default() }, None, 10)
            .await
            .unwrap();
        // db-01 from the version its change ended, db-02 (never changed)
        // from its row: merged in id order, a page at a time.
        let oses: Vec<&Value> = then.iter().map(|c| &c.attributes["os"]).collect();
        assert_eq!(oses, [&json!("Linux"), &json!("BSD")], "{}", db.engine);
        let f = CiFilter { class_ids: vec![server], as_of: Some(t1), ..Default::default() };
        let first = s.list_cis(&f, None, 1).await.unwrap();
        assert_eq!((first.len(), first[0].id, &first[0].attributes["os"]), (1, db01, &json!("Debian")));
        let next = s.list_cis(&f, Some(db01), 1).await.unwrap();
        assert_eq!(next.iter().map(|c| c.id).collect::<Vec<_>>(), [db02], "{}", db.engine);
        // Only what a change ended is a history row: the current version is
        // the CI's row.
        let ended = |id: i64| {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM ci_versions WHERE ci_id = $1")
                .bind(id)
                .fetch_one(s.pool())
        };
        assert_eq!((ended(db01).await.unwrap(), ended(db02).await.unwrap()), (1, 0), "{}", db.engine);
        assert_eq!(s.ci_as_of(db02, t2).await.unwrap().attributes["os"], json!("BSD"));
    }
}

#[tokio::test]
async fn lists_filter_by_class_attribute_status_text_and_relation() {
    for db in databases().await {
        let s = &db.store;
        let a = ci(s, "Server", "app-01", json!({"hostname": "app-01", "domain": "corp", "os": "Linux"})).await;
        let b = ci(s, "Server", "app-02", json!({"hostname": "app-02", "domain": "corp", "os": "windows"})).await;
        let l = ci(s, "Laptop", "ann-laptop", json!({"serial_number": "L1", "os": "linux"})).await;
        let svc = ci(s, "Business service", "Payroll", json!({})).await;
        rel(s, svc, a, RelationKind::DependsOn).await;
        let classes = s.ci_classes().await.unwrap();
        let computer = classes.subtree(classes.by_name("Computer").unwrap().id);
        let f = CiFilter {
            class_ids: computer.clone(),
            attributes: vec![("os".into(), "linux".into())],
            ..Default::default()
        };
        let ids: Vec<i64> = s.list_cis(&f, None, 50).await.unwrap().iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![a, l], "{}: subclasses included, values case-folded", db.engine);
        let two = CiFilter {
            class_ids: computer.clone(),
            attributes: vec![("os".into(), "linux".into()), ("hostname".into(), "app-01".into())],
            ..Default::default()
        };
        let ids2: Vec<i64> = s.list_cis(&two, None, 50).await.unwrap().iter().map(|c| c.id).collect();
        assert_eq!(ids2, vec![a], "{}: two attribute filters", db.engine);
        let page1 = s.list_cis(&f, None, 1).await.unwrap();
        let page2 = s.list_cis(&f, Some(page1[0].id), 1).await.unwrap();
        assert_eq!(page2[0].id, l);
        let f = CiFilter { terms: vec!["windows".into()], ..Default::default() };
        assert_eq!(s.list_cis(&f, None, 50).await.unwrap()[0].id, b);
        let f = CiFilter { terms: vec!["app".into(), "02".into()], ..Default::default() };
        assert_eq!(s.list_cis(&f, None, 50).await.unwrap().len(), 1);
        let f = CiFilter { related_to: Some(a), ..Default::default() };
        assert_eq!(s.list_cis(&f, None, 50).await.unwrap()[0].id, svc);
        let f = CiFilter { statuses: vec![CiStatus::Retired], ..Default::default() };
        assert!(s.list_cis(&f, None, 50).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn impact_finds_services_with_shortest_paths_through_cycles() {
    for db in databases().await {
        let s = &db.store;
        let payroll = ci(s, "Business service", "Payroll", json!({})).await;
        let hr = ci(s, "Business service", "HR portal", json!({})).await;
        let app = ci(s, "Application", "Payroll app", json!({})).await;
        let db01 = ci(s, "Database", "db-01", json!({})).await;
        let san = ci(s, "Hardware", "SAN-2", json!({"serial_number": "S2"})).await;
        let sw = ci(s, "Network device", "sw-1", json!({"serial_number": "SW1"})).await;
        rel(s, payroll, app, RelationKind::DependsOn).await;
        rel(s, app, db01, RelationKind::DependsOn).await;
        rel(s, db01, san, RelationKind::RunsOn).await;
        rel(s, hr, payroll, RelationKind::DependsOn).await;
        // A cycle and a non-dependency edge.
        rel(s, san, app, RelationKind::DependsOn).await;
        rel(s, san, sw, RelationKind::ConnectsTo).await;
        let org = s.create_organisation("ACME".into(), None).await.unwrap().id;
        let mut f = s.ci(payroll).await.unwrap().fields();
        f.organisation_id = Some(org);
        s.update_ci(payroll, None, f, ChangeContext::default()).await.unwrap();

        let up = s.impact(san, Direction::Up, 10, None).await.unwrap();
        let names: Vec<(&str, Vec<&str>)> =
            up.services.iter().map(|x| (x.name.as_str(), x.path.iter().map(|p| p.name.as_str()).collect())).collect();
        assert_eq!(
            names,
            vec![
                ("Payroll", vec!["Payroll", "Payroll app", "db-01", "SAN-2"]),
                ("HR portal", vec!["HR portal", "Payroll", "Payroll app", "db-01", "SAN-2"]),
            ],
            "{}",
            db.engine
        );
        assert_eq!(up.organisation_ids, vec![org]);
        assert!(!up.nodes.iter().any(|n| n.id == sw), "connects_to is not a dependency");
        // Depth limits.
        let near = s.impact(san, Direction::Up, 3, None).await.unwrap();
        assert_eq!(near.services.len(), 1);
        assert_eq!(s.impact(san, Direction::Up, 0, None).await.unwrap().reached, 0);
        // Down from the service.
        let down = s.impact(hr, Direction::Down, 10, None).await.unwrap();
        let mut got: Vec<i64> = down.nodes.iter().map(|n| n.id).collect();
        got.sort();
        let mut want = vec![payroll, app, db01, san];
        want.sort();
        assert_eq!(got, want, "{}", db.engine);
        assert_eq!(down.services[0].path.iter().map(|p| p.id).collect::<Vec<_>>(), vec![hr, payroll]);
        // As of before the relations existed: nothing.
        let t0 = s.ci(san).await.unwrap().created_at;
        assert_eq!(s.impact(san, Direction::Up, 10, Some(t0)).await.unwrap().reached, 0);
        assert!(matches!(s.impact(999_999, Direction::Up, 3, None).await, Err(StoreError::NotFound)));
        // Refused relations.
        assert!(s
            .add_ci_relation(app, app, RelationKind::DependsOn, Map::new(), ChangeContext::default())
            .await
            .is_err());
        assert!(matches!(
            s.add_ci_relation(payroll, app, RelationKind::DependsOn, Map::new(), ChangeContext::default()).await,
            Err(StoreError::InUse(m)) if m.contains("exists already")
        ));
    }
}

#[tokio::test]
async fn services_are_cis_and_assets_have_checklists() {
    for db in databases().await {
        let s = &db.store;
        let admin = user(s, "admin@example.org", Role::Agent).await;
        let ann = user(s, "ann@example.org", Role::Agent).await;
        let svc = s.create_service("Mail".into(), String::new()).await.unwrap();
        let service_class = class_id(s, "Service").await;
        let f = CiFilter { class_ids: vec![service_class], terms: vec!["mail".into()], ..Default::default() };
        let found = s.list_cis(&f, None, 10).await.unwrap();
        assert_eq!(found.len(), 1, "{}", db.engine);
        assert_eq!(found[0].service_id, Some(svc.id));
        // "mail" would be the same CI: it is refused rather than made
        // without one, and nothing of it is kept.
        let e = s.create_service("mail".into(), String::new()).await.unwrap_err();
        assert_eq!(fields_of(&e), ["name"], "{}: {e:?}", db.engine);
        assert_eq!(s.list_cis(&f, None, 10).await.unwrap().len(), 1, "{}", db.engine);
        // Renamed in the CMDB, the service is renamed in the catalogue.
        let renamed = CiFields { name: "E-mail".into(), ..found[0].fields() };
        s.update_ci(found[0].id, None, renamed, ctx(admin)).await.unwrap();
        let names: Vec<String> = s.services().await.unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["E-mail"], "{}", db.engine);

        let laptop = class_id(s, "Laptop").await;
        let mk = |name: &str, serial: &str| CiFields {
            class_id: laptop,
            name: name.into(),
            used_by_id: Some(ann),
            purchased_on: Some("2018-01-01".into()),
            warranty_until: Some("2021-01-01".into()),
            attributes: obj(json!({"serial_number": serial})),
            ..Default::default()
        };
        let l1 = s.create_ci(mk("laptop", "A1"), ctx(admin)).await.unwrap();
        let l2 = s.create_ci(mk("charger", "A2"), ctx(admin)).await.unwrap();
        assert_eq!(s.assets_of(ann).await.unwrap().len(), 2);
        let old = s.assets_bought_before(&[laptop], "2020-01-01", None, 10).await.unwrap();
        assert_eq!(old.len(), 2);
        use varde_store::cmdb::PastWhat::{EndOfLife, Warranty};
        assert_eq!(s.assets_past(&[], "2026-01-01", Warranty, None, 10).await.unwrap().len(), 2);
        // Of the classes asked for only.
        let server = class_id(s, "Server").await;
        assert!(s.assets_past(&[server], "2026-01-01", Warranty, None, 10).await.unwrap().is_empty(), "{}", db.engine);
        assert_eq!(s.assets_past(&[laptop], "2026-01-01", Warranty, None, 10).await.unwrap().len(), 2);
        // Covered through its warranty's last day; at end of life on the day.
        assert!(s.assets_past(&[], "2021-01-01", Warranty, None, 10).await.unwrap().is_empty(), "{}", db.engine);
        let dock = CiFields { end_of_life: Some("2025-06-30".into()), ..mk("dock", "A3") };
        let dock = s.create_ci(dock, ctx(admin)).await.unwrap();
        let eol = s.assets_past(&[], "2025-06-30", EndOfLife, None, 10).await.unwrap();
        assert_eq!(eol.iter().map(|r| r.id).collect::<Vec<_>>(), [dock.id], "{}", db.engine);
        assert!(s.assets_past(&[], "2025-06-29", EndOfLife, None, 10).await.unwrap().is_empty(), "{}", db.engine);
        let fields = CiFields { used_by_id: None, status: Some(CiStatus::Retired), ..dock.fields() };
        s.update_ci(dock.id, None, fields, ctx(admin)).await.unwrap();
        // Page by page, by date then id, each row once.
        let first = s.assets_past(&[], "2026-01-01", Warranty, None, 1).await.unwrap();
        let after = Some((first[0].warranty_until.clone().unwrap(), first[0].id));
        let rest = s.assets_past(&[], "2026-01-01", Warranty, after, 10).await.unwrap();
        assert_eq!(rest.len(), 1, "{}", db.engine);
        assert_ne!(rest[0].id, first[0].id, "{}", db.engine);

        let list = s.create_checklist(ann, admin).await.unwrap();
        assert_eq!(list.items.len(), 2);
        assert!(
            matches!(s.create_checklist(ann, admin).await, Err(StoreError::InUse(m)) if m.contains("open hand-back checklist")),
            "one open list per person"
        );
        let list = s.complete_checklist_item(list.id, list.items[0].id, "returned".into(), admin).await.unwrap();
        assert!(list.closed_at.is_none());
        // Done twice (a second click): the list as it was, the first note kept.
        let again = s.complete_checklist_item(list.id, list.items[0].id, String::new(), admin).await.unwrap();
        assert_eq!(again, list, "{}", db.engine);
        assert_eq!(again.items[0].note, "returned", "{}", db.engine);
        assert!(matches!(
            s.complete_checklist_item(list.id + 1000, list.items[0].id, String::new(), admin).await,
            Err(StoreError::NotFound)
        ));
        let list = s.complete_checklist_item(list.id, list.items[1].id, String::new(), admin).await.unwrap();
        assert!(list.closed_at.is_some(), "{}", db.engine);
        // Handed back, the assets are Ann's no more; the history says who
        // took them back.
        assert!(s.assets_of(ann).await.unwrap().is_empty(), "{}", db.engine);
        for ci in [&l1, &l2] {
            let now = s.ci(ci.id).await.unwrap();
            assert_eq!((now.used_by_id, now.status), (None, ci.status), "{}", db.engine);
            let mut log = s.ci_changes(ci.id).await.unwrap();
            let back = log.pop().unwrap();
            let released = log.pop().unwrap();
            assert_eq!((released.field.as_str(), released.actor_id), ("used_by_id", Some(admin)), "{}", db.engine);
            // And where it went back, with the note.
            assert_eq!((back.field.as_str(), back.actor_id), ("handed_back", Some(admin)), "{}", db.engine);
            let note = if ci.id == l1.id {
                format!("checklist {}: returned", list.id)
            } else {
                format!("checklist {}", list.id)
            };
            assert_eq!(back.new_value.as_deref(), Some(note.as_str()), "{}", db.engine);
        }
        // A new list for her has nothing on it.
        assert!(s.create_checklist(ann, admin).await.unwrap().items.is_empty(), "{}", db.engine);
    }
}

#[tokio::test]
async fn services_from_before_the_cmdb_become_cis() {
    for (engine, url, _dir) in empty_urls().await {
        migrate_url_to(&url, 3).await;
        {
            use sqlx::Connection;
            let mut c = sqlx::AnyConnection::connect(&url).await.unwrap();
            sqlx::query(
                "INSERT INTO services (name, description, active, created_at) VALUES ('Payroll Service', '', 1, 5)",
            )
            .execute(&mut c)
            .await
            .unwrap();
            let _ = c.close().await;
        }
        let s = Store::open(&StoreOptions { url: url.clone(), max_connections: 4 }).await.unwrap();
        let f = CiFilter { terms: vec!["payroll".into()], ..Default::default() };
        let cis = s.list_cis(&f, None, 10).await.unwrap();
        assert_eq!(cis.len(), 1, "{engine}: migrated and indexed");
        assert!(cis[0].service_id.is_some());
        assert_eq!(s.ci_as_of(cis[0].id, 5).await.unwrap().name, "Payroll Service", "{engine}: a first version");
        // The catalogue can still make a service of another name.
        s.create_service("Mail".into(), String::new()).await.unwrap();
    }
}

/// A re-import that changes many CIs at once (one set-wise update) leaves
/// each exactly as a one-by-one edit would: the next version, the old one
/// readable as of before, the attribute index and search words of the new
/// values only, and one change-log entry per changed field, naming the import.
#[tokio::test]
async fn a_reimport_updates_many_cis_with_full_history() {
    for db in databases().await {
        let (s, engine) = (&db.store, db.engine);
        let actor = user(s, "importer@example.org", Role::Agent).await;
        let server = class_id(s, "Server").await;
        let rows = |ram: &dyn Fn(usize) -> i64, name: &dyn Fn(usize) -> String| -> Vec<ImportRow> {
            (0..40)
                .map(|i| ImportRow {
                    line: i + 2,
                    reference: format!("r{i}"),
                    fields: CiFields {
                        class_id: server,
                        name: name(i),
                        attributes: obj(json!({ "hostname": format!("h{i}"), "domain": "corp", "ram_gb": ram(i) })),
                        ..Default::default()
                    },
                    omitted: Vec::new(),
                })
                .collect()
        };
        let import = |rows: Vec<ImportRow>| import_of(actor, rows);
        let first = s.import_cis(import(rows(&|_| 8, &|i| format!("srv-{i}")))).await.unwrap();
        assert_eq!(first.created, 40, "{engine}");
        let ids: Vec<i64> = first.rows.iter().map(|o| o.id.unwrap()).collect();
        let before = s.ci(ids[0]).await.unwrap().updated_at;
        // Every other CI gets more memory; every fourth also a new name.
        let again = s
            .import_cis(import(rows(&|i| if i % 2 == 0 { 64 } else { 8 }, &|i| {
                if i % 4 == 0 {
                    format!("renamed-{i}")
                } else {
                    format!("srv-{i}")
                }
            })))
            .await
            .unwrap();
        assert_eq!((again.created, again.updated, again.unchanged), (0, 20, 20), "{engine}");
        for (i, id) in ids.iter().enumerate() {
            let ci = s.ci(*id).await.unwrap();
            let changed = i % 2 == 0;
            assert_eq!(ci.version, if changed { 2 } else { 1 }, "{engine}: CI {i}");
            assert_eq!(ci.attributes["ram_gb"], json!(if changed { 64 } else { 8 }), "{engine}");
            let then = s.ci_as_of(*id, before).await.unwrap();
            assert_eq!((then.version, then.attributes["ram_gb"].clone()), (1, json!(8)), "{engine}: as of before");
            let log = s.ci_changes(*id).await.unwrap();
            // Made by the first import, under the name it had then.
            let made = &log[0];
            assert_eq!((made.id, made.field.as_str()), (0, "created"), "{engine}");
            assert_eq!((made.import_id, made.actor_id), (first.import_id, Some(actor)), "{engine}");
            assert_eq!(made.new_value.as_deref(), Some(format!("srv-{i}").as_str()), "{engine}: its first name");
            let fields: Vec<&str> = log.iter().skip(1).map(|c| c.field.as_str()).collect();
            match (changed, i % 4 == 0) {
                (false, _) => assert!(fields.is_empty(), "{engine}: {fields:?}"),
                (true, false) => assert_eq!(fields, ["attributes.ram_gb"], "{engine}"),
                (true, true) => assert_eq!(fields, ["attributes.ram_gb", "name"], "{engine}"),
            }
            if changed {
                let last = log.last().unwrap();
                assert_eq!(last.import_id, again.import_id, "{engine}");
                assert_eq!(last.actor_id, Some(actor), "{engine}");
            }
        }
        let find = |attrs: Vec<(String, String)>, terms: Vec<String>| CiFilter {
            class_ids: vec![server],
            attributes: attrs,
            terms,
            ..Default::default()
        };
        let big = s.list_cis(&find(vec![("ram_gb".into(), "64".into())], vec![]), None, 100).await.unwrap();
        assert_eq!(big.len(), 20, "{engine}: the attribute index holds the new values");
        let small = s.list_cis(&find(vec![("ram_gb".into(), "8".into())], vec![]), None, 100).await.unwrap();
        assert_eq!(small.len(), 20, "{engine}: and not the old ones");
        let renamed = s.list_cis(&find(vec![], vec!["renamed".into()]), None, 100).await.unwrap();
        assert_eq!(renamed.len(), 10, "{engine}: search words follow the new name");
        let old_name = s.list_cis(&find(vec![], vec!["srv".into()]), None, 100).await.unwrap();
        assert_eq!(old_name.len(), 30, "{engine}");
    }
}

/// A re-import changes what its rows say and nothing else: a discovery
/// feed that knows a server's host name and OS keeps the owner, cost and
/// serial number it never mentions. A field the file has but leaves empty,
/// and an attribute it names without a value, are cleared.
#[tokio::test]
async fn an_import_keeps_what_its_rows_leave_out() {
    for db in databases().await {
        let (s, engine) = (&db.store, db.engine);
        let actor = user(s, "discovery@example.org", Role::Agent).await;
        let server = class_id(s, "Server").await;
        let full = CiFields {
            class_id: server,
            name: "db-01".into(),
            owner_id: Some(actor),
            cost: Some(99_900),
            purchased_on: Some("2024-01-02".into()),
            attributes: obj(json!({ "hostname": "db-01", "domain": "corp", "os": "linux", "ram_gb": 32,
                "serial_number": "SN-1" })),
            ..Default::default()
        };
        let id = s.create_ci(full, ctx(actor)).await.unwrap().id;
        // The file has the columns class, name, cost and three attributes,
        // the cost cell empty; RAM is named without a value.
        let row = |os: &str| ImportRow {
            line: 2,
            reference: "db-01".into(),
            fields: CiFields {
                class_id: server,
                name: "db-01".into(),
                attributes: obj(json!({ "hostname": "db-01", "domain": "corp", "os": os, "ram_gb": null })),
                ..Default::default()
            },
            omitted: OPTIONAL_FIELDS.iter().copied().filter(|f| *f != "cost").collect(),
        };
        let import = |os: &str, dry_run: bool| ImportRequest { dry_run, ..import_of(actor, vec![row(os)]) };
        let done = s.import_cis(import("bsd", false)).await.unwrap();
        assert_eq!((done.created, done.updated, done.problems.len()), (0, 1, 0), "{engine}: {done:?}");
        let now = s.ci(id).await.unwrap();
        assert_eq!(now.attributes["os"], json!("bsd"), "{engine}");
        assert_eq!(now.attributes.get("ram_gb"), None, "{engine}: named empty, cleared");
        assert_eq!(now.cost, None, "{engine}: a column the file has, empty: cleared");
        assert_eq!(now.attributes["serial_number"], json!("SN-1"), "{engine}: never named, kept");
        assert_eq!((now.owner_id, now.purchased_on.as_deref()), (Some(actor), Some("2024-01-02")), "{engine}");
        let fields: Vec<String> = s.ci_changes(id).await.unwrap().into_iter().skip(1).map(|c| c.field).collect();
        assert_eq!(fields, ["attributes.os", "attributes.ram_gb", "cost"], "{engine}: only what the file said");
        // Said again, it is unchanged, in a dry run as well.
        let again = s.import_cis(import("bsd", true)).await.unwrap();
        assert_eq!((again.updated, again.unchanged), (0, 1), "{engine}");
        assert_eq!(s.ci(id).await.unwrap().version, now.version, "{engine}");
    }
}

/// A class change may not make what CIs already hold invalid: an attribute
/// becomes unique only if no two CIs share a value, and a new
/// identification rule re-identifies the class's CIs (refused if it would
/// make two of them one), so that a re-import finds them by it.
#[tokio::test]
async fn a_class_change_keeps_its_cis_editable_and_findable() {
    for db in databases().await {
        let (s, engine) = (&db.store, db.engine);
        let admin = user(s, "admin@example.org", Role::Admin).await;
        let vendor = |unique: bool| AttributeDef { unique, ..attr("vendor", AttrKind::Text) };
        let new = NewClass {
            name: "Widget".into(),
            parent_id: None,
            description: String::new(),
            attributes: vec![vendor(false)],
            identify_by: vec![],
        };
        let class = s.create_ci_class(new, admin).await.unwrap();
        let widget = |name: &str, v: &str| CiFields {
            class_id: class.id,
            name: name.into(),
            attributes: obj(json!({ "vendor": v })),
            ..Default::default()
        };
        let a = s.create_ci(widget("A", "acme"), ctx(admin)).await.unwrap();
        let b = s.create_ci(widget("B", "acme"), ctx(admin)).await.unwrap();
        s.create_ci(widget("C", "other"), ctx(admin)).await.unwrap();

        let unique = ClassChanges { attributes: Some(vec![vendor(true)]), ..Default::default() };
        let e = s.update_ci_class(class.id, None, unique.clone(), admin).await.unwrap_err();
        assert_eq!(fields_of(&e), ["attributes[0].unique"], "{engine}: {e:?}");
        let by_vendor = ClassChanges { identify_by: Some(vec!["vendor".into()]), ..Default::default() };
        let e = s.update_ci_class(class.id, None, by_vendor.clone(), admin).await.unwrap_err();
        assert_eq!(fields_of(&e), ["identify_by"], "{engine}: {e:?}");
        assert_eq!(s.ci_classes().await.unwrap().get(class.id).unwrap().version, class.version, "{engine}");
        // B is edited still, and then both changes go through.
        let mut moved = widget("B", "beta");
        moved.status = Some(b.status);
        s.update_ci(b.id, None, moved, ctx(admin)).await.unwrap();
        s.update_ci_class(class.id, None, by_vendor, admin).await.unwrap();
        s.update_ci_class(class.id, None, unique, admin).await.unwrap();
        // A re-import finds A by its vendor now, and renames it.
        let row = ImportRow { line: 2, reference: "a".into(), fields: widget("A renamed", "acme"), omitted: vec![] };
        let done = s.import_cis(import_of(admin, vec![row])).await.unwrap();
        assert_eq!((done.created, done.updated), (0, 1), "{engine}: {done:?}");
        assert_eq!(s.ci(a.id).await.unwrap().name, "A renamed", "{engine}");

        // An enum value CIs hold cannot be taken out.
        let size = |values: &[&str]| AttributeDef {
            values: values.iter().map(|v| v.to_string()).collect(),
            ..attr("size", AttrKind::Enum)
        };
        let sized =
            |values: &[&str]| ClassChanges { attributes: Some(vec![vendor(true), size(values)]), ..Default::default() };
        s.update_ci_class(class.id, None, sized(&["s", "m"]), admin).await.unwrap();
        let mut medium = widget("C", "other");
        medium.attributes.insert("size".into(), json!("m"));
        let c = s
            .list_cis(
                &CiFilter { class_ids: vec![class.id], terms: vec!["other".into()], ..Default::default() },
                None,
                5,
            )
            .await
            .unwrap();
        s.update_ci(c[0].id, None, CiFields { status: Some(c[0].status), ..medium }, ctx(admin)).await.unwrap();
        let e = s.update_ci_class(class.id, None, sized(&["s"]), admin).await.unwrap_err();
        assert_eq!(fields_of(&e), ["attributes[1].values"], "{engine}: {e:?}");
        s.update_ci_class(class.id, None, sized(&["s", "M", "l"]), admin).await.unwrap();
        // A value respelled in the list stays the CI's: its next edit keeps
        // it, as the list now spells it.
        let c_now = s.ci(c[0].id).await.unwrap();
        let kept = s.update_ci(c_now.id, None, c_now.fields(), ctx(admin)).await.unwrap();
        assert_eq!(kept.attributes["size"], "M", "{engine}");

        // Another class may have a unique attribute of the same name, and
        // share a value with this one: uniqueness is per defining class.
        let gadget = NewClass {
            name: "Gadget".into(),
            parent_id: None,
            description: String::new(),
            attributes: vec![vendor(true)],
            identify_by: vec![],
        };
        let gadget = s.create_ci_class(gadget, admin).await.unwrap();
        let row = ImportRow {
            line: 2,
            reference: "g".into(),
            fields: CiFields { class_id: gadget.id, ..widget("G", "acme") },
            omitted: vec![],
        };
        let done = s.import_cis(import_of(admin, vec![row])).await.unwrap();
        assert_eq!((done.created, done.problems.len()), (1, 0), "{engine}: {done:?}");
    }
}

/// A row that updates a CI need not repeat its required attributes: they
/// are taken from the CI, like everything else the row leaves out. A row
/// that makes a new CI must have them.
#[tokio::test]
async fn an_update_by_import_need_not_repeat_required_attributes() {
    for db in databases().await {
        let (s, engine) = (&db.store, db.engine);
        let admin = user(s, "admin@example.org", Role::Admin).await;
        let text = |name: &str, required: bool| AttributeDef { required, ..attr(name, AttrKind::Text) };
        let new = NewClass {
            name: "Probe".into(),
            parent_id: None,
            description: String::new(),
            attributes: vec![text("host", false), text("model", true), text("site", false)],
            identify_by: vec!["host".into()],
        };
        let class = s.create_ci_class(new, admin).await.unwrap();
        let probe = |host: &str, attrs: Value| CiFields {
            class_id: class.id,
            name: host.into(),
            attributes: obj(attrs),
            ..Default::default()
        };
        let id = s.create_ci(probe("p1", json!({ "host": "p1", "model": "X1" })), ctx(admin)).await.unwrap().id;
        let import = |rows: Vec<ImportRow>| import_of(admin, rows);
        let row = |line: usize, host: &str| ImportRow {
            line,
            reference: host.into(),
            fields: probe(host, json!({ "host": host, "site": "north" })),
            omitted: OPTIONAL_FIELDS.to_vec(),
        };
        let done = s.import_cis(import(vec![row(2, "p1")])).await.unwrap();
        assert_eq!((done.updated, done.problems.len()), (1, 0), "{engine}: {done:?}");
        let now = s.ci(id).await.unwrap();
        assert_eq!((now.attributes["model"].clone(), now.attributes["site"].clone()), (json!("X1"), json!("north")));
        let refused = s.import_cis(import(vec![row(2, "p1"), row(3, "p2")])).await.unwrap();
        let problems: Vec<(&str, &str)> = refused.problems.iter().map(|p| (p.at.as_str(), p.field.as_str())).collect();
        assert_eq!(problems, [("line 3", "attributes.model")], "{engine}: a new CI needs it");
    }
}

/// A CI identified by two attributes is told apart from another whose
/// values run together the same way: ("a|b", "c") is not ("a", "b|c"), by
/// hand or by import, and a `\` in a value is not an escape.
#[tokio::test]
async fn identities_of_several_values_do_not_run_together() {
    for db in databases().await {
        let (s, engine) = (&db.store, db.engine);
        let admin = user(s, "admin@example.org", Role::Admin).await;
        let new = NewClass {
            name: "Blade".into(),
            parent_id: None,
            description: String::new(),
            attributes: vec![attr("host", AttrKind::Text), attr("rack", AttrKind::Text)],
            identify_by: vec!["host".into(), "rack".into()],
        };
        let class = s.create_ci_class(new, admin).await.unwrap();
        let blade = |name: &str, host: &str, rack: &str| CiFields {
            class_id: class.id,
            name: name.into(),
            attributes: obj(json!({ "host": host, "rack": rack })),
            ..Default::default()
        };
        let one = s.create_ci(blade("one", "a|b", "c"), ctx(admin)).await.unwrap();
        let two = s.create_ci(blade("two", "a", "b|c"), ctx(admin)).await.unwrap_or_else(|e| panic!("{engine}: {e:?}"));
        // Were only `|` escaped, both would be `a\|\|c`.
        s.create_ci(blade("three", "a\\", "|c"), ctx(admin)).await.unwrap();
        s.create_ci(blade("four", "a|", "|c"), ctx(admin)).await.unwrap_or_else(|e| panic!("{engine}: {e:?}"));
        let row = |line: usize, name: &str, host: &str, rack: &str| ImportRow {
            line,
            reference: name.into(),
            fields: blade(name, host, rack),
            omitted: OPTIONAL_FIELDS.to_vec(),
        };
        let done = s.import_cis(import_of(admin, vec![row(2, "two renamed", "a", "b|c")])).await.unwrap();
        assert_eq!((done.created, done.updated, done.problems.len()), (0, 1, 0), "{engine}: {done:?}");
        assert_eq!(s.ci(two.id).await.unwrap().name, "two renamed", "{engine}");
        assert_eq!(s.ci(one.id).await.unwrap().name, "one", "{engine}: the other CI was taken");
    }
}

/// The same new CIs imported several times at once are made once: the
/// imports that lose the race find them and report them unchanged.
/// Imports at once that relate the same CIs make each relation once: the
/// later ones find it made (on PostgreSQL by running again when their set
/// of relations meets it) and count it unchanged, with one pair of
/// change-log lines for it.
#[tokio::test]
async fn simultaneous_imports_of_the_same_relations_make_them_once() {
    for db in databases().await {
        let (s, engine) = (db.store.clone(), db.engine);
        let admin = user(&s, "admin@example.org", Role::Admin).await;
        let app = ci(&s, "Application", "shop", json!({})).await;
        let dbs: Vec<i64> = {
            let mut v = Vec::new();
            for n in 0..50 {
                v.push(ci(&s, "Application", &format!("part-{n}"), json!({})).await);
            }
            v
        };
        let relations: Vec<ImportRelation> = dbs
            .iter()
            .enumerate()
            .map(|(n, id)| ImportRelation {
                line: n + 2,
                from: format!("#{app}"),
                to: format!("#{id}"),
                kind: RelationKind::DependsOn,
            })
            .collect();
        let runs = spawn_all((0..3).map(|_| {
            let (s, relations) = (s.clone(), relations.clone());
            async move { s.import_cis(ImportRequest { relations, ..import_of(admin, Vec::new()) }).await }
        }));
        let mut created = 0;
        for done in joined(runs).await {
            let done = done.unwrap_or_else(|e| panic!("{engine}: {e:?}"));
            assert!(done.problems.is_empty(), "{engine}: {done:?}");
            assert_eq!(done.relations_created + done.relations_unchanged, 50, "{engine}: {done:?}");
            created += done.relations_created;
        }
        assert_eq!(created, 50, "{engine}");
        assert_eq!(s.ci_relations(app, None).await.unwrap().len(), 50, "{engine}");
        let lines = s.ci_changes(dbs[0]).await.unwrap().iter().filter(|c| c.field == "relation").count();
        assert_eq!(lines, 1, "{engine}: one line at each end");
    }
}

#[tokio::test]
async fn simultaneous_imports_of_the_same_cis_make_them_once() {
    for db in databases().await {
        let (s, engine) = (db.store.clone(), db.engine);
        let admin = user(&s, "admin@example.org", Role::Admin).await;
        let laptop = class_id(&s, "Laptop").await;
        let rows: Vec<ImportRow> = (0..300)
            .map(|n| ImportRow {
                line: n + 2,
                reference: format!("lap-{n}"),
                fields: CiFields {
                    class_id: laptop,
                    name: format!("lap-{n}"),
                    attributes: obj(json!({ "serial_number": format!("RACE{n}") })),
                    ..Default::default()
                },
                omitted: OPTIONAL_FIELDS.to_vec(),
            })
            .collect();
        let runs = spawn_all((0..3).map(|_| {
            let (s, rows) = (s.clone(), rows.clone());
            async move { s.import_cis(import_of(admin, rows)).await }
        }));
        let mut created = 0;
        for done in joined(runs).await {
            let done = done.unwrap_or_else(|e| panic!("{engine}: {e:?}"));
            assert!(done.problems.is_empty(), "{engine}: {done:?}");
            assert_eq!(done.created + done.unchanged, 300, "{engine}: {done:?}");
            created += done.created;
        }
        assert_eq!(created, 300, "{engine}");
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cis WHERE class_id = $1")
            .bind(laptop)
            .fetch_one(s.pool())
            .await
            .unwrap();
        assert_eq!(n, 300, "{engine}");
    }
}

/// A whole number read as a float (a CSV cell, a form field) is the number
/// the CI holds: a re-import leaves the CI unchanged, and the history does
/// not gain "64 -> 64.0".
#[tokio::test]
async fn a_whole_number_read_as_a_float_is_the_same_number() {
    for db in databases().await {
        let (s, engine) = (db.store.clone(), db.engine);
        let admin = user(&s, "admin@example.org", Role::Admin).await;
        let server = class_id(&s, "Server").await;
        let row = |ram: Value| ImportRow {
            line: 2,
            reference: "web-01".into(),
            fields: CiFields {
                class_id: server,
                name: "web-01".into(),
                attributes: obj(json!({ "hostname": "web-01", "domain": "corp", "ram_gb": ram })),
                ..Default::default()
            },
            omitted: OPTIONAL_FIELDS.to_vec(),
        };
        let first = s.import_cis(import_of(admin, vec![row(json!(64.0))])).await.unwrap();
        assert_eq!(first.created, 1, "{engine}: {first:?}");
        let id = first.rows[0].id.unwrap();
        assert_eq!(s.ci(id).await.unwrap().attributes["ram_gb"], json!(64), "{engine}");
        for ram in [json!(64), json!(64.0)] {
            let again = s.import_cis(import_of(admin, vec![row(ram.clone())])).await.unwrap();
            assert_eq!(again.unchanged, 1, "{engine}: {ram}: {again:?}");
        }
        assert_eq!(s.ci(id).await.unwrap().version, 1, "{engine}");
    }
}

/// A CI made by hand without what identifies its class is updated by a row
/// that lacks it too, found by its name (an export of such CIs reads back);
/// a row without it that names no such CI is refused, as it can make none.
#[tokio::test]
async fn a_row_without_an_identity_updates_the_ci_named_so_that_has_none() {
    for db in databases().await {
        let (s, engine) = (db.store.clone(), db.engine);
        let admin = user(&s, "admin@example.org", Role::Admin).await;
        let new = NewClass {
            name: "Gizmo".into(),
            parent_id: None,
            description: String::new(),
            attributes: vec![attr("serial", AttrKind::Text), attr("colour", AttrKind::Text)],
            identify_by: vec!["serial".into()],
        };
        let gizmo = s.create_ci_class(new, admin).await.unwrap().id;
        let made = s
            .create_ci(CiFields { class_id: gizmo, name: "g-1".into(), ..Default::default() }, ctx(admin))
            .await
            .unwrap();
        let row = |line: usize, name: &str| ImportRow {
            line,
            reference: name.into(),
            fields: CiFields {
                class_id: gizmo,
                name: name.into(),
                attributes: obj(json!({ "colour": "red" })),
                ..Default::default()
            },
            omitted: OPTIONAL_FIELDS.to_vec(),
        };
        let done = s.import_cis(import_of(admin, vec![row(2, "G-1 ")])).await.unwrap();
        assert!(done.problems.is_empty(), "{engine}: {done:?}");
        assert_eq!((done.created, done.updated), (0, 1), "{engine}: {done:?}");
        assert_eq!(s.ci(made.id).await.unwrap().attributes["colour"], "red", "{engine}");
        // Renamed "G-1" by the row; the same row again changes nothing.
        let again = s.import_cis(import_of(admin, vec![row(2, "G-1")])).await.unwrap();
        assert_eq!(again.unchanged, 1, "{engine}: {again:?}");
        let none = s.import_cis(import_of(admin, vec![row(2, "g-2")])).await.unwrap();
        let said: Vec<&str> = none.problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(said, ["serial identifies CIs of this class and is missing"], "{engine}");
        // Blank text in a row clears the attribute, as null does.
        let mut blank = row(2, "G-1");
        blank.fields.attributes.insert("colour".into(), json!("  "));
        let cleared = s.import_cis(import_of(admin, vec![blank])).await.unwrap();
        assert_eq!(cleared.updated, 1, "{engine}: {cleared:?}");
        assert!(s.ci(made.id).await.unwrap().attributes.get("colour").is_none(), "{engine}");

        // A name stored before names had to be one line stays the CI's
        // through other edits; it is only refused as a new name.
        sqlx::query("UPDATE cis SET name = $1 WHERE id = $2")
            .bind("G-1\tspare")
            .bind(made.id)
            .execute(s.pool())
            .await
            .unwrap();
        let old = s.ci(made.id).await.unwrap();
        let mut fields = old.fields();
        fields.attributes.insert("colour".into(), json!("blue"));
        s.update_ci(made.id, None, fields.clone(), ctx(admin)).await.unwrap_or_else(|e| panic!("{engine}: {e:?}"));
        fields.name = "G-1\tother".into();
        let e = s.update_ci(made.id, None, fields, ctx(admin)).await.unwrap_err();
        assert_eq!(fields_of(&e), ["name"], "{engine}");
    }
}

/// A new identification rule that a stored CI's value cannot serve (data
/// from before a rule, written when the class read it otherwise) is refused
/// and names the CI, instead of leaving that CI without an identity.
#[tokio::test]
async fn a_rule_a_stored_value_cannot_serve_is_refused() {
    for db in databases().await {
        let (s, engine) = (db.store.clone(), db.engine);
        let admin = user(&s, "admin@example.org", Role::Admin).await;
        let new = NewClass {
            name: "Badge".into(),
            parent_id: None,
            description: String::new(),
            attributes: vec![attr("code", AttrKind::Text)],
            identify_by: vec![],
        };
        let badge = s.create_ci_class(new, admin).await.unwrap().id;
        let f = CiFields {
            class_id: badge,
            name: "b-1".into(),
            attributes: obj(json!({"code": "x1"})),
            ..Default::default()
        };
        let ci = s.create_ci(f, ctx(admin)).await.unwrap();
        sqlx::query("UPDATE cis SET attributes = $1 WHERE id = $2")
            .bind(r#"{"code":17}"#)
            .bind(ci.id)
            .execute(s.pool())
            .await
            .unwrap();
        let by_code = ClassChanges { identify_by: Some(vec!["code".into()]), ..Default::default() };
        let e = s.update_ci_class(badge, None, by_code, admin).await.unwrap_err();
        let StoreError::Domain(DomainError::Invalid(errs)) = &e else { panic!("{engine}: {e:?}") };
        assert_eq!(errs[0].field, "identify_by", "{engine}: {errs:?}");
        assert!(errs[0].message.contains(&format!("CI {} (b-1)", ci.id)), "{engine}: {errs:?}");
    }
}

/// A search box's words find the words they begin ("pay" finds Payroll,
/// "01" finds LT-010), also past a non-ASCII letter; a filter by exact word
/// does not; and a word of one letter is matched whole.
#[tokio::test]
async fn searched_words_find_the_words_they_begin() {
    for db in databases().await {
        let (s, engine) = (db.store.clone(), db.engine);
        let payroll = ci(&s, "Application", "Payroll app", json!({})).await;
        let laptop = ci(&s, "Application", "LT-010", json!({})).await;
        let malmo = ci(&s, "Application", "Malmö kontor", json!({})).await;
        let a = ci(&s, "Application", "a", json!({})).await;
        ci(&s, "Application", "Pension app", json!({})).await;
        let found = |words: &[&str], prefixes: bool| {
            let s = s.clone();
            let f = CiFilter {
                terms: words.iter().map(|w| w.to_string()).collect(),
                term_prefixes: prefixes,
                ..Default::default()
            };
            async move { s.list_cis(&f, None, 50).await.unwrap().into_iter().map(|c| c.id).collect::<Vec<_>>() }
        };
        assert_eq!(found(&["pay"], true).await, [payroll], "{engine}");
        assert_eq!(found(&["lt", "01"], true).await, [laptop], "{engine}");
        assert_eq!(found(&["malmö"], true).await, [malmo], "{engine}");
        assert_eq!(found(&["malm"], true).await, [malmo], "{engine}");
        assert!(found(&["pay"], false).await.is_empty(), "{engine}");
        assert_eq!(found(&["a"], true).await, [a], "{engine}: one letter is a whole word");

        // A word that is a whole attribute value is found as that value:
        // whole, by its start, beside a word of the name, not as another
        // attribute's value's start it is not.
        let db = ci(&s, "Server", "db-07", json!({"hostname": "db-07", "domain": "corp", "os": "Linux"})).await;
        let web = ci(&s, "Server", "web-07", json!({"hostname": "web-07", "domain": "corp", "os": "BSD"})).await;
        assert_eq!(found(&["linux"], false).await, [db], "{engine}");
        assert_eq!(found(&["lin"], true).await, [db], "{engine}");
        assert_eq!(found(&["web", "corp"], false).await, [web], "{engine}");
        assert_eq!(found(&["co", "07"], true).await, [db, web], "{engine}");
        assert!(found(&["lin"], false).await.is_empty(), "{engine}");
        assert!(found(&["linux", "bsd"], false).await.is_empty(), "{engine}: every word is asked");
        let words: Vec<String> = sqlx::query_scalar("SELECT term FROM ci_terms WHERE ci_id = $1 ORDER BY term")
            .bind(db)
            .fetch_all(s.pool())
            .await
            .unwrap();
        assert_eq!(words, ["07", "db"], "{engine}: the values are not written twice");
    }
}

/// A value taken already is refused once, naming the CI that holds it,
/// also when the attribute is both unique and what identifies the class.
#[tokio::test]
async fn a_taken_value_names_its_holder_once() {
    for db in databases().await {
        let (s, engine) = (db.store.clone(), db.engine);
        let laptop = class_id(&s, "Laptop").await;
        let mk = |name: &str| CiFields {
            class_id: laptop,
            name: name.into(),
            attributes: obj(json!({ "serial_number": "SN-1" })),
            ..Default::default()
        };
        let first = s.create_ci(mk("lap-first"), ChangeContext::default()).await.unwrap();
        let e = s.create_ci(mk("lap-second"), ChangeContext::default()).await.unwrap_err();
        let StoreError::Domain(DomainError::Invalid(errs)) = &e else { panic!("{engine}: {e:?}") };
        assert_eq!(errs.len(), 1, "{engine}: {errs:?}");
        assert_eq!(errs[0].field, "attributes.serial_number", "{engine}");
        assert_eq!(errs[0].message, format!("is already used by lap-first (CI {})", first.id), "{engine}");
    }
}

/// A dry run tells what the import would do: a relation that is current
/// already is unchanged, a row with a problem is counted as neither made
/// nor changed, a relation to a CI the same file disposes is refused, and
/// a relation naming a row with problems says so.
#[tokio::test]
async fn a_dry_run_reports_what_the_import_would_do() {
    for db in databases().await {
        let (s, engine) = (db.store.clone(), db.engine);
        let admin = user(&s, "admin@example.org", Role::Admin).await;
        let app = class_id(&s, "Application").await;
        let laptop = class_id(&s, "Laptop").await;
        let row = |line: usize, class_id: i64, name: &str, attrs: Value, status: Option<CiStatus>| ImportRow {
            line,
            reference: name.into(),
            fields: CiFields { class_id, name: name.into(), attributes: obj(attrs), status, ..Default::default() },
            omitted: if status.is_some() { Vec::new() } else { OPTIONAL_FIELDS.to_vec() },
        };
        let rel = |line: usize, from: &str, to: &str| ImportRelation {
            line,
            from: from.into(),
            to: to.into(),
            kind: RelationKind::DependsOn,
        };
        let first = ImportRequest {
            relations: vec![rel(1, "payroll", "payroll-db")],
            ..import_of(
                admin,
                vec![row(2, app, "payroll", json!({}), None), row(3, app, "payroll-db", json!({}), None)],
            )
        };
        let made = s.import_cis(first.clone()).await.unwrap();
        assert_eq!((made.created, made.relations_created), (2, 1), "{engine}: {made:?}");
        let dry = s.import_cis(ImportRequest { dry_run: true, ..first.clone() }).await.unwrap();
        let real = s.import_cis(first).await.unwrap();
        for r in [&dry, &real] {
            assert_eq!((r.unchanged, r.relations_created, r.relations_unchanged), (2, 0, 1), "{engine}: {r:?}");
        }

        // A serial number another laptop holds: that row is refused, and
        // not counted as one the import would make.
        s.import_cis(import_of(
            admin,
            vec![row(2, laptop, "lap-1", json!({"serial_number": "S1", "asset_tag": "T1"}), None)],
        ))
        .await
        .unwrap();
        let clash = ImportRequest {
            dry_run: true,
            ..import_of(
                admin,
                vec![
                    row(2, laptop, "lap-2", json!({"serial_number": "S2", "asset_tag": "T1"}), None),
                    row(3, laptop, "lap-3", json!({"serial_number": "S3"}), None),
                ],
            )
        };
        let dry = s.import_cis(clash).await.unwrap();
        assert_eq!(dry.problems.len(), 1, "{engine}: {dry:?}");
        assert_eq!(dry.created, 1, "{engine}: {dry:?}");

        // Disposing payroll-db in the file, and relating something new to it.
        let db_id = real.rows[1].id.unwrap();
        s.import_cis(import_of(admin, vec![row(3, app, "payroll-db", json!({}), Some(CiStatus::Retired))]))
            .await
            .unwrap();
        let gone = ImportRequest {
            dry_run: true,
            relations: vec![rel(1, "reports", &format!("#{db_id}")), rel(2, "broken", "payroll")],
            ..import_of(
                admin,
                vec![
                    row(2, app, "reports", json!({}), None),
                    row(3, app, "payroll-db", json!({}), Some(CiStatus::Disposed)),
                    row(4, app, "broken", json!({"no_such": 1}), None),
                ],
            )
        };
        let dry = s.import_cis(gone).await.unwrap();
        let said: Vec<(&str, &str)> = dry.problems.iter().map(|p| (p.at.as_str(), p.message.as_str())).collect();
        assert!(said.contains(&("relations[1]", "is disposed and can have no new relations")), "{engine}: {said:?}");
        assert!(
            said.iter().any(|(at, m)| *at == "relations[2]" && m.contains("problems of its own")),
            "{engine}: {said:?}"
        );
    }
}

/// A class change may not take away what a subclass identifies its CIs by,
/// even when no CI holds it yet: Laptops are found by the serial number
/// they inherit from Hardware.
#[tokio::test]
async fn a_parent_class_keeps_what_its_subclasses_identify_by() {
    for db in databases().await {
        let (s, engine) = (db.store.clone(), db.engine);
        let admin = user(&s, "admin@example.org", Role::Admin).await;
        let classes = s.ci_classes().await.unwrap();
        let hardware = classes.by_name("Hardware").unwrap().clone();
        let without: Vec<AttributeDef> =
            hardware.attributes.iter().filter(|a| a.name != "serial_number").cloned().collect();
        let e = s
            .update_ci_class(
                hardware.id,
                None,
                ClassChanges { attributes: Some(without), identify_by: Some(Vec::new()), ..Default::default() },
                admin,
            )
            .await
            .unwrap_err();
        let StoreError::Domain(DomainError::Invalid(errs)) = &e else { panic!("{engine}: {e:?}") };
        assert!(
            errs.iter().any(|f| f.field == "attributes" && f.message.starts_with("Laptop identifies")),
            "{engine}: {errs:?}"
        );
        let as_json: Vec<AttributeDef> = hardware
            .attributes
            .iter()
            .map(|a| {
                if a.name == "serial_number" {
                    AttributeDef { kind: AttrKind::Json, unique: false, ..a.clone() }
                } else {
                    a.clone()
                }
            })
            .collect();
        let e = s
            .update_ci_class(
                hardware.id,
                None,
                ClassChanges { attributes: Some(as_json), identify_by: Some(Vec::new()), ..Default::default() },
                admin,
            )
            .await
            .unwrap_err();
        assert!(fields_of(&e).contains(&"attributes".to_string()), "{engine}: {e:?}");
    }
}

/// Classes named alike (ignoring case) by several admins at once: one is
/// made, the others are told the name is taken.
#[tokio::test]
async fn classes_named_alike_at_once_are_made_once() {
    for db in databases().await {
        let (s, engine) = (db.store.clone(), db.engine);
        let admin = user(&s, "admin@example.org", Role::Admin).await;
        let makes = spawn_all(["Phone", "phone", "PHONE", "Phone "].into_iter().map(|name| {
            let s = s.clone();
            let new = NewClass {
                name: name.into(),
                parent_id: None,
                description: String::new(),
                attributes: Vec::new(),
                identify_by: Vec::new(),
            };
            async move { s.create_ci_class(new, admin).await }
        }));
        let mut made = 0;
        for m in joined(makes).await {
            match m {
                Ok(_) => made += 1,
                Err(StoreError::Duplicate { field: "name" }) => {}
                Err(e) => panic!("{engine}: {e:?}"),
            }
        }
        assert_eq!(made, 1, "{engine}");
    }
}

/// A CI linked to an incident by several agents at once is linked once,
/// and none of them gets an error (on PostgreSQL the later ones met the key).
#[tokio::test]
async fn a_ci_linked_to_a_record_at_once_by_several_is_linked_once() {
    for db in databases().await {
        let (s, engine) = (db.store.clone(), db.engine);
        let agent = user(&s, "agent@example.org", Role::Agent).await;
        let record = s.create_incident(varde_store::testing::incident(agent), None).await.unwrap().0.id;
        let app = ci(&s, "Application", "Mail", json!({})).await;
        let links = spawn_all((0..16).map(|_| {
            let s = s.clone();
            async move { s.link_record_ci(record, app, agent).await }
        }));
        let made: Vec<bool> =
            joined(links).await.into_iter().map(|l| l.unwrap_or_else(|e| panic!("{engine}: {e:?}"))).collect();
        assert_eq!(made.iter().filter(|m| **m).count(), 1, "{engine}");
    }
}

/// Checklists worked by several people at once: two lists made at once for
/// one person are one, and the last items handed back at once close the
/// list (on PostgreSQL each counted the other's item as still open).
#[tokio::test]
async fn a_checklist_worked_by_several_at_once_is_made_once_and_closes() {
    for db in databases().await {
        let (s, engine) = (db.store.clone(), db.engine);
        let admin = user(&s, "admin@example.org", Role::Admin).await;
        let ann = user(&s, "ann@example.org", Role::Requester).await;
        let laptop = class_id(&s, "Laptop").await;
        for n in 0..4 {
            let f = CiFields {
                class_id: laptop,
                name: format!("lap-{n}"),
                used_by_id: Some(ann),
                attributes: obj(json!({ "serial_number": format!("CL{n}") })),
                ..Default::default()
            };
            s.create_ci(f, ctx(admin)).await.unwrap();
        }
        let makes = spawn_all((0..4).map(|_| {
            let s = s.clone();
            async move { s.create_checklist(ann, admin).await }
        }));
        let mut lists = Vec::new();
        for m in joined(makes).await {
            match m {
                Ok(l) => lists.push(l),
                Err(StoreError::InUse(_)) => {}
                Err(e) => panic!("{engine}: {e:?}"),
            }
        }
        assert_eq!(lists.len(), 1, "{engine}");
        let list = lists.pop().unwrap();
        assert_eq!(list.items.len(), 4, "{engine}");
        let done = spawn_all(list.items.iter().map(|item| {
            let (s, id, item) = (s.clone(), list.id, item.id);
            async move { s.complete_checklist_item(id, item, String::new(), admin).await }
        }));
        for d in joined(done).await {
            d.unwrap_or_else(|e| panic!("{engine}: {e:?}"));
        }
        let now = s.checklist(list.id).await.unwrap();
        assert!(now.items.iter().all(|i| i.done_at.is_some()), "{engine}: {now:?}");
        assert!(now.closed_at.is_some(), "{engine}: every item handed back, and the list still open");
    }
}

/// A relation made by several writers at once is made once; the others are
/// told it exists (on PostgreSQL each checked before the others committed,
/// and the relation was current several times).
#[tokio::test]
async fn a_relation_made_at_once_by_several_writers_is_made_once() {
    for db in databases().await {
        let (s, engine) = (db.store.clone(), db.engine);
        let app = ci(&s, "Application", "Payroll app", json!({})).await;
        let db_ci = ci(&s, "Application", "Payroll db", json!({})).await;
        let tries =
            spawn_all((0..8).map(|_| {
                let s = s.clone();
                async move {
                    s.add_ci_relation(app, db_ci, RelationKind::DependsOn, Map::new(), ChangeContext::default()).await
                }
            }));
        let mut made = 0;
        for t in joined(tries).await {
            match t {
                Ok(_) => made += 1,
                Err(StoreError::InUse(m)) => assert!(m.contains("exists already"), "{engine}: {m}"),
                Err(e) => panic!("{engine}: {e:?}"),
            }
        }
        assert_eq!(made, 1, "{engine}");
        let current: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ci_relations WHERE from_id = $1 AND valid_to = $2")
            .bind(app)
            .bind(i64::MAX)
            .fetch_one(s.pool())
            .await
            .unwrap();
        assert_eq!(current, 1, "{engine}");
    }
}

/// Imports that update CIs being edited at the same moment wait for the
/// edits, or the edits for them, and then go in: none fails on a newer
/// version or a deadlock (on PostgreSQL they met both), and a relation the
/// file names that another writer makes meanwhile counts as there.
#[tokio::test]
async fn imports_and_edits_of_the_same_cis_at_once_all_go_in() {
    for db in databases().await {
        let (s, engine) = (db.store.clone(), db.engine);
        let admin = user(&s, "admin@example.org", Role::Admin).await;
        let app = class_id(&s, "Application").await;
        let hub = ci(&s, "Application", "hub", json!({})).await;
        let row = |n: usize, colour: &str| ImportRow {
            line: n + 2,
            reference: format!("app-{n}"),
            fields: CiFields {
                class_id: app,
                name: format!("app-{n}"),
                attributes: obj(json!({ "vendor": colour })),
                ..Default::default()
            },
            omitted: OPTIONAL_FIELDS.to_vec(),
        };
        let first = s.import_cis(import_of(admin, (0..4).map(|n| row(n, "a")).collect())).await.unwrap();
        let ids: Vec<i64> = first.rows.iter().filter_map(|r| r.id).collect();
        for round in 0..3 {
            let imports = spawn_all((0..4).map(|i| {
                let s = s.clone();
                // Each file lists the CIs in another order.
                let mut rows: Vec<ImportRow> = (0..4).map(|n| row(n, &format!("r{round}i{i}"))).collect();
                rows.rotate_left(i);
                let relations = vec![ImportRelation {
                    line: 1,
                    from: "app-0".into(),
                    to: format!("#{hub}"),
                    kind: RelationKind::DependsOn,
                }];
                async move { s.import_cis(ImportRequest { relations, ..import_of(admin, rows) }).await }
            }));
            let edits = spawn_all(ids.iter().map(|id| {
                let (s, id) = (s.clone(), *id);
                async move {
                    let ci = s.ci(id).await?;
                    let mut f = ci.fields();
                    f.attributes.insert("version".into(), json!(format!("e{round}")));
                    s.update_ci(id, None, f, ctx(admin)).await
                }
            }));
            let link = {
                let s = s.clone();
                let from = ids[0];
                tokio::spawn(async move {
                    s.add_ci_relation(from, hub, RelationKind::DependsOn, Map::new(), ChangeContext::default()).await
                })
            };
            let mut made = 0;
            for done in joined(imports).await {
                let done = done.unwrap_or_else(|e| panic!("{engine}, round {round}: {e:?}"));
                assert!(done.problems.is_empty(), "{engine}: {done:?}");
                // The file's one relation: made by it, or found there.
                assert_eq!(done.relations_created + done.relations_unchanged, 1, "{engine}: {done:?}");
                made += done.relations_created;
            }
            for e in joined(edits).await {
                // An edit of a CI read before an import changed it is told
                // so (the API merges again); nothing else may go wrong.
                assert!(matches!(e, Ok(_) | Err(StoreError::Conflict { .. })), "{engine}: {e:?}");
            }
            // Made once in all: by an import, or by the hand that raced them.
            let by_hand = link.await.unwrap().is_ok();
            assert_eq!(made + usize::from(by_hand), usize::from(round == 0), "{engine}, round {round}");
        }
    }
}

/// A unique attribute's value given by several writers at once goes to one
/// CI: by hand and by import. (On PostgreSQL each writer's check ran before
/// the others committed, so all of them passed.)
#[tokio::test]
async fn a_unique_value_given_at_once_by_several_writers_goes_to_one() {
    for db in databases().await {
        let (s, engine) = (db.store.clone(), db.engine);
        let admin = user(&s, "admin@example.org", Role::Admin).await;
        let laptop = class_id(&s, "Laptop").await;
        let fields = |n: usize, tag: &str| CiFields {
            class_id: laptop,
            name: format!("lap-{tag}-{n}"),
            attributes: obj(json!({ "serial_number": format!("S-{tag}-{n}"), "asset_tag": tag })),
            ..Default::default()
        };
        let creates = spawn_all((0..8).map(|n| {
            let (s, f) = (s.clone(), fields(n, "AT-1"));
            async move { s.create_ci(f, ctx(admin)).await }
        }));
        let imports = spawn_all((0..4).map(|n| {
            let row = ImportRow {
                line: 2,
                reference: format!("r{n}"),
                fields: fields(n, "AT-2"),
                omitted: OPTIONAL_FIELDS.to_vec(),
            };
            let s = s.clone();
            async move { s.import_cis(import_of(admin, vec![row])).await }
        }));
        let mut made = 0;
        for c in joined(creates).await {
            match c {
                Ok(_) => made += 1,
                Err(e) => assert_eq!(fields_of(&e), ["attributes.asset_tag"], "{engine}: {e:?}"),
            }
        }
        assert_eq!(made, 1, "{engine}: creates");
        let mut imported = 0;
        for done in joined(imports).await {
            let done = done.unwrap_or_else(|e| panic!("{engine}: {e:?}"));
            match done.problems.first() {
                None => imported += done.created,
                Some(p) => assert!(p.message.contains("already used"), "{engine}: {done:?}"),
            }
        }
        assert_eq!(imported, 1, "{engine}: imports");
        for tag in ["AT-1", "AT-2"] {
            let f = CiFilter { attributes: vec![("asset_tag".into(), tag.to_lowercase())], ..Default::default() };
            assert_eq!(s.list_cis(&f, None, 50).await.unwrap().len(), 1, "{engine}: {tag}");
        }
    }
}

/// On PostgreSQL a CI write that checks against the classes waits while a
/// class change is under way (it holds the class lock), so that the change
/// cannot miss it: a value made unique, or identities recomputed, would
/// otherwise not see a CI written against the classes as they were.
#[tokio::test]
async fn a_ci_write_on_postgresql_waits_for_a_class_change_under_way() {
    let Some(db) = varde_store::testing::postgres().await else { return };
    let s = db.store.clone();
    let admin = user(&s, "admin@example.org", Role::Admin).await;
    let laptop = class_id(&s, "Laptop").await;
    // A class change in flight, as `update_ci_class` holds it.
    let mut change = s.pool().begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(varde_store::cmdb::CLASSES_LOCK)
        .execute(&mut *change)
        .await
        .unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *change).await.unwrap();
    let writer = s.clone();
    let fields = CiFields {
        class_id: laptop,
        name: "lap-w".into(),
        attributes: obj(json!({ "serial_number": "W1" })),
        ..Default::default()
    };
    let write = tokio::spawn(async move { writer.create_ci(fields, ctx(admin)).await });
    let mut waited = false;
    for _ in 0..250 {
        let blocked: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid)))")
                .bind(pid)
                .fetch_one(s.pool())
                .await
                .unwrap();
        if blocked || write.is_finished() {
            waited = blocked;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    change.rollback().await.unwrap();
    assert!(waited, "the CI write went ahead of the class change");
    write.await.unwrap().unwrap();
}

/// A CI made by hand before its identifying attributes were known has no
/// identity. The first import that knows them finds it by class and name
/// and gives it them, instead of making a second CI; where two such CIs
/// share the name, the row says so and nothing is written.
#[tokio::test]
async fn an_import_finds_a_ci_made_before_its_identity_was_known() {
    for db in databases().await {
        let (s, engine) = (&db.store, db.engine);
        let actor = user(s, "discovery@example.org", Role::Agent).await;
        let server = class_id(s, "Server").await;
        let by_hand = ci(s, "Server", "web-07", json!({ "os": "linux" })).await;
        let row = |line: usize, name: &str, host: &str| ImportRow {
            line,
            reference: host.into(),
            fields: CiFields {
                class_id: server,
                name: name.into(),
                attributes: obj(json!({ "hostname": host, "domain": "corp" })),
                ..Default::default()
            },
            omitted: OPTIONAL_FIELDS.to_vec(),
        };
        let count = || async {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cis").fetch_one(s.pool()).await.unwrap();
            n
        };
        let before = count().await;
        let done = s.import_cis(import_of(actor, vec![row(2, "web-07", "web-07")])).await.unwrap();
        assert_eq!((done.created, done.updated, done.problems.len()), (0, 1, 0), "{engine}: {done:?}");
        assert_eq!(count().await, before, "{engine}: no second web-07");
        let now = s.ci(by_hand).await.unwrap();
        assert_eq!(
            (now.attributes["hostname"].clone(), now.attributes["os"].clone()),
            (json!("web-07"), json!("linux"))
        );
        // Found by its identity from now on: the same row is unchanged.
        let again = s.import_cis(import_of(actor, vec![row(2, "web-07", "web-07")])).await.unwrap();
        assert_eq!((again.created, again.unchanged), (0, 1), "{engine}: {again:?}");
        // The name is matched as a name identity is: case and surrounding
        // space aside ("Ärende" and "ärende" too, on both engines).
        for (made, typed) in [("Mail-Relay", "mail-relay"), ("Ärende-1", "ärende-1")] {
            let by_hand = ci(s, "Server", made, json!({})).await;
            let done = s.import_cis(import_of(actor, vec![row(2, typed, &typed.to_lowercase())])).await.unwrap();
            assert_eq!((done.created, done.updated), (0, 1), "{engine}: {typed}: {done:?}");
            assert_eq!(s.ci(by_hand).await.unwrap().attributes["hostname"], json!(typed), "{engine}");
        }
        // Two rows of one file with the name: the first takes the CI, the
        // second (another host) is new.
        let lone = ci(s, "Server", "app", json!({})).await;
        let done = s.import_cis(import_of(actor, vec![row(2, "app", "app-a"), row(3, "app", "app-b")])).await.unwrap();
        assert_eq!((done.created, done.updated), (1, 1), "{engine}: {done:?}");
        assert_eq!(s.ci(lone).await.unwrap().attributes["hostname"], json!("app-a"), "{engine}");
        // Two unidentified CIs of one name: which one is meant is unknown.
        let a = ci(s, "Server", "db", json!({})).await;
        let b = ci(s, "Server", "db", json!({})).await;
        let held = count().await;
        let refused = s.import_cis(import_of(actor, vec![row(2, "db", "db-01")])).await.unwrap();
        let problems = &refused.problems;
        assert_eq!((problems.len(), refused.created, refused.import_id), (1, 0, None), "{engine}: {refused:?}");
        assert!(problems[0].message.contains(&format!("CI {a} and CI {b}")), "{engine}: {problems:?}");
        assert_eq!(count().await, held, "{engine}: nothing written");
    }
}

/// A retired or disposed CI is out of service: the impact walk neither
/// reaches nor passes through it (as of an instant, with the status of
/// then), and a disposed CI takes no new relations.
#[tokio::test]
async fn impact_goes_around_what_is_out_of_service() {
    for db in databases().await {
        let (s, engine) = (&db.store, db.engine);
        let payroll = ci(s, "Business service", "Payroll", json!({})).await;
        let app = ci(s, "Application", "Payroll app", json!({})).await;
        let old_db = ci(s, "Database", "db-old", json!({})).await;
        let san = ci(s, "Hardware", "SAN-2", json!({"serial_number": "S2"})).await;
        rel(s, payroll, app, RelationKind::DependsOn).await;
        rel(s, app, old_db, RelationKind::DependsOn).await;
        rel(s, old_db, san, RelationKind::RunsOn).await;
        let services = |i: &varde_store::cmdb::Impact| i.services.iter().map(|x| x.id).collect::<Vec<_>>();
        let set_org = |org: i64| async move {
            let mut f = s.ci(payroll).await.unwrap().fields();
            f.organisation_id = Some(org);
            s.update_ci(payroll, None, f, ChangeContext::default()).await.unwrap();
        };
        let (acme, globex) = (
            s.create_organisation("ACME".into(), None).await.unwrap().id,
            s.create_organisation("Globex".into(), None).await.unwrap().id,
        );
        set_org(acme).await;
        assert_eq!(services(&s.impact(san, Direction::Up, 10, None).await.unwrap()), vec![payroll], "{engine}");
        let in_service = varde_store::now_micros();
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        set_org(globex).await;
        let mut f = s.ci(old_db).await.unwrap().fields();
        f.status = Some(CiStatus::Retired);
        s.update_ci(old_db, None, f, ChangeContext::default()).await.unwrap();
        let up = s.impact(san, Direction::Up, 10, None).await.unwrap();
        assert_eq!((up.reached, services(&up)), (0, vec![]), "{engine}: not through a retired database");
        let down = s.impact(payroll, Direction::Down, 10, None).await.unwrap();
        assert_eq!(down.nodes.iter().map(|n| n.id).collect::<Vec<_>>(), vec![app], "{engine}");
        // As of when it ran, it was in service.
        let then = s.impact(san, Direction::Up, 10, Some(in_service)).await.unwrap();
        assert_eq!(services(&then), vec![payroll], "{engine}: as of then");
        assert_eq!(then.organisation_ids, vec![acme], "{engine}: the customer of then, not of now");
        // From the retired CI itself the walk still starts.
        assert_eq!(services(&s.impact(old_db, Direction::Up, 10, None).await.unwrap()), vec![payroll], "{engine}");
        // Disposed: gone, and nothing new relates to it.
        let mut f = s.ci(old_db).await.unwrap().fields();
        f.status = Some(CiStatus::Disposed);
        s.update_ci(old_db, None, f, ChangeContext::default()).await.unwrap();
        let refused =
            s.add_ci_relation(app, old_db, RelationKind::DependsOn, Map::new(), ChangeContext::default()).await;
        assert_eq!(fields_of(&refused.unwrap_err()), ["to_id"], "{engine}");
        let refused =
            s.add_ci_relation(old_db, san, RelationKind::DependsOn, Map::new(), ChangeContext::default()).await;
        assert_eq!(fields_of(&refused.unwrap_err()), ["from_id"], "{engine}");
        // An import likewise, though it may name a relation the CI had.
        let relate = |from: i64, to: i64| ImportRelation {
            line: 0,
            from: format!("#{from}"),
            to: format!("#{to}"),
            kind: RelationKind::DependsOn,
        };
        let actor = user(s, "discovery@example.org", Role::Agent).await;
        let import = |r: ImportRelation| ImportRequest { relations: vec![r], ..import_of(actor, Vec::new()) };
        let had = s.import_cis(import(relate(app, old_db))).await.unwrap();
        assert_eq!((had.problems.len(), had.relations_unchanged), (0, 1), "{engine}: {had:?}");
        let new = s.import_cis(import(relate(payroll, old_db))).await.unwrap();
        assert_eq!(new.problems.iter().map(|p| p.field.as_str()).collect::<Vec<_>>(), ["to"], "{engine}: {new:?}");
        assert_eq!(new.relations_created, 0, "{engine}");
    }
}

/// A CI is located in a Location and supplied by a Supplier (or CIs of
/// their subclasses), never in or by itself; by hand and by import.
#[tokio::test]
async fn a_location_is_a_location_and_a_supplier_a_supplier() {
    for db in databases().await {
        let (s, engine) = (&db.store, db.engine);
        let actor = user(s, "cmdb@example.org", Role::Agent).await;
        let room = ci(s, "Location", "Room 101", json!({})).await;
        let vendor = ci(s, "Supplier", "Dell", json!({})).await;
        let laptop = ci(s, "Laptop", "lt-1", json!({"serial_number": "L1"})).await;
        let app = ci(s, "Application", "CRM", json!({})).await;
        let server = class_id(s, "Server").await;
        let fields = |location: Option<i64>, supplier: Option<i64>| CiFields {
            class_id: server,
            name: "web-1".into(),
            location_id: location,
            supplier_id: supplier,
            attributes: obj(json!({"hostname": "web-1", "domain": "corp"})),
            ..Default::default()
        };
        let web = s.create_ci(fields(Some(room), Some(vendor)), ctx(actor)).await.unwrap().id;
        let other = CiFields {
            name: "web-2".into(),
            attributes: obj(json!({"hostname": "web-2", "domain": "corp"})),
            ..fields(Some(laptop), Some(app))
        };
        let bad = s.create_ci(other, ctx(actor)).await.unwrap_err();
        assert_eq!(fields_of(&bad), ["location_id", "supplier_id"], "{engine}");
        let bad = s.update_ci(web, None, fields(Some(web), Some(vendor)), ctx(actor)).await.unwrap_err();
        assert_eq!(fields_of(&bad), ["location_id"], "{engine}: not in itself");
        // A location from before the rule does not make the CI uneditable.
        sqlx::query("UPDATE cis SET location_id = $1 WHERE id = $2")
            .bind(laptop)
            .bind(web)
            .execute(s.pool())
            .await
            .unwrap();
        let kept = CiFields { cost: Some(100), ..fields(Some(laptop), Some(vendor)) };
        s.update_ci(web, None, kept, ctx(actor)).await.unwrap();
        let row = ImportRow {
            line: 2,
            reference: "web-1".into(),
            fields: fields(Some(app), None),
            omitted: OPTIONAL_FIELDS.iter().copied().filter(|f| *f != "location_id").collect(),
        };
        let refused = s.import_cis(import_of(actor, vec![row])).await.unwrap();
        let named: Vec<&str> = refused.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!((named, refused.import_id), (vec!["location_id"], None), "{engine}: {refused:?}");
    }
}
