//! Multi-row inserts on SQLite in fixed-size chunks, so their prepared
//! statements are kept.
//!
//! An insert of a slice is new SQL for every length, which diesel marks
//! unsafe to cache, so it was prepared afresh each batch, triggers
//! compiled in. SQLite gets the rows in chunks of 256, 128, …, 1: at most
//! nine statements per batch, each shape prepared once per connection (10 %
//! fewer instructions per door check-in, BENCHMARKS.md history 26). Each
//! chunk is a [`Chunk`]: the statement written by its rows ([`ChunkRow`])
//! and keyed in diesel's cache by its type, where diesel's own upsert is
//! looked up by its SQL, written out again for every batch (history 31).
//! PostgreSQL gets diesel's statement, one per batch as before: there each
//! statement is a round trip and an executor start-up, and chunks made its
//! door rush slower.

use super::{DbConnection, DbError};
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel::{QueryResult, RunQueryDsl};

/// The largest chunk `write_in_chunks` has a statement for; more rows go
/// in several. Tied to the match below, not to the batch size, so a larger
/// batch can't fall through to chunks of one row.
const LARGEST_CHUNK: usize = 256;

/// One insert statement, for an array of rows or for a slice: write one
/// with [`chunk_writer!`].
pub(super) trait ChunkWriter<T> {
    type Written;
    fn connection(&mut self) -> &mut DbConnection;
    fn write<const N: usize>(&mut self, chunk: &[T; N]) -> Result<Self::Written, DbError>;
    fn write_all(&mut self, rows: &[T]) -> Result<Self::Written, DbError>;
}

/// Writes `rows` in order: on SQLite in the largest chunks that fit, on
/// PostgreSQL in one statement.
pub(super) fn write_in_chunks<T, W: ChunkWriter<T>>(
    rows: &[T],
    writer: &mut W,
) -> Result<Vec<W::Written>, DbError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    if let DbConnection::Postgresql(_) = writer.connection() {
        return Ok(vec![writer.write_all(rows)?]);
    }
    let mut rest = rows;
    let mut written = Vec::new();
    while !rest.is_empty() {
        let size = 1 << rest.len().min(LARGEST_CHUNK).ilog2();
        written.push(match size {
            LARGEST_CHUNK => write_chunk::<LARGEST_CHUNK, _, _>(&mut rest, writer)?,
            128 => write_chunk::<128, _, _>(&mut rest, writer)?,
            64 => write_chunk::<64, _, _>(&mut rest, writer)?,
            32 => write_chunk::<32, _, _>(&mut rest, writer)?,
            16 => write_chunk::<16, _, _>(&mut rest, writer)?,
            8 => write_chunk::<8, _, _>(&mut rest, writer)?,
            4 => write_chunk::<4, _, _>(&mut rest, writer)?,
            2 => write_chunk::<2, _, _>(&mut rest, writer)?,
            _ => write_chunk::<1, _, _>(&mut rest, writer)?,
        });
    }
    Ok(written)
}

/// Defines `struct $name<'c>(&'c mut DbConnection)`, a [`ChunkWriter`] for
/// rows of `$row` (a [`ChunkRow`]), run with diesel's `$run` (`execute` or
/// `get_results`). SQLite gets each chunk as a [`Chunk`]; PostgreSQL gets
/// `$statement`, diesel's insert of the rows `$rows`.
macro_rules! chunk_writer {
    ($name:ident, $row:ty, $written:ty, $run:ident, |$rows:ident| $statement:expr) => {
        struct $name<'c>(&'c mut $crate::db::DbConnection);

        impl $crate::db::fixed_chunks::ChunkWriter<$row> for $name<'_> {
            type Written = $written;

            fn connection(&mut self) -> &mut $crate::db::DbConnection {
                self.0
            }

            fn write<const N: usize>(
                &mut self,
                $rows: &[$row; N],
            ) -> Result<$written, $crate::db::DbError> {
                use $crate::db::fixed_chunks::Chunk;
                Ok(match &mut *self.0 {
                    $crate::db::DbConnection::Sqlite(c) => {
                        diesel::RunQueryDsl::$run(Chunk($rows), c)?
                    }
                    $crate::db::DbConnection::Postgresql(c) => {
                        diesel::RunQueryDsl::$run($statement, c)?
                    }
                })
            }

            fn write_all(&mut self, $rows: &[$row]) -> Result<$written, $crate::db::DbError> {
                Ok($crate::with_backend!(&mut *self.0, |c| {
                    diesel::RunQueryDsl::$run($statement, c)
                })?)
            }
        }
    };
}
pub(super) use chunk_writer;

/// A row of a hand-written multi-row SQLite insert ([`Chunk`]).
pub(super) trait ChunkRow {
    /// A `'static` stand-in for the row's type: with the chunk's length it
    /// keys the statement in diesel's cache, so it must differ for every
    /// statement `head` and `tail` write.
    type Key: 'static;
    /// What the statement returns for each row (`()` for nothing).
    type SqlType;
    /// `INSERT … INTO table (columns) VALUES `.
    fn head(out: AstPass<'_, '_, Sqlite>) -> QueryResult<()>;
    /// The row's values, bound, separated by commas, in `head`'s order.
    fn values<'b>(&'b self, out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()>;
    /// What follows the rows: ` ON CONFLICT …`, ` RETURNING …`.
    fn tail(out: AstPass<'_, '_, Sqlite>) -> QueryResult<()>;
}

/// `N` rows in one SQLite insert that diesel keeps prepared under its
/// type: its SQL is written out once, when it is prepared.
pub(super) struct Chunk<'a, R, const N: usize>(pub &'a [R; N]);

