//! Multi-row inserts on SQLite in fixed-size chunks, so diesel keeps their
//! prepared statements.
//!
//! An insert of a slice is new SQL for every length, which diesel marks
//! unsafe to cache, so it was prepared afresh each batch, triggers
//! compiled in. An insert of an array `[T; N]` isn't marked, so diesel
//! keeps its statement (keyed by its SQL: an `ON CONFLICT` insert has no
//! static query id). SQLite gets the rows in chunks of 256, 128, …, 1: at
//! most nine statements per batch, each shape prepared once per
//! connection (10 % fewer instructions per door check-in, BENCHMARKS.md
//! history 26). PostgreSQL gets one statement per batch as before: there
//! each statement is a round trip and an executor start-up, and chunks
//! made its door rush slower.

use super::{DbConnection, DbError};

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
/// rows of `$row` whose statement is `$statement`, written once with the
/// concrete connection as `$c` and the rows (an array or a slice) as
/// `$rows`.
macro_rules! chunk_writer {
    ($name:ident, $row:ty, $written:ty, |$c:ident, $rows:ident| $statement:expr) => {
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
                Ok($crate::with_backend!(&mut *self.0, |$c| $statement)?)
            }

            fn write_all(&mut self, $rows: &[$row]) -> Result<$written, $crate::db::DbError> {
                Ok($crate::with_backend!(&mut *self.0, |$c| $statement)?)
            }
        }
    };
}
pub(super) use chunk_writer;

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

    chunk_writer!(InsertSeen, Seen, Vec<i32>, |c, rows| diesel::insert_into(
        seen::table
    )
    .values(rows)
    .on_conflict_do_nothing()
    .returning(seen::id)
    .get_results(c));

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
