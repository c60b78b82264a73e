//! Compiled business calendars for clock arithmetic, by calendar id.
//!
//! Compiling a calendar costs more than the arithmetic a write does with it,
//! so compiled calendars are cached in memory, keyed by the calendar's
//! stored spec text itself: a changed calendar has another text and is
//! compiled afresh, on any node, with no invalidation message to miss.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use sqlx::AnyConnection;
use varde_domain::sla::calendar::{Calendar, CalendarSpec};
use varde_domain::sla::clock::{Always, WorkingTime};

use crate::sql::{Arg, Sql};
use crate::StoreError;

pub type Cal = Arc<dyn WorkingTime + Send + Sync>;

/// The calendars of `ids` (`None` = 24x7), ready for arithmetic.
#[derive(Clone, Default)]
pub struct Calendars {
    by_id: HashMap<i64, Cal>,
}

impl Calendars {
    pub fn get(&self, id: Option<i64>) -> Cal {
        match id {
            None => Arc::new(Always),
            // A calendar deleted under a clock: measure 24x7 rather than fail
            // every write to the record; deletion of a calendar in use is
            // refused by the calendar store.
            Some(id) => self.by_id.get(&id).cloned().unwrap_or_else(|| Arc::new(Always)),
        }
    }
    pub fn insert(&mut self, id: i64, cal: Cal) {
        self.by_id.insert(id, cal);
    }
}

fn cache() -> &'static Mutex<HashMap<String, Cal>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Cal>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Compiles (or finds compiled) the calendar stored as `spec`.
pub fn compiled(spec: &str) -> Result<Cal, StoreError> {
    if let Some(c) = cache().lock().expect("calendar cache").get(spec) {
        return Ok(c.clone());
    }
    let cal = compile(spec)?;
    let mut m = cache().lock().expect("calendar cache");
    if m.len() > 1000 {
        m.clear();
    }
    m.insert(spec.to_string(), cal.clone());
    Ok(cal)
}

fn compile(spec: &str) -> Result<Cal, StoreError> {
    let spec: CalendarSpec = serde_json::from_str(spec).map_err(|e| StoreError::corrupt(format!("calendar: {e}")))?;
    Ok(Arc::new(Calendar::compile(&spec)?))
}

pub(crate) async fn exists_in(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    crate::sql::exists(conn, "calendars", id).await
}

/// Loads and compiles the calendars with these ids.
pub(crate) async fn load_in(conn: &mut AnyConnection, ids: &[i64]) -> Result<Calendars, StoreError> {
    let mut out = Calendars::default();
    let mut ids: Vec<i64> = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut q = Sql::new("SELECT id, spec FROM calendars WHERE id IN ");
    q.bind_list(ids.iter().map(|i| Arg::Int(*i)));
    let rows: Vec<(i64, String)> = q.query_as().fetch_all(conn).await?;
    for (id, spec) in rows {
        out.insert(id, compiled(&spec)?);
    }
    Ok(out)
}
