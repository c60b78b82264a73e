//! Versioned schema migrations, applied in order on start, each in its own
//! transaction. A migration is written once; the few words the engines spell
//! differently are placeholders:
//! `{pk}` an auto-numbered 64-bit primary key, `{blob}` binary data.
//! Engine-only statements (full-text search, sequences) sit beside it.
//!
//! Never edit a migration that has been released: add a new one.

use sqlx::{AnyConnection, Connection, Executor};

use crate::{Engine, StoreError};

pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub common: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        common: include_str!("../migrations/0001_foundation.sql"),
        sqlite: include_str!("../migrations/0001_foundation.sqlite.sql"),
        postgres: include_str!("../migrations/0001_foundation.postgres.sql"),
    },
    Migration {
        version: 2,
        name: "search",
        common: include_str!("../migrations/0002_search.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 3,
        name: "queue indexes",
        common: include_str!("../migrations/0003_queue_indexes.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 4,
        name: "calendars",
        common: include_str!("../migrations/0004_calendars.sql"),
        sqlite: include_str!("../migrations/0004_calendars.sqlite.sql"),
        postgres: include_str!("../migrations/0004_calendars.postgres.sql"),
    },
    Migration {
        version: 5,
        name: "cmdb",
        common: include_str!("../migrations/0005_cmdb.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 6,
        name: "problems and knowledge",
        common: include_str!("../migrations/0006_problems_knowledge.sql"),
        sqlite: include_str!("../migrations/0006_problems_knowledge.sqlite.sql"),
        postgres: include_str!("../migrations/0006_problems_knowledge.postgres.sql"),
    },
    Migration { version: 7, name: "sla", common: include_str!("../migrations/0007_sla.sql"), sqlite: "", postgres: "" },
    Migration {
        version: 8,
        name: "group managers",
        common: include_str!("../migrations/0008_group_managers.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 9,
        name: "sla report index of stopped clocks",
        common: include_str!("../migrations/0009_sla_report_index.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 10,
        name: "cmdb index tables clustered on sqlite",
        common: "",
        sqlite: include_str!("../migrations/0010_cmdb_index_tables.sqlite.sql"),
        postgres: "",
    },
    Migration {
        version: 11,
        name: "knowledge search table on postgresql",
        common: "",
        sqlite: "",
        postgres: include_str!("../migrations/0011_knowledge_search.postgres.sql"),
    },
    Migration {
        version: 12,
        name: "reader tokens in requester search documents",
        common: "",
        sqlite: include_str!("../migrations/0012_reader_tokens.sqlite.sql"),
        postgres: include_str!("../migrations/0012_reader_tokens.postgres.sql"),
    },
    Migration {
        version: 13,
        name: "room for in-place clock updates on postgresql",
        common: "",
        sqlite: "",
        postgres: include_str!("../migrations/0013_sla_clock_fillfactor.postgres.sql"),
    },
    Migration {
        version: 14,
        name: "sla_due unindexed",
        common: include_str!("../migrations/0014_sla_due_unindexed.sql"),
        sqlite: "",
        postgres: include_str!("../migrations/0014_sla_due_unindexed.postgres.sql"),
    },
    Migration {
        version: 15,
        name: "the priority a clock's target was chosen for",
        common: include_str!("../migrations/0015_sla_clock_priority.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 16,
        name: "unidentified CIs by class and name",
        common: include_str!("../migrations/0016_cis_unidentified.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 17,
        name: "desk notes about problems are work notes",
        common: include_str!("../migrations/0017_desk_notes.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 18,
        name: "CI identity keys of several values escape their separator",
        common: include_str!("../migrations/0018_ci_identity_escaped.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 19,
        name: "CI index rows without foreign keys on postgresql",
        common: "",
        sqlite: "",
        postgres: include_str!("../migrations/0019_ci_index_rows_unchecked.postgres.sql"),
    },
    Migration {
        version: 20,
        name: "search entries of records with converted desk notes",
        common: include_str!("../migrations/0020_desk_notes_searchable.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 21,
        name: "a CI relation is current at most once",
        common: include_str!("../migrations/0021_ci_relation_current_once.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 22,
        name: "CI search words compare by code point on postgresql",
        common: "",
        sqlite: "",
        postgres: include_str!("../migrations/0022_ci_terms_by_code_point.postgres.sql"),
    },
    Migration {
        version: 23,
        name: "a CI's current version is its row",
        common: include_str!("../migrations/0023_ci_current_version_is_the_row.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 24,
        name: "CI search words that are attribute values are found as values",
        common: include_str!("../migrations/0024_ci_words_that_are_values.sql"),
        sqlite: "",
        postgres: include_str!("../migrations/0024_ci_words_that_are_values.postgres.sql"),
    },
    Migration {
        version: 25,
        name: "who made a CI is on its row",
        common: include_str!("../migrations/0025_ci_made_by_on_the_row.sql"),
        sqlite: "",
        postgres: "",
    },
];

fn render(sql: &str, engine: Engine) -> String {
    match engine {
        Engine::Sqlite => sql.replace("{pk}", "INTEGER PRIMARY KEY").replace("{blob}", "BLOB"),
        Engine::Postgres => {
            sql.replace("{pk}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY").replace("{blob}", "BYTEA")
        }
    }
}

/// Splits a script into statements at `;` line ends. Our migrations keep
/// one statement per `;`-terminated block, so this needs no SQL parser.
fn statements(script: &str) -> impl Iterator<Item = &str> {
    script.split(";\n").map(str::trim).filter(|s| !s.is_empty() && !s.lines().all(|l| l.trim_start().starts_with("--")))
}

/// Brings the schema to the newest version, or to `upto` (for upgrade tests).
pub(crate) async fn migrate_to(conn: &mut AnyConnection, engine: Engine, upto: i64) -> Result<(), StoreError> {
    if engine == Engine::Postgres {
        // Several nodes may start at once; one migrates, the others wait.
        conn.execute("SELECT pg_advisory_lock(7261001)").await?;
    }
    let result = apply(conn, engine, upto).await;
    if engine == Engine::Postgres {
        conn.execute("SELECT pg_advisory_unlock(7261001)").await?;
    }
    result
}

pub(crate) async fn migrate(conn: &mut AnyConnection, engine: Engine) -> Result<(), StoreError> {
    migrate_to(conn, engine, i64::MAX).await
}

async fn apply(conn: &mut AnyConnection, engine: Engine, upto: i64) -> Result<(), StoreError> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let current: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations").fetch_one(&mut *conn).await?;
    let current = current.unwrap_or(0);
    let newest = MIGRATIONS.last().map(|m| m.version).unwrap_or(0);
    if current > newest {
        return Err(StoreError::Database(format!(
            "the database has schema version {current}, newer than this program knows ({newest}); use a newer Varde"
        )));
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current && m.version <= upto) {
        let mut tx = conn.begin().await?;
        let own = match engine {
            Engine::Sqlite => m.sqlite,
            Engine::Postgres => m.postgres,
        };
        for stmt in statements(&render(m.common, engine)).chain(statements(own)) {
            tx.execute(stmt).await.map_err(|e| {
                StoreError::Database(format!("migration {} ({}) failed: {e}\nin: {stmt}", m.version, m.name))
            })?;
        }
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(m.version)
            .bind(m.name)
            .bind(crate::now_micros())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_and_skip_comments() {
        let s: Vec<_> = statements("-- a comment\nCREATE TABLE a (x INT);\n\nCREATE INDEX i ON a (x);\n").collect();
        assert_eq!(s, vec!["-- a comment\nCREATE TABLE a (x INT)", "CREATE INDEX i ON a (x)"]);
    }
}
