//! Renders a release's config vars as a systemd `EnvironmentFile=` (pure).

use std::collections::BTreeMap;

/// `KEY="value"` lines. Inside double quotes systemd takes `\"`, `\\`, `\$` and `` \` ``
/// literally and keeps newlines, so any UTF-8 value round-trips.
pub fn render_env_file(vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (key, value) in vars {
        out.push_str(key);
        out.push_str("=\"");
        for c in value.chars() {
            if matches!(c, '"' | '\\' | '$' | '`') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push_str("\"\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_escapes_values() {
        let vars: BTreeMap<String, String> = [
            ("A".to_owned(), "plain".to_owned()),
            ("B".to_owned(), "say \"hi\" \\ $HOME `x`".to_owned()),
            ("C".to_owned(), "two\nlines".to_owned()),
            ("D".to_owned(), String::new()),
        ]
        .into();
        assert_eq!(
            render_env_file(&vars),
            "A=\"plain\"\nB=\"say \\\"hi\\\" \\\\ \\$HOME \\`x\\`\"\nC=\"two\nlines\"\nD=\"\"\n"
        );
        assert_eq!(render_env_file(&BTreeMap::new()), "");
    }
}
