//! `column IN (a batch of values)`, written so that its SQL doesn't depend on
//! how many values there are, and diesel can keep the prepared statement.
//!
//! Diesel's `eq_any` sends SQLite one `?` per value, so every batch is new
//! SQL, prepared afresh: 17 % of the door writer's time went to preparing
//! statements (`perf`, BENCHMARKS.md history 24). Here SQLite gets the
//! values as one JSON array, and PostgreSQL gets what `eq_any` sends it
//! already, one array (`= ANY($1)`).
//!
//! Two forms. [`in_batch`] is a filter, `IN (SELECT value FROM
//! json_each(?))`, for any query; SQLite copies the values into a
//! temporary b-tree first, for every statement. [`load_each_of!`] is for
//! six of the door writer's reads a batch: it joins `json_each` to the
//! table, so SQLite walks the values and looks each up in the column's
//! index, with no copy (BENCHMARKS.md history 32).

use super::multi_connection_impl::MultiBackend;
use super::schema::{
    attendance, device_token_sessions, device_tokens, events, participant_sessions, participants,
};
use diesel::expression::{AppearsOnTable, Expression, ValidGrouping};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{Array, Bool, HasSqlType, SqlType, Text};
use diesel::sqlite::Sqlite;
use diesel::QueryResult;
use std::cell::OnceCell;
use std::marker::PhantomData;

diesel::table! {
    /// SQLite's `json_each` over an array of strings. Its argument is the
    /// hidden column `json`: `FROM json_each WHERE json = ?` is
    /// `FROM json_each(?)`.
    #[sql_name = "json_each"]
    json_texts (key) {
        key -> Integer,
        value -> Text,
        json -> Text,
    }
}

diesel::table! {
    /// [`json_texts`] over an array of integers.
    #[sql_name = "json_each"]
    json_integers (key) {
        key -> Integer,
        value -> Integer,
        json -> Text,
    }
}

macro_rules! joins_batch_values {
    ($($table:ident),*) => {
        $(
            diesel::allow_tables_to_appear_in_same_query!(json_texts, $table);
            diesel::allow_tables_to_appear_in_same_query!(json_integers, $table);
        )*
    };
}
joins_batch_values!(
    attendance,
    device_token_sessions,
    device_tokens,
    events,
    participant_sessions,
    participants
);

/// A batch's values as SQLite's JSON array, each once.
pub fn json_array<T: serde::Serialize + Ord>(mut values: Vec<T>) -> diesel::QueryResult<String> {
    values.sort_unstable();
    values.dedup();
    serde_json::to_string(&values).map_err(|e| diesel::result::Error::SerializationError(e.into()))
}

