//! A plain text table, drawn character for character as comfy-table's
//! `UTF8_FULL_CONDENSED` preset draws it when nothing limits its width (its
//! output is not a terminal). comfy-table lays out every cell on its own
//! (a `Vec` of lines, styling, per-cell padding); for `status` of 10,000
//! scripts that took longer than reading the ledger, so cells go into one
//! buffer here and each column's width is kept as they arrive.

use std::fmt::{self, Write};

use unicode_width::UnicodeWidthStr;

/// Cells in one buffer, row after row, with each column's widest cell.
pub struct Grid {
    text: String,
    /// Where each cell ends in `text`.
    ends: Vec<usize>,
    widths: Vec<usize>,
}

impl Grid {
    /// A grid whose first row is the header.
    pub fn new(header: &[&str]) -> Grid {
        let mut grid = Grid {
            text: String::new(),
            ends: Vec::new(),
            widths: vec![0; header.len()],
        };
        for h in header {
            grid.cell(format_args!("{h}"));
        }
        grid
    }

    /// Appends the next cell (rows fill left to right, top to bottom).
    pub fn cell(&mut self, content: fmt::Arguments<'_>) {
        let start = self.text.len();
        self.text
            .write_fmt(content)
            .expect("writing to a String cannot fail");
        let column = self.ends.len() % self.widths.len();
        let width = width(&self.text[start..]);
        self.widths[column] = self.widths[column].max(width);
        self.ends.push(self.text.len());
    }

    /// Whether a cell holds a line break (comfy-table splits such cells
    /// into lines; this grid does not).
    pub fn has_line_breaks(&self) -> bool {
        self.text.contains('\n')
    }

    /// Draws the table (no newline after the last line) onto `out`.
    pub fn draw(&self, out: &mut String) {
        let line = |out: &mut String, [left, fill, join, right]: [char; 4]| {
            out.push(left);
            for (i, w) in self.widths.iter().enumerate() {
                if i > 0 {
                    out.push(join);
                }
                out.extend(std::iter::repeat_n(fill, w + 2));
            }
            out.push(right);
        };
        line(out, ['┌', '─', '┬', '┐']);
        let columns = self.widths.len();
        let mut start = 0;
        for (i, &end) in self.ends.iter().enumerate() {
            let column = i % columns;
            out.push_str(if column == 0 { "\n│ " } else { " ┆ " });
            let content = &self.text[start..end];
            out.push_str(content);
            out.extend(std::iter::repeat_n(
                ' ',
                self.widths[column] - width(content),
            ));
            start = end;
            if column + 1 == columns {
                out.push_str(" │");
                if i + 1 == columns {
                    out.push('\n');
                    line(out, ['╞', '═', '╪', '╡']);
                }
            }
        }
        out.push('\n');
        line(out, ['└', '─', '┴', '┘']);
    }
}

/// Display width, as comfy-table measures it.
fn width(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.width()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

    #[test]
    fn the_grid_draws_what_comfy_table_draws_without_a_terminal() {
        let header = ["ID", "NAME", "NOTE"];
        let rows = [
            ["20260101000000", "first", ""],
            ["20260102000000", "a_much_longer_name", "déjà vu — 日本語 …"],
            ["3", "", "-"],
        ];
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .force_no_tty()
            .set_header(header);
        let mut grid = Grid::new(&header);
        for row in rows {
            table.add_row(row);
            for cell in row {
                grid.cell(format_args!("{cell}"));
            }
        }
        let mut drawn = String::new();
        grid.draw(&mut drawn);
        assert_eq!(drawn, table.to_string());
    }

    #[test]
    fn a_grid_with_only_a_header_is_a_table_of_one_row() {
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .force_no_tty()
            .set_header(["A", "BB"]);
        let mut drawn = String::new();
        Grid::new(&["A", "BB"]).draw(&mut drawn);
        assert_eq!(drawn, table.to_string());
    }
}
