//! The buttons: Approve, Deny and Extend act through the daemon as the user running `watch`
//! (the daemon identifies the caller by the socket's peer credentials, as for every command).
//! Invariant: a button never fails silently: the outcome, or what to do instead, comes back as a
//! notice; a flow that needs a reason gets one asked for (`reason_command`) rather than refused.

use std::path::PathBuf;
use std::time::Duration;

use hallpass_core::audit::Source;
use hallpass_core::{GrantId, RequestId};
use hallpass_proto::{ApiError, ExtendArgs};
use tokio::sync::mpsc;

use super::config::{Kind, WatchConfig};
use super::notice::{Notice, Update};
use crate::connection::{Session, ctx};

/// A button pressed on a notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Press {
    Approve(RequestId),
    Deny(RequestId),
    Extend(GrantId),
}

/// How long a reason prompt may stay open.
const PROMPT_FOR: Duration = Duration::from_secs(300);

/// Performs `press` and reports the outcome as a notice on `out`.
pub async fn perform(
    socket: PathBuf,
    cfg: WatchConfig,
    press: Press,
    out: mpsc::UnboundedSender<Update>,
) {
    let notice = match Session::connect(&socket).await {
        Ok(s) => outcome(&s, &cfg, press).await,
        Err(e) => Notice {
            kind: Kind::Failures,
            summary: "hallpass is unreachable".into(),
            body: super::follow::failure_text(&e),
            act: None,
        },
    };
    let _ = out.send(Update::Show(notice));
}

fn needs_reason(e: &ApiError) -> bool {
    matches!(e, ApiError::InvalidInput { field, .. } if field == "reason")
}

fn done(summary: String, body: String) -> Notice {
    Notice {
        kind: Kind::Decisions,
        summary,
        body,
        act: None,
    }
}

async fn outcome(s: &Session, cfg: &WatchConfig, press: Press) -> Notice {
    match press {
        Press::Approve(id) => {
            let mut r = call(s.client.approve(ctx(), id, None).await);
            if let Err(e) = &r
                && needs_reason(e)
            {
                let Some(reason) = ask_reason(cfg, &format!("Why approve {id}?")).await else {
                    return no_reason(id, "approve");
                };
                r = call(s.client.approve(ctx(), id, Some(reason)).await);
            }
            match r {
                Ok(v) => done(
                    format!("You approved {id}"),
                    format!("{} is now {}.", v.id, v.status),
                ),
                Err(e) => done(format!("Could not approve {id}"), e.to_string()),
            }
        }
        Press::Deny(id) => {
            let mut r = call(s.client.reject(ctx(), id, None).await);
            if let Err(e) = &r
                && needs_reason(e)
            {
                let Some(reason) = ask_reason(cfg, &format!("Why deny {id}?")).await else {
                    return no_reason(id, "reject");
                };
                r = call(s.client.reject(ctx(), id, Some(reason)).await);
            }
            match r {
                Ok(v) => done(
                    format!("You rejected {id}"),
                    format!("{} is now {}.", v.id, v.status),
                ),
                Err(e) => done(format!("Could not reject {id}"), e.to_string()),
            }
        }
        Press::Extend(g) => {
            let args = ExtendArgs {
                duration_secs: cfg.extend_by.as_secs(),
                reason: Some("asked from a desktop notification".into()),
                source: Source::Cli,
            };
            match call(s.client.extend(ctx(), g, args).await) {
                Ok(v) => Notice {
                    kind: Kind::Access,
                    summary: format!("Extension asked for {g}"),
                    body: format!(
                        "{} for {} more is {}.",
                        v.id,
                        hallpass_core::time::format_duration(cfg.extend_by),
                        v.status
                    ),
                    act: None,
                },
                Err(e) => Notice {
                    kind: Kind::Access,
                    summary: format!("Could not extend {g}"),
                    body: e.to_string(),
                    act: None,
                },
            }
        }
    }
}

fn call<T>(r: Result<Result<T, ApiError>, tarpc::client::RpcError>) -> Result<T, ApiError> {
    r.unwrap_or_else(|e| {
        Err(ApiError::Unavailable {
            why: format!("the daemon did not answer: {e}"),
        })
    })
}

fn no_reason(id: RequestId, verb: &str) -> Notice {
    done(
        format!("{id} needs a reason to {verb}"),
        format!(
            "Its flow asks approvers why. Run `hallpass {verb} {id} --reason \"…\"`, or open \
             `hallpass` (approvals: 2)."
        ),
    )
}

/// Asks the person for a reason with `reason_command` (or zenity / kdialog when installed).
/// None when there is no way to ask, or they gave none.
async fn ask_reason(cfg: &WatchConfig, prompt: &str) -> Option<String> {
    let argv: Vec<String> = match &cfg.reason_command {
        Some(argv) => argv.iter().map(|a| a.replace("{prompt}", prompt)).collect(),
        None => default_prompt(prompt)?,
    };
    let (program, args) = argv.split_first()?;
    let run = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(PROMPT_FOR, run).await.ok()?.ok()?;
    let reason = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !reason.is_empty()).then_some(reason)
}

fn default_prompt(prompt: &str) -> Option<Vec<String>> {
    let on_path = |p: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(p).is_file()))
    };
    if on_path("zenity") {
        Some(
            ["zenity", "--entry", "--title", "hallpass", "--text", prompt]
                .map(String::from)
                .to_vec(),
        )
    } else if on_path("kdialog") {
        Some(
            ["kdialog", "--title", "hallpass", "--inputbox", prompt]
                .map(String::from)
                .to_vec(),
        )
    } else {
        None
    }
}
