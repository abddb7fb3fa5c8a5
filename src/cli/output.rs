//! The one way verbs print: `Output::show` writes a value as pretty JSON with `--json`, or in
//! words (borderless tables, key/value blocks) for people.

use std::io::Write;

use comfy_table::{presets::NOTHING, Table};
use serde::Serialize;

/// Where a verb's output goes, and in which form.
pub struct Output<'a> {
    json: bool,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
}

impl<'a> Output<'a> {
    pub fn new(json: bool, out: &'a mut dyn Write, err: &'a mut dyn Write) -> Self {
        Self { json, out, err }
    }

    /// Prints a verb's result: `data` as JSON with `--json`, otherwise what `human` writes to
    /// standard output (its second writer is standard error, for notes to people).
    pub fn show<T: Serialize + ?Sized>(
        &mut self,
        data: &T,
        human: impl FnOnce(&mut dyn Write, &mut dyn Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        if self.json {
            json(&mut *self.out, data)
        } else {
            human(&mut *self.out, &mut *self.err)
        }
    }

    /// Where output streamed while a verb works goes: standard output for people, standard
    /// error with `--json` so that standard output carries only the JSON result.
    pub fn progress(&mut self) -> &mut dyn Write {
        if self.json {
            &mut *self.err
        } else {
            &mut *self.out
        }
    }

    /// Standard output, for verbs that stream rather than show a result (`logs`, git hooks).
    pub fn out(&mut self) -> &mut dyn Write {
        &mut *self.out
    }

    /// Standard error, for notes to people.
    pub fn err(&mut self) -> &mut dyn Write {
        &mut *self.err
    }
}

fn json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> std::io::Result<()> {
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

/// `1.5 MiB`
pub fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
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
    fn show_prints_json_or_words() {
        for (json, expected_out, expected_err) in [
            (true, "{\n  \"a\": 1\n}\n", ""),
            (false, "a is 1\n", "note\n"),
        ] {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let mut output = Output::new(json, &mut out, &mut err);
            output
                .show(&serde_json::json!({ "a": 1 }), |out, err| {
                    writeln!(err, "note")?;
                    writeln!(out, "a is 1")
                })
                .unwrap();
            writeln!(output.progress(), "progress").unwrap();
            let (out, err) = (
                String::from_utf8(out).unwrap(),
                String::from_utf8(err).unwrap(),
            );
            let (progress_in_out, progress_in_err) = if json {
                (expected_out.to_owned(), format!("{expected_err}progress\n"))
            } else {
                (format!("{expected_out}progress\n"), expected_err.to_owned())
            };
            assert_eq!(
                (out, err),
                (progress_in_out, progress_in_err),
                "json {json}"
            );
        }
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
