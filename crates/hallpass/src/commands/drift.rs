//! `hallpass drift`: compare every integration's real state with the grants.

use clap::Args;
use hallpass_proto::{ApiError, DriftReport};

use crate::connection::{Session, ctx_for};
use crate::failure::{Failure, answer};
use crate::output::{Output, table};

#[derive(Debug, Args)]
#[command(after_help = "\
Leftovers are access on a target with no live grant behind it (e.g. a role a crashed script
left); missing are active grants whose access the target lacks. Findings are audited and
alerted. Exit status 0: no drift; 7: drift found (or a target could not be checked).

Examples:
  hallpass drift
  hallpass drift --cleanup      also remove leftovers (admins)")]
pub struct DriftArgs {
    /// Remove the leftovers found (admins; audited)
    #[arg(long)]
    pub cleanup: bool,
}

pub async fn run(s: &Session, out: Output, a: DriftArgs) -> Result<(), Failure> {
    let deadline = std::time::Duration::from_secs(600);
    let report = answer(s.client.drift(ctx_for(deadline), a.cleanup).await)?;
    if !out.json(&report)? {
        print_report(&report);
    }
    let unchecked: Vec<String> = report
        .integrations
        .iter()
        .filter(|i| !i.checked && i.note.starts_with("cannot"))
        .map(|i| i.integration.to_string())
        .collect();
    let open = report
        .integrations
        .iter()
        .flat_map(|i| i.leftovers.iter().chain(&i.missing))
        .filter(|d| !d.cleaned)
        .count();
    if open > 0 || !unchecked.is_empty() {
        let mut why = Vec::new();
        if open > 0 {
            why.push(format!("{open} finding(s)"));
        }
        if !unchecked.is_empty() {
            why.push(format!("could not check {}", unchecked.join(", ")));
        }
        return Err(Failure::Api(ApiError::Unavailable {
            why: format!("drift: {}", why.join("; ")),
        }));
    }
    Ok(())
}

fn print_report(r: &DriftReport) {
    let mut rows = Vec::new();
    for i in &r.integrations {
        for (kind, items) in [("leftover", &i.leftovers), ("missing", &i.missing)] {
            for d in items {
                rows.push([
                    i.integration.to_string(),
                    if d.cleaned {
                        format!("{kind} (removed)")
                    } else {
                        kind.to_string()
                    },
                    d.name.clone(),
                    d.detail.clone(),
                ]);
            }
        }
    }
    for i in &r.integrations {
        let state = if i.checked { "checked" } else { "not checked" };
        println!("{}: {state}; {}", i.integration, i.note);
    }
    if rows.is_empty() {
        println!("no drift");
    } else {
        println!(
            "\n{}",
            table(["integration", "finding", "name", "detail"], rows)
        );
    }
}
