//! Policy as code: `hallpass export` writes integrations, bundles and flows as one TOML
//! document; `hallpass apply -f FILE` shows the plan (create / update / delete, field by field),
//! asks, and applies it in one transaction. Invariants: export then apply is an empty plan;
//! what is applied is exactly the plan that was shown (its fingerprint is checked by the daemon);
//! errors name the file, and the line of the object they are about.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use hallpass_core::policy_doc::{self, PlanOp, PolicyDoc, PolicyPlan};
use hallpass_proto::ApiError;

use crate::connection::{Session, ctx};
use crate::failure::{Failure, answer};
use crate::output::Output;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  hallpass export -o policy.toml
  hallpass export --json > policy.json")]
pub struct ExportArgs {
    /// Write to this file instead of standard output
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
The file holds [[integration]], [[bundle]] and [[flow]] tables (see config/policy.example.toml;
`hallpass export` writes one). Secrets appear only by reference (file:/… or env:…).

Examples:
  hallpass apply -f policy.toml              show the plan, ask, apply
  hallpass apply -f policy.toml --dry-run    only show the plan
  hallpass apply -f policy.toml --prune --yes")]
pub struct ApplyArgs {
    /// The policy file (TOML)
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: PathBuf,
    /// Also delete integrations, bundles and flows the file does not name
    #[arg(long)]
    pub prune: bool,
    /// Apply without asking
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Show the plan and change nothing
    #[arg(long, conflicts_with = "yes")]
    pub dry_run: bool,
}

/// The document as TOML, with a header saying how to apply it.
pub fn to_toml(doc: &PolicyDoc) -> Result<String, Failure> {
    let body = doc.to_toml().map_err(Failure::Local)?;
    Ok(format!(
        "# hallpass policy: integrations, bundles and flows. Apply with `hallpass apply -f FILE`.\n\n{body}"
    ))
}

/// Parses a policy file; a syntax or type error names the file, line and column.
pub fn parse(path: &std::path::Path, text: &str) -> Result<PolicyDoc, Failure> {
    PolicyDoc::from_toml(text)
        .map_err(|e| Failure::invalid("--file", format!("{}: {e}", path.display())))
}

/// Places a daemon's refusal about `kind name: field` at its line in the file.
fn locate(path: &std::path::Path, text: &str, e: ApiError) -> Failure {
    if let ApiError::InvalidInput { field, why } = &e {
        let at = match policy_doc::line_of_field(text, field) {
            Some(line) => format!("{}:{line}", path.display()),
            None => path.display().to_string(),
        };
        return Failure::invalid("--file", format!("{at}: {field}: {why}"));
    }
    Failure::Api(e)
}

pub async fn export(s: &Session, out: Output, a: ExportArgs) -> Result<(), Failure> {
    let doc = answer(s.client.export_policy(ctx()).await)?;
    if a.output.is_none() && out.json(&doc)? {
        return Ok(());
    }
    let text = to_toml(&doc)?;
    match a.output {
        Some(path) => {
            std::fs::write(&path, text)
                .map_err(|e| Failure::Local(format!("cannot write {}: {e}", path.display())))?;
            eprintln!(
                "wrote {} integration(s), {} bundle(s), {} flow(s) to {}",
                doc.integrations.len(),
                doc.bundles.len(),
                doc.flows.len(),
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

pub async fn apply(s: &Session, out: Output, a: ApplyArgs) -> Result<(), Failure> {
    let text = std::fs::read_to_string(&a.file).map_err(|e| {
        Failure::invalid("--file", format!("cannot read {}: {e}", a.file.display()))
    })?;
    let doc = parse(&a.file, &text)?;
    let located = |e| locate(&a.file, &text, e);
    let plan = s
        .client
        .apply_policy(ctx(), doc.clone(), a.prune, true, None)
        .await
        .map_err(|e| Failure::Unreachable(e.to_string()))?
        .map_err(located)?;
    if plan.changes.is_empty() {
        if !out.json(&plan)? {
            println!(
                "no changes: the policy already matches {}",
                a.file.display()
            );
        }
        return Ok(());
    }
    if a.dry_run {
        if !out.json(&plan)? {
            print_plan(&plan);
        }
        return Ok(());
    }
    if !out.json {
        print_plan(&plan);
    }
    if !a.yes {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::invalid(
                "--yes",
                "not asking on a non-interactive input: review with --dry-run, then apply with --yes",
            ));
        }
        print!("Apply these {} change(s)? [y/N] ", plan.changes.len());
        std::io::stdout().flush().ok();
        let mut answer_line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer_line)
            .map_err(|e| Failure::Local(format!("cannot read the answer: {e}")))?;
        if !matches!(answer_line.trim(), "y" | "Y" | "yes") {
            println!("nothing applied");
            return Ok(());
        }
    }
    let applied = s
        .client
        .apply_policy(ctx(), doc, a.prune, false, Some(plan.fingerprint.clone()))
        .await
        .map_err(|e| Failure::Unreachable(e.to_string()))?
        .map_err(located)?;
    if !out.json(&applied)? {
        println!("applied {} change(s)", applied.changes.len());
    }
    Ok(())
}

fn print_plan(plan: &PolicyPlan) {
    let (mut c, mut u, mut d) = (0, 0, 0);
    for ch in &plan.changes {
        let mark = match ch.op {
            PlanOp::Create => {
                c += 1;
                "+"
            }
            PlanOp::Update => {
                u += 1;
                "~"
            }
            PlanOp::Delete => {
                d += 1;
                "-"
            }
        };
        println!("{mark} {} {}", ch.kind, ch.name);
        if ch.op == PlanOp::Update {
            for f in &ch.fields {
                println!(
                    "    {}: {} → {}",
                    f.path,
                    f.before.as_deref().unwrap_or("(none)"),
                    f.after.as_deref().unwrap_or("(none)")
                );
            }
        }
    }
    println!("{c} to create, {u} to update, {d} to delete");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_point_at_the_objects_line() {
        let text = "[[integration]]\nname = \"a\"\n\n[[flow]]\nname = \"x\"\n\n[[flow]]\nname = \"db-read\"\n";
        assert_eq!(policy_doc::line_of(text, "flow", "db-read"), Some(8));
        assert_eq!(policy_doc::line_of(text, "integration", "a"), Some(2));
        assert_eq!(policy_doc::line_of(text, "bundle", "a"), None);
        let f = locate(
            std::path::Path::new("p.toml"),
            text,
            ApiError::invalid("flow db-read: max_duration", "must be between 1s and 90d"),
        );
        let Failure::Api(ApiError::InvalidInput { why, .. }) = f else {
            panic!("invalid input")
        };
        assert!(
            why.starts_with("p.toml:8: flow db-read: max_duration"),
            "{why}"
        );
    }

    #[test]
    fn the_example_policy_parses_and_checks() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../config/policy.example.toml");
        let text = std::fs::read_to_string(&path).expect("the example exists");
        let doc = parse(&path, &text).expect("parses");
        doc.check().expect("valid objects");
        doc.check_references().expect("references resolve");
        assert!(!doc.integrations.is_empty() && !doc.flows.is_empty());
        // Export's TOML reads back to the same document.
        let again = parse(&path, &to_toml(&doc).expect("toml")).expect("round trip");
        assert_eq!(again, doc);
    }
}
