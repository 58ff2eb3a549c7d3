//! CSV files for organisers: RFC 4180 through the csv crate, UTF-8 with a
//! byte-order mark (so Excel reads non-ASCII names right), and cells that a
//! spreadsheet would run as a formula neutralised.

use bytes::Bytes;
use std::borrow::Cow;
use std::io::Write;

/// Excel, LibreOffice and Sheets treat a cell starting with one of these as
/// a formula; a leading apostrophe makes it text.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// How much of a file each piece holds: the pieces are what the
/// response sends, one at a time.
pub const PIECE_BYTES: usize = 64 << 10;

/// A file written into memory in pieces of [`PIECE_BYTES`]. A single
/// buffer doubling as it grew held up to three times the file at its
/// last doubling (the old buffer and the new one), and was copied again
/// when it was sent.
#[derive(Default)]
pub struct Pieces {
    done: Vec<Bytes>,
    current: Vec<u8>,
}

impl Pieces {
    pub fn into_vec(mut self) -> Vec<Bytes> {
        if !self.current.is_empty() {
            self.done.push(Bytes::from(self.current));
        }
        self.done
    }
}

impl Write for Pieces {
    fn write(&mut self, mut bytes: &[u8]) -> std::io::Result<usize> {
        let written = bytes.len();
        while !bytes.is_empty() {
            if self.current.capacity() == 0 {
                self.current = Vec::with_capacity(PIECE_BYTES);
            }
            let room = PIECE_BYTES - self.current.len();
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            self.current.extend_from_slice(now);
            if self.current.len() == PIECE_BYTES {
                self.done
                    .push(Bytes::from(std::mem::take(&mut self.current)));
            }
            bytes = later;
        }
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A CSV file being written row by row, BOM first, so an export can turn
/// each row read from the database into text at once instead of holding
/// every row until the end.
pub struct CsvFile {
    writer: csv::Writer<Pieces>,
}

impl CsvFile {
    pub fn new(header: &[&str]) -> Result<Self, csv::Error> {
        let mut pieces = Pieces::default();
        pieces.write_all(b"\xEF\xBB\xBF")?;
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(pieces);
        writer.write_record(header)?;
        Ok(Self { writer })
    }

    pub fn row<R, C>(&mut self, cells: R) -> Result<(), csv::Error>
    where
        R: IntoIterator<Item = C>,
        C: AsRef<str>,
    {
        for cell in cells {
            self.writer
                .write_field(neutralise(cell.as_ref()).as_bytes())?;
        }
        // An empty record ends the one the fields above began.
        self.writer.write_record(std::iter::empty::<&[u8]>())
    }

    pub fn into_pieces(self) -> Result<Vec<Bytes>, csv::Error> {
        let pieces = self
            .writer
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))?;
        Ok(pieces.into_vec())
    }
}

/// Writes a header and rows as a CSV file, BOM first.
pub fn csv_pieces<I, R>(header: &[&str], rows: I) -> Result<Vec<Bytes>, csv::Error>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = String>,
{
    let mut file = CsvFile::new(header)?;
    for row in rows {
        file.row(row)?;
    }
    file.into_pieces()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text() {
        for risky in ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx"] {
            assert!(neutralise(risky).starts_with('\''), "{risky:?}");
        }
        assert_eq!(neutralise("Zofia Wiśniewska"), "Zofia Wiśniewska");
        assert_eq!(neutralise(""), "");
    }

    #[test]
    fn csv_has_a_bom_crlf_and_quotes_where_needed() {
        let bytes = csv_pieces(
            &["name", "note"],
            vec![vec!["Li, Wei".to_string(), "=HYPERLINK(\"x\")".to_string()]],
        )
        .unwrap()
        .concat();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        assert_eq!(
            text,
            "name,note\r\n\"Li, Wei\",\"'=HYPERLINK(\"\"x\"\")\"\r\n"
        );
    }

    #[test]
    fn a_file_larger_than_a_piece_is_cut_into_full_pieces_with_nothing_lost() {
        let rows: Vec<Vec<String>> = (0..5_000)
            .map(|n| vec![format!("Person {n}"), format!("person{n}@example.org")])
            .collect();
        let pieces = csv_pieces(&["name", "email"], rows.clone()).unwrap();
        assert!(pieces.len() > 2, "{} pieces", pieces.len());
        let (last, full) = pieces.split_last().unwrap();
        assert!(full.iter().all(|p| p.len() == PIECE_BYTES));
        assert!(!last.is_empty() && last.len() <= PIECE_BYTES);

        let mut expected = b"\xEF\xBB\xBF".to_vec();
        expected.extend_from_slice(b"name,email\r\n");
        for row in &rows {
            expected.extend_from_slice(format!("{},{}\r\n", row[0], row[1]).as_bytes());
        }
        assert_eq!(pieces.concat(), expected);
    }
}
