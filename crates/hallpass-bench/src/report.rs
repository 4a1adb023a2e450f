//! What a benchmark reports: tables for people (printed as Markdown, so they paste into
//! BENCHMARKS.md unchanged) and one JSON value for machines. Invariant: every figure in a table
//! is also in the JSON, with its unit in the key name.

use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Debug, Serialize)]
pub struct Table {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Sentences printed under the table: how it was measured, what falls short.
    pub notes: Vec<String>,
}

impl Table {
    pub fn new(title: impl Into<String>, columns: &[&str]) -> Table {
        Table {
            title: title.into(),
            columns: columns.iter().map(|c| (*c).to_string()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) -> &mut Table {
        self.rows.push(cells);
        self
    }

    pub fn note(&mut self, n: impl Into<String>) -> &mut Table {
        self.notes.push(n.into());
        self
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("### {}\n\n", self.title);
        out.push_str(&format!("| {} |\n", self.columns.join(" | ")));
        out.push_str(&format!(
            "|{}\n",
            self.columns.iter().map(|_| "---|").collect::<String>()
        ));
        for r in &self.rows {
            out.push_str(&format!("| {} |\n", r.join(" | ")));
        }
        for n in &self.notes {
            out.push_str(&format!("\n{n}\n"));
        }
        out
    }
}

/// One subcommand's result.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub name: &'static str,
    pub tables: Vec<Table>,
    pub json: Value,
    /// A figure fell short of its target (reported, not an error: benchmarks inform).
    pub short_of_targets: Vec<String>,
}

impl Outcome {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for t in &self.tables {
            out.push_str(&t.markdown());
            out.push('\n');
        }
        if !self.short_of_targets.is_empty() {
            out.push_str("Short of target:\n\n");
            for s in &self.short_of_targets {
                out.push_str(&format!("- {s}\n"));
            }
            out.push('\n');
        }
        out
    }

    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "bench": self.name,
            "results": self.json,
            "short_of_targets": self.short_of_targets,
        })
    }
}
