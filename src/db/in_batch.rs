//! `column IN (a batch of values)`, written so that its SQL doesn't depend on
//! how many values there are, and diesel can keep the prepared statement.
//!
//! Diesel's `eq_any` sends SQLite one `?` per value, so every batch is new
//! SQL, prepared afresh: 17 % of the door writer's time went to preparing
//! statements (`perf`, BENCHMARKS.md history 24). Here SQLite gets the
//! values as one JSON array (`IN (SELECT value FROM json_each(?))`), and
//! PostgreSQL gets what `eq_any` sends it already, one array (`= ANY($1)`).

use super::multi_connection_impl::MultiBackend;
use super::DbError;
use diesel::expression::{AppearsOnTable, Expression, ValidGrouping};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{Array, Bool, HasSqlType, SqlType, Text};
use diesel::sqlite::Sqlite;
use diesel::QueryResult;
use std::marker::PhantomData;

pub struct InBatch<C, T> {
    column: C,
    values: Vec<T>,
    /// The same values for SQLite.
    json: String,
}

/// `column IN values`, for a `filter`.
pub fn in_batch<C, T: serde::Serialize>(
    column: C,
    values: Vec<T>,
) -> Result<InBatch<C, T>, DbError> {
    let json = serde_json::to_string(&values)
        .map_err(|e| DbError::Batch(format!("cannot list a batch's keys: {e}")))?;
    Ok(InBatch {
        column,
        values,
        json,
    })
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

impl<C: QueryFragment<Sqlite>, T> QueryFragment<Sqlite> for InBatch<C, T> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (SELECT value FROM json_each(");
        out.push_bind_param::<Text, _>(&self.json)?;
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
                .filter(in_batch(people::id, ids).unwrap())
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
            .filter(in_batch(people::name, vec!["Bo", "Zed", "Cy"]).unwrap())
            .order(people::id)
            .select(people::id)
            .load(&mut conn)
            .unwrap();
        assert_eq!(by_name, [2, 3]);
    }
}
