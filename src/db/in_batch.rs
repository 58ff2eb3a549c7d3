//! `column IN (a batch of values)`, written so that its SQL doesn't depend on
//! how many values there are, and diesel can keep the prepared statement.
//!
//! Diesel's `eq_any` sends SQLite one `?` per value, so every batch is new
//! SQL, prepared afresh: 17 % of the door writer's time went to preparing
//! statements (`perf`, BENCHMARKS.md history 24). Here SQLite gets the
//! values as one JSON array (`IN (SELECT value FROM json_each(?))`), and
//! PostgreSQL gets what `eq_any` sends it already, one array (`= ANY($1)`).

use super::multi_connection_impl::MultiBackend;
use diesel::expression::{AppearsOnTable, Expression, ValidGrouping};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{Array, Bool, HasSqlType, SqlType, Text};
use diesel::sqlite::Sqlite;
use diesel::QueryResult;
use std::cell::OnceCell;
use std::marker::PhantomData;

pub struct InBatch<C, T> {
    column: C,
    values: Vec<T>,
    /// The values as SQLite's JSON array, written when first needed.
    json: OnceCell<String>,
}

/// `column IN values`, for a `filter`.
pub fn in_batch<C, T>(column: C, values: Vec<T>) -> InBatch<C, T> {
    InBatch {
        column,
        values,
        json: OnceCell::new(),
    }
}

impl<C, T> Expression for InBatch<C, T> {
    type SqlType = Bool;
}

impl<C: AppearsOnTable<QS>, T, QS> AppearsOnTable<QS> for InBatch<C, T> {}

impl<C: ValidGrouping<GB>, T, GB> ValidGrouping<GB> for InBatch<C, T> {
    type IsAggregate = C::IsAggregate;
}

/// The SQL depends only on the column, so the column says which statement
/// this is: diesel finds it in its cache without building the SQL again.
pub struct InBatchId<C>(PhantomData<C>);

impl<C: QueryId, T> QueryId for InBatch<C, T> {
    type QueryId = InBatchId<C::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = C::HAS_STATIC_QUERY_ID;
}

impl<C: QueryFragment<Sqlite>, T: serde::Serialize> QueryFragment<Sqlite> for InBatch<C, T> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let json = match self.json.get() {
            Some(json) => json,
            None => {
                let json = serde_json::to_string(&self.values)
                    .map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
                self.json.get_or_init(|| json)
            }
        };
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (SELECT value FROM json_each(");
        out.push_bind_param::<Text, _>(json)?;
        out.push_sql("))");
        Ok(())
    }
}

impl<C, T> QueryFragment<Pg> for InBatch<C, T>
where
    C: Expression + QueryFragment<Pg>,
    C::SqlType: SqlType,
    Pg: HasSqlType<C::SqlType>,
    Vec<T>: ToSql<Array<C::SqlType>, Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" = ANY(");
        out.push_bind_param::<Array<C::SqlType>, _>(&self.values)?;
        out.push_sql(")");
        Ok(())
    }
}

impl<C, T> QueryFragment<MultiBackend> for InBatch<C, T>
where
    Self: QueryFragment<Sqlite> + QueryFragment<Pg>,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        MultiBackend::walk_variant_ast(self, pass)
    }
}

#[cfg(test)]
mod tests {
    use super::in_batch;
    use crate::db::DbConnection;
    use diesel::connection::{InstrumentationEvent, SimpleConnection};
    use diesel::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    diesel::table! {
        people (id) {
            id -> Integer,
            name -> Text,
        }
    }

    #[test]
    fn batches_of_any_size_find_their_rows_with_one_prepared_statement() {
        let mut conn = DbConnection::establish(":memory:").unwrap();
        conn.batch_execute(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL); \
             INSERT INTO people VALUES (1, 'Ada'), (2, 'Bo'), (3, 'Cy'), (4, 'Di');",
        )
        .unwrap();
        let prepared = Arc::new(AtomicUsize::new(0));
        let counter = prepared.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { .. } = event {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        let names = |conn: &mut DbConnection, ids: Vec<i32>| {
            people::table
                .filter(in_batch(people::id, ids))
                .order(people::id)
                .select(people::name)
                .load::<String>(conn)
                .unwrap()
        };
        assert_eq!(names(&mut conn, vec![3, 1]), ["Ada", "Cy"]);
        assert_eq!(names(&mut conn, vec![4, 2, 9, 1]), ["Ada", "Bo", "Di"]);
        assert_eq!(names(&mut conn, vec![]), Vec::<String>::new());
        assert_eq!(
            prepared.load(Ordering::Relaxed),
            1,
            "three batches, one statement"
        );
        let by_name: Vec<i32> = people::table
            .filter(in_batch(people::name, vec!["Bo", "Zed", "Cy"]))
            .order(people::id)
            .select(people::id)
            .load(&mut conn)
            .unwrap();
        assert_eq!(by_name, [2, 3]);
    }

    /// SQLite searches the batch's keys by index, as it did an IN list: a
    /// scan of `participants` or `attendance` per batch would undo the gain.
    #[test]
    fn the_door_batch_reads_search_by_index() {
        use crate::db::schema::{attendance, checkin_log, participant_sessions, participants};
        use diesel::sql_types::{Integer, Text};
        use diesel::sqlite::Sqlite;

        #[derive(QueryableByName)]
        struct Step {
            #[diesel(sql_type = Text)]
            detail: String,
        }
        let mut conn = DbConnection::establish(":memory:").unwrap();
        crate::db::run_migrations(&mut conn).unwrap();
        let plan = |conn: &mut DbConnection, sql: String, event_id: Option<i32>| {
            let sql = sql.split(" -- binds:").next().unwrap().to_string();
            let explain = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"));
            let steps: Vec<Step> = match event_id {
                Some(id) => explain
                    .bind::<Integer, _>(id)
                    .bind::<Text, _>("[\"a\"]")
                    .load(conn),
                None => explain.bind::<Text, _>("[1]").load(conn),
            }
            .unwrap();
            steps.into_iter().map(|s| s.detail).collect::<Vec<_>>()
        };
        let by_code = participants::table
            .filter(in_batch(participants::checkin_code, vec!["a"]))
            .select(participants::id);
        let seats = participant_sessions::table
            .filter(in_batch(participant_sessions::participant_id, vec![1]))
            .select(participant_sessions::session_id);
        let records = attendance::table
            .filter(in_batch(attendance::participant_id, vec![1]))
            .select(attendance::id);
        let answered = checkin_log::table
            .filter(checkin_log::event_id.eq(1))
            .filter(in_batch(checkin_log::scan_id, vec!["a"]))
            .select(checkin_log::answer);
        fn sql_of<Q: diesel::query_builder::QueryFragment<Sqlite>>(query: &Q) -> String {
            diesel::debug_query::<Sqlite, _>(query).to_string()
        }
        let queries = [
            ("participants", sql_of(&by_code), None),
            ("participant_sessions", sql_of(&seats), None),
            ("attendance", sql_of(&records), None),
            ("checkin_log", sql_of(&answered), Some(1)),
        ];
        for (table, sql, event_id) in queries {
            let steps = plan(&mut conn, sql, event_id);
            assert!(
                steps
                    .iter()
                    .any(|s| s.starts_with(&format!("SEARCH {table} USING"))),
                "{table}: {steps:?}"
            );
            assert!(
                !steps
                    .iter()
                    .any(|s| s.starts_with(&format!("SCAN {table}"))),
                "{table}: {steps:?}"
            );
        }
    }
}
