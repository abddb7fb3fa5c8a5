//! Human output (borderless tables, key/value blocks) and `--json` output.

use std::io::Write;

use comfy_table::{presets::NOTHING, Table};
use serde::Serialize;

pub fn json<T: Serialize>(out: &mut dyn Write, value: &T) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

pub fn table(
    out: &mut dyn Write,
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> std::io::Result<()> {
    let mut table = Table::new();
    table.load_preset(NOTHING).set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    for line in table.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

pub fn fields(out: &mut dyn Write, pairs: &[(&str, &str)]) -> std::io::Result<()> {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    for (key, value) in pairs {
        writeln!(out, "{:<width$} {value}", format!("{key}:"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_without_borders() {
        let mut out = Vec::new();
        table(
            &mut out,
            &["NAME", "URL"],
            [
                vec!["a".into(), "x".into()],
                vec!["long".into(), "y".into()],
            ]
            .into_iter(),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].contains("NAME") && lines[0].contains("URL"));
        assert_eq!(lines[1].find('x'), lines[2].find('y'));
    }

    #[test]
    fn fields_align_values() {
        let mut out = Vec::new();
        fields(&mut out, &[("Created", "now"), ("Web URL", "http://a/")]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Created: now\nWeb URL: http://a/\n"
        );
    }
}
