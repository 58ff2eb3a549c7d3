//! CSV files for organisers: RFC 4180 through the csv crate, UTF-8 with a
//! byte-order mark (so Excel reads non-ASCII names right), and cells that a
//! spreadsheet would run as a formula neutralised.

/// Excel, LibreOffice and Sheets treat a cell starting with one of these as
/// a formula; a leading apostrophe makes it text.
pub fn neutralise(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

/// Writes a header and rows as CSV bytes, BOM first.
pub fn csv_bytes<I, R>(header: &[&str], rows: I) -> Result<Vec<u8>, csv::Error>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = String>,
{
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut out);
        writer.write_record(header)?;
        for row in rows {
            writer.write_record(row.into_iter().map(|cell| neutralise(&cell)))?;
        }
        writer.flush()?;
    }
    Ok(out)
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
        let bytes = csv_bytes(
            &["name", "note"],
            vec![vec!["Li, Wei".to_string(), "=HYPERLINK(\"x\")".to_string()]],
        )
        .unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        assert_eq!(
            text,
            "name,note\r\n\"Li, Wei\",\"'=HYPERLINK(\"\"x\"\")\"\r\n"
        );
    }
}