/// Loads the rows of `$table` whose `$column` is one of `$values` (a
/// `Vec`), the rest of the query written after `|$q|`, on the concrete
/// connection inside a [`DbConnection`](super::DbConnection). On SQLite
/// the values are `$json` ([`json_texts`] or [`json_integers`]) joined to
/// the table; on PostgreSQL they are one array, `= ANY($1)`.
///
/// Not for a query that also filters another indexed column by a bound
/// value (`event_id = ?`): SQLite may start from that index and search the
/// values for each of its rows, and with ANALYZE's samples it prepares the
/// statement again for every new value. The door's plans are checked by a
/// test below. Both sides of the join are compared as nullable, so a
/// nullable column can be looked up too.
#[macro_export]
macro_rules! load_each_of {
    ($conn:expr, $json:ident, $table:expr, $column:expr, $values:expr, |$q:ident| $query:expr) => {{
        use $crate::db::in_batch::$json as batch;
        match $conn {
            $crate::db::DbConnection::Sqlite(c) => $crate::db::in_batch::json_array($values)
                .and_then(|json| {
                    let $q = batch::table
                        .inner_join($table.on($column.nullable().eq(batch::value.nullable())))
                        .filter(batch::json.eq(json));
                    diesel::RunQueryDsl::load($query, c)
                }),
            $crate::db::DbConnection::Postgresql(c) => {
                let $q = $table.filter($column.eq_any($values));
                diesel::RunQueryDsl::load($query, c)
            }
        }
    }};
}

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

    /// Four people, and a count of the statements the connection prepares.
    fn people() -> (DbConnection, Arc<AtomicUsize>) {
        let mut conn = DbConnection::establish(":memory:").unwrap();
        conn.batch_execute(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE); \
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
        (conn, prepared)
    }

    #[test]
    fn batches_of_any_size_find_their_rows_with_one_prepared_statement() {
        let (mut conn, prepared) = people();
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

    use super::{json_integers, json_texts};
    diesel::allow_tables_to_appear_in_same_query!(json_texts, people);
    diesel::allow_tables_to_appear_in_same_query!(json_integers, people);

    #[test]
    fn load_each_of_finds_each_row_once_with_one_prepared_statement() {
        let (mut conn, prepared) = people();
        let ids = |conn: &mut DbConnection, names: Vec<&str>| -> Vec<i32> {
            crate::load_each_of!(conn, json_texts, people::table, people::name, names, |q| q
                .order(people::id)
                .select(people::id))
            .unwrap()
        };
        assert_eq!(ids(&mut conn, vec!["Cy", "Ada", "Cy", "Zed"]), [1, 3]);
        assert_eq!(ids(&mut conn, vec!["Di", "Bo", "Ada"]), [1, 2, 4]);
        assert_eq!(ids(&mut conn, vec![]), Vec::<i32>::new());
        let names: Vec<String> = crate::load_each_of!(
            &mut conn,
            json_integers,
            people::table,
            people::id,
            vec![4, 9, 2],
            |q| q.order(people::id).select(people::name)
        )
        .unwrap();
        assert_eq!(names, ["Bo", "Di"]);
        assert_eq!(
            prepared.load(Ordering::Relaxed),
            2,
            "three batches of names, one statement; one of ids"
        );
    }

    /// On a database without statistics (one that was never analysed), the
    /// door writer's reads walk the batch's values and search the table by
    /// index, with no temporary b-tree of the values: a scan of
    /// `participants` or `attendance` per batch would undo the gain.
    #[test]
    fn the_door_batch_reads_search_by_index() {
        use crate::db::schema::{
            attendance, checkin_log, device_token_sessions, device_tokens, events,
            participant_sessions, participants,
        };
        use crate::db::testing::{record_statements, sqlite_plan};
        use diesel::sqlite::Sqlite;

        let mut conn = DbConnection::establish(":memory:").unwrap();
        crate::db::run_migrations(&mut conn).unwrap();
        let statements = record_statements(&mut conn);
        let conn = &mut conn;
        // Each door read, for one value, its rows left unread.
        macro_rules! read {
            ($json:ident, $table:ident::$column:ident = $value:expr, $selected:ident) => {
                let _: Vec<i32> = crate::load_each_of!(
                    conn,
                    $json,
                    $table::table,
                    $table::$column,
                    vec![$value],
                    |q| q.select($table::$selected)
                )
                .unwrap();
            };
        }
        read!(json_texts, participants::checkin_code = "a", id);
        read!(json_integers, participants::id = 1, id);
        read!(
            json_integers,
            participant_sessions::participant_id = 1,
            session_id
        );
        read!(json_integers, attendance::participant_id = 1, id);
        read!(json_texts, device_tokens::token_hash = "a", id);
        read!(
            json_integers,
            device_token_sessions::token_id = 1,
            session_id
        );
        read!(json_texts, events::slug = "a", id);
        let answered = checkin_log::table
            .filter(checkin_log::event_id.eq(1))
            .filter(in_batch(checkin_log::scan_id, vec!["a"]))
            .select(checkin_log::answer);
        let log_sql = diesel::debug_query::<Sqlite, _>(&answered).to_string();
        let mut queries: Vec<(String, String)> = statements
            .lock()
            .unwrap()
            .iter()
            .map(|sql| {
                let table = sql.split(" JOIN `").nth(1).unwrap_or_default();
                (
                    table.split('`').next().unwrap_or_default().to_string(),
                    sql.clone(),
                )
            })
            .collect();
        assert_eq!(queries.len(), 7, "{queries:?}");
        let log_sql = log_sql
            .split(" -- binds:")
            .next()
            .unwrap_or_default()
            .to_string();
        queries.push(("checkin_log".into(), log_sql));
        for (table, sql) in queries {
            let steps = sqlite_plan(conn, &sql);
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
            if table != "checkin_log" {
                assert!(
                    steps[0].starts_with("SCAN json_each")
                        && !steps.iter().any(|s| s.contains("SUBQUERY")),
                    "{table}: the values first, not copied: {steps:?}"
                );
            }
        }
    }
}
