//! GitHub-flavoured markdown output (tables for decision notes and terminal summaries).

/// A GitHub markdown table. Pipes in cells are escaped (`\|`), line breaks become `<br>`, and rows
/// are padded with empty cells to the widest row (header included). No header gives "".
pub fn md_table(header: &[&str], rows: &[Vec<String>]) -> String {
    if header.is_empty() {
        return String::new();
    }
    let ncol = rows
        .iter()
        .map(Vec::len)
        .chain([header.len()])
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = String>| {
        out.push('|');
        for c in cells {
            out.push(' ');
            out.push_str(&c);
            out.push_str(" |");
        }
        out.push('\n');
    };
    line(&mut (0..ncol).map(|i| cell(header.get(i).copied().unwrap_or(""))));
    line(&mut (0..ncol).map(|_| "---".to_string()));
    for row in rows {
        line(&mut (0..ncol).map(|i| cell(row.get(i).map_or("", String::as_str))));
    }
    out
}

fn cell(s: &str) -> String {
    let s = s.trim();
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '|' => out.push_str("\\|"),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_with_pipes_and_padding() {
        let t = md_table(
            &["a", "b"],
            &[
                vec!["x|y".into(), "1".into()],
                vec!["z".into()],
                vec!["two\nlines".into(), "".into()],
            ],
        );
        assert_eq!(
            t,
            "| a | b |\n| --- | --- |\n| x\\|y | 1 |\n| z |  |\n| two<br>lines |  |\n"
        );
        assert_eq!(md_table(&[], &[]), "");
    }
}