impl<R: ChunkRow, const N: usize> QueryId for Chunk<'_, R, N> {
    type QueryId = (R::Key, [(); N]);
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<R: ChunkRow, const N: usize> Query for Chunk<'_, R, N> {
    type SqlType = R::SqlType;
}

impl<R, const N: usize> RunQueryDsl<SqliteConnection> for Chunk<'_, R, N> {}

impl<R: ChunkRow, const N: usize> QueryFragment<Sqlite> for Chunk<'_, R, N> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        R::head(out.reborrow())?;
        for (i, row) in self.0.iter().enumerate() {
            out.push_sql(if i == 0 { "(" } else { ", (" });
            row.values(out.reborrow())?;
            out.push_sql(")");
        }
        R::tail(out.reborrow())
    }
}

/// Writes `verb INTO table (columns) VALUES ` for a [`ChunkRow::head`].
pub(super) fn insert_head(
    mut out: AstPass<'_, '_, Sqlite>,
    verb: &str,
    table: &str,
    columns: &[&str],
) -> QueryResult<()> {
    out.push_sql(verb);
    out.push_sql(" INTO ");
    out.push_identifier(table)?;
    for (i, column) in columns.iter().enumerate() {
        out.push_sql(if i == 0 { " (" } else { ", " });
        out.push_identifier(column)?;
    }
    out.push_sql(") VALUES ");
    Ok(())
}

fn write_chunk<const N: usize, T, W: ChunkWriter<T>>(
    rest: &mut &[T],
    writer: &mut W,
) -> Result<W::Written, DbError> {
    let (chunk, tail) = rest
        .split_first_chunk::<N>()
        .ok_or_else(|| DbError::Corrupt(format!("fewer than {N} rows left to write")))?;
    *rest = tail;
    writer.write(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::{InstrumentationEvent, SimpleConnection};
    use diesel::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    diesel::table! {
        seen (id) {
            id -> Integer,
        }
    }

    // As the attendance and log rows: with no column left to its default,
    // diesel sends SQLite one multi-row statement, not a statement per row.
    #[derive(Insertable)]
    #[diesel(table_name = seen, treat_none_as_default_value = false)]
    struct Seen {
        id: i32,
    }

    impl ChunkRow for Seen {
        type Key = Seen;
        type SqlType = diesel::sql_types::Integer;
        fn head(out: AstPass<'_, '_, Sqlite>) -> QueryResult<()> {
            insert_head(out, "INSERT", "seen", &["id"])
        }
        fn values<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
            out.push_bind_param::<diesel::sql_types::Integer, _>(&self.id)
        }
        fn tail(mut out: AstPass<'_, '_, Sqlite>) -> QueryResult<()> {
            out.push_sql(" ON CONFLICT DO NOTHING RETURNING id");
            Ok(())
        }
    }

    chunk_writer!(InsertSeen, Seen, Vec<i32>, get_results, |rows| {
        diesel::insert_into(seen::table)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(seen::id)
    });

    /// The statements' sizes, as they go to [`InsertSeen`].
    struct Sizes<'c> {
        insert: InsertSeen<'c>,
        sizes: Vec<usize>,
    }

    impl ChunkWriter<Seen> for Sizes<'_> {
        type Written = Vec<i32>;
        fn connection(&mut self) -> &mut DbConnection {
            self.insert.connection()
        }
        fn write<const N: usize>(&mut self, chunk: &[Seen; N]) -> Result<Vec<i32>, DbError> {
            self.sizes.push(N);
            self.insert.write(chunk)
        }
        fn write_all(&mut self, rows: &[Seen]) -> Result<Vec<i32>, DbError> {
            self.sizes.push(rows.len());
            self.insert.write_all(rows)
        }
    }

    /// Counts the statements diesel prepares to keep.
    fn count_prepared(conn: &mut DbConnection) -> Arc<AtomicUsize> {
        let prepared = Arc::new(AtomicUsize::new(0));
        let counter = prepared.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { .. } = event {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        prepared
    }

    #[test]
    fn sqlite_gets_the_largest_chunks_that_fit_each_prepared_once() {
        let mut conn = DbConnection::establish(":memory:").unwrap();
        conn.batch_execute("CREATE TABLE seen (id INTEGER PRIMARY KEY)")
            .unwrap();
        let prepared = count_prepared(&mut conn);
        // The ids that went in, and the statements' sizes.
        let mut insert = |ids: std::ops::Range<i32>| {
            let rows: Vec<Seen> = ids.map(|id| Seen { id }).collect();
            let mut writer = Sizes {
                insert: InsertSeen(&mut conn),
                sizes: Vec::new(),
            };
            let inserted = write_in_chunks(&rows, &mut writer).unwrap().concat();
            (inserted, writer.sizes)
        };
        assert_eq!(insert(0..41), ((0..41).collect(), vec![32, 8, 1]));
        assert_eq!(prepared.load(Ordering::Relaxed), 3);
        assert_eq!(insert(100..141).0.len(), 41);
        assert_eq!(prepared.load(Ordering::Relaxed), 3, "the same shapes again");
        // 35..41 are there already: only the rest go in.
        assert_eq!(insert(35..44), ((41..44).collect(), vec![8, 1]));
        assert_eq!(prepared.load(Ordering::Relaxed), 3, "8 + 1 again");
        let (inserted, sizes) = insert(1000..1600);
        assert_eq!((inserted.len(), sizes), (600, vec![256, 256, 64, 16, 8]));
        assert_eq!(
            prepared.load(Ordering::Relaxed),
            6,
            "256, 64 and 16 are new"
        );
        assert_eq!(insert(0..0), (vec![], vec![]), "no statement for no rows");
    }
}
