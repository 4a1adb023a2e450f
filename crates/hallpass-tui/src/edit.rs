//! Editing policy from the TUI: a flow, bundle or integration opened as TOML in `$VISUAL` or
//! `$EDITOR` (or a commented template for a new one), planned by the daemon when the editor
//! exits, shown as a plan to confirm, and applied with that plan's fingerprint.
//! Invariants: nothing is written before the person confirms the plan, and what is applied is
//! exactly the plan shown (the daemon refuses it if the policy moved in between); the text
//! typed is never lost to an error: the overlay keeps it, and `e` reopens it with the error
//! written above it as `# !` lines (dropped again when it is read back).

use crossterm::event::{KeyCode, KeyEvent};
use hallpass_core::flow::Flow;
use hallpass_core::integration::{Bundle, Integration, Target};
use hallpass_core::policy_doc::{self, PlanOp, PolicyDoc, PolicyPlan};
use hallpass_proto::ApiError;

use crate::app::{App, Tone};
use crate::effect::{Action, Cmd, Query};
use crate::message::CallError;
use crate::overlay::Overlay;

/// What kind of object a draft is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Integration,
    Bundle,
    Flow,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Integration => "integration",
            Kind::Bundle => "bundle",
            Kind::Flow => "flow",
        }
    }
}

/// A policy text on its way through the editor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    pub kind: Kind,
    /// The object opened for editing; `None` for a new one.
    pub name: Option<String>,
    /// The text as first opened: saving it unchanged changes nothing.
    pub opened: String,
    /// The text the editor opens with (the last text typed, after an error).
    pub text: String,
}

impl Draft {
    fn new(kind: Kind, name: Option<String>, text: String) -> Draft {
        Draft {
            kind,
            name,
            opened: text.clone(),
            text,
        }
    }

    /// "flow db-read", or "a new flow".
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{} {n}", self.kind.noun()),
            None => format!("a new {}", self.kind.noun()),
        }
    }

    /// The same draft, reopening `body` with `error` written above it.
    fn again(&self, body: &str, error: Option<&str>) -> Draft {
        let mut text = String::new();
        if let Some(e) = error {
            for line in e.lines().filter(|l| !l.trim().is_empty()) {
                text.push_str(NOTE);
                text.push_str(line);
                text.push('\n');
            }
            text.push_str(NOTE);
            text.push_str("(these lines are dropped when you save)\n");
        }
        text.push_str(body);
        Draft {
            text,
            ..self.clone()
        }
    }
}

/// How the TUI marks its own notes in a draft.
const NOTE: &str = "# ! ";

/// The text without the TUI's `# !` notes.
pub fn strip_notes(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with(NOTE.trim_end()))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Whether `text` says anything but comments.
fn is_blank(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#'))
}

fn header(kind: Kind, name: Option<&str>) -> String {
    let what = match name {
        Some(n) => format!("Editing {} {n}.", kind.noun()),
        None => format!("A new {}: fill it in.", kind.noun()),
    };
    format!(
        "# {what} Save and quit to see the plan; nothing changes until you confirm it.\n\
         # Quit without saving, or empty the file, to change nothing. Durations are in seconds.\n\
         # Renaming makes a new {0} (the old one stays). Secrets only by reference (file:/… env:…).\n\n",
        kind.noun()
    )
}

fn one(doc: PolicyDoc, kind: Kind, name: &str) -> Result<Draft, String> {
    let body = doc.to_toml()?;
    Ok(Draft::new(
        kind,
        Some(name.to_string()),
        format!("{}{body}", header(kind, Some(name))),
    ))
}

pub fn flow_draft(f: &Flow) -> Result<Draft, String> {
    let doc = PolicyDoc {
        flows: vec![f.clone()],
        ..PolicyDoc::default()
    };
    one(doc, Kind::Flow, f.name.as_str())
}

pub fn bundle_draft(b: &Bundle) -> Result<Draft, String> {
    let doc = PolicyDoc {
        bundles: vec![b.clone()],
        ..PolicyDoc::default()
    };
    one(doc, Kind::Bundle, b.name.as_str())
}

pub fn integration_draft(i: &Integration) -> Result<Draft, String> {
    let doc = PolicyDoc {
        integrations: vec![i.clone()],
        ..PolicyDoc::default()
    };
    one(doc, Kind::Integration, i.name.as_str())
}

/// A commented template for a new object. Its target is one that exists (the first resource
/// of the first integration) when there is one, so the template is valid as it stands.
pub fn template(kind: Kind, integrations: &[Integration]) -> Draft {
    let target = integrations
        .iter()
        .find_map(|i| {
            let r = i.resources.first()?;
            Some(Target {
                integration: i.name.clone(),
                resource: r.name.clone(),
                permission: r.permissions.first()?.clone(),
            })
        })
        .map_or_else(
            || {
                "{ integration = \"INTEGRATION\", resource = \"RESOURCE\", permission = \"PERMISSION\" }"
                    .to_string()
            },
            |t| {
                format!(
                    "{{ integration = \"{}\", resource = \"{}\", permission = \"{}\" }}",
                    t.integration, t.resource, t.permission
                )
            },
        );
    let body = match kind {
        Kind::Flow => format!(
            "[[flow]]\n\
             name = \"new-flow\"\n\
             description = \"\"\n\
             enabled = true\n\
             # self-serve, or access-link (externals ask through links made with `n`)\n\
             trigger = \"self-serve\"\n\
             max_duration = 3600\n\
             default_duration = 3600\n\
             # How long a request may wait for its approvals.\n\
             pending_ttl = 86400\n\
             justification_required = true\n\
             approver_reason_required = false\n\
             allow_self_approval = false\n\n\
             [flow.requestors]\n\
             # Or: everyone = false, groups = [\"oncall\"], users = [12] (ids of U-12 and so on)\n\
             everyone = true\n\n\
             [flow.targets]\n\
             # Or bundles = [\"incident\"]\n\
             resources = [{target}]\n\n\
             [flow.approval]\n\
             # Or {{ rule = \"all-of\" }}, {{ rule = \"auto\" }}, {{ rule = \"quorum\", n = 2 }}\n\
             rule = {{ rule = \"any-of\" }}\n\
             # \"admins\", \"manager\", {{ group = \"oncall\" }} or {{ user = 12 }}\n\
             approvers = [\"admins\"]\n"
        ),
        Kind::Bundle => format!(
            "[[bundle]]\n\
             name = \"new-bundle\"\n\
             description = \"\"\n\
             targets = [\n    {target},\n]\n"
        ),
        Kind::Integration => "[[integration]]\n\
             name = \"new-integration\"\n\
             description = \"\"\n\
             resources = [\n    { name = \"prod\", permissions = [\"deploy\"] },\n]\n\n\
             # exec runs a script to grant and to revoke; postgres and ssh connectors are in\n\
             # config/policy.example.toml.\n\
             [integration.connector]\n\
             type = \"exec\"\n\
             grant = [\"/usr/local/libexec/hallpass/grant\"]\n\
             revoke = [\"/usr/local/libexec/hallpass/revoke\"]\n\
             timeout = 30\n"
            .to_string(),
    };
    Draft::new(kind, None, format!("{}{body}", header(kind, None)))
}

/// The edit overlay: the daemon's plan for the saved text, or why it cannot be applied.
#[derive(Clone, Debug)]
pub struct EditView {
    pub draft: Draft,
    /// The saved text, notes dropped.
    pub body: String,
    pub state: EditState,
}

#[derive(Clone, Debug)]
pub enum EditState {
    /// Asked the daemon for the plan of this document.
    Checking(PolicyDoc),
    Plan {
        doc: PolicyDoc,
        plan: PolicyPlan,
    },
    /// Asked the daemon to apply the plan.
    Applying,
    /// What is wrong with the text (or the call), to fix with `e`.
    Error(String),
}

/// Opens an editor on `draft` (admins only: auditors read policy, they do not write it).
pub fn open(app: &mut App, draft: Result<Draft, String>) -> Vec<Cmd> {
    if !app.is_admin() {
        app.set_status(Tone::Warn, "Creating and editing policy is for admins.");
        return vec![];
    }
    match draft {
        Ok(d) => vec![Cmd::Edit(d)],
        Err(e) => {
            app.set_status(Tone::Bad, e);
            vec![]
        }
    }
}

/// The editor exited: `outcome` is the saved text, or why the editor could not run.
pub fn edited(app: &mut App, draft: Draft, outcome: Result<String, String>) -> Vec<Cmd> {
    app.dirty = true;
    let text = match outcome {
        Ok(t) => t,
        Err(why) => {
            app.set_status(Tone::Bad, format!("The editor failed: {why}"));
            return vec![];
        }
    };
    let body = strip_notes(&text);
    if body == strip_notes(&draft.opened) || is_blank(&body) {
        app.set_status(
            Tone::Info,
            format!("No change to {}: nothing was saved.", draft.label()),
        );
        return vec![];
    }
    let (state, cmds) = match PolicyDoc::from_toml(&body) {
        Err(e) => (EditState::Error(e), vec![]),
        Ok(doc) if doc == PolicyDoc::default() => (
            EditState::Error("the text names no [[integration]], [[bundle]] or [[flow]]".into()),
            vec![],
        ),
        Ok(doc) => (
            EditState::Checking(doc.clone()),
            vec![Cmd::Act(Action::PlanPolicy(doc))],
        ),
    };
    app.overlay = Some(Overlay::Edit(EditView { draft, body, state }));
    cmds
}

/// The daemon answered a plan (`applied` false) or an apply.
pub fn answered(app: &mut App, applied: bool, answer: Result<PolicyPlan, CallError>) -> Vec<Cmd> {
    let Some(Overlay::Edit(view)) = &mut app.overlay else {
        // Closed while waiting: an apply still happened, so say so; a plan is dropped.
        if applied && let Ok(plan) = answer {
            return done(app, &plan);
        }
        return vec![];
    };
    match answer {
        Ok(plan) if applied => done(app, &plan),
        Ok(plan) if plan.changes.is_empty() => {
            let label = view.draft.label();
            app.overlay = None;
            app.set_status(
                Tone::Info,
                format!("No change to {label}: the policy already says this."),
            );
            vec![]
        }
        Ok(plan) => {
            if let EditState::Checking(doc) = &view.state {
                view.state = EditState::Plan {
                    doc: doc.clone(),
                    plan,
                };
            }
            vec![]
        }
        Err(e) => {
            view.state = EditState::Error(explain(&view.body, &e));
            vec![]
        }
    }
}

fn done(app: &mut App, plan: &PolicyPlan) -> Vec<Cmd> {
    app.overlay = None;
    let names: Vec<String> = plan
        .changes
        .iter()
        .map(|c| format!("{} {}", c.kind, c.name))
        .collect();
    app.toast(
        Tone::Good,
        format!("Applied {} change(s): {}.", names.len(), names.join(", ")),
    );
    app.status = None;
    vec![
        Cmd::Load(Query::Flows),
        Cmd::Load(Query::Bundles),
        Cmd::Load(Query::Integrations),
    ]
}

/// A refusal, placed at its object's line in the text when it names one.
fn explain(body: &str, e: &CallError) -> String {
    match e {
        CallError::Api(ApiError::InvalidInput { field, why }) => {
            match policy_doc::line_of_field(body, field) {
                Some(line) => format!("line {line}: {field}: {why}"),
                None => format!("{field}: {why}"),
            }
        }
        CallError::Api(ApiError::Conflict { .. }) => format!(
            "{e}\nThe policy changed since this plan was made: press e and save again for a new plan."
        ),
        e => e.to_string(),
    }
}

/// A key on the edit overlay; `false` closes it.
pub fn key(app: &mut App, view: &mut EditView, key: KeyEvent, cmds: &mut Vec<Cmd>) -> bool {
    let edit_again = |view: &EditView| {
        let error = match &view.state {
            EditState::Error(e) => Some(e.as_str()),
            _ => None,
        };
        Cmd::Edit(view.draft.again(&view.body, error))
    };
    match (&view.state, key.code) {
        (EditState::Plan { doc, plan }, KeyCode::Enter | KeyCode::Char('y')) => {
            app.set_status(Tone::Info, format!("Applying {}…", view.draft.label()));
            cmds.push(Cmd::Act(Action::ApplyPolicy {
                doc: doc.clone(),
                expect: plan.fingerprint.clone(),
            }));
            view.state = EditState::Applying;
            true
        }
        (EditState::Plan { .. } | EditState::Error(_), KeyCode::Char('e'))
        | (EditState::Error(_), KeyCode::Enter) => {
            cmds.push(edit_again(view));
            false
        }
        (EditState::Plan { .. } | EditState::Error(_), KeyCode::Char('n' | 'q')) => {
            app.set_status(
                Tone::Info,
                format!("Discarded the edit of {}.", view.draft.label()),
            );
            false
        }
        _ => true,
    }
}

/// The plan as lines: one per change, with the fields an update changes.
pub fn plan_lines(plan: &PolicyPlan) -> Vec<String> {
    let mut out = vec![];
    for c in &plan.changes {
        let mark = match c.op {
            PlanOp::Create => "+ create",
            PlanOp::Update => "~ update",
            PlanOp::Delete => "- delete",
        };
        out.push(format!("{mark} {} {}", c.kind, c.name));
        if c.op == PlanOp::Update {
            for f in &c.fields {
                out.push(format!(
                    "    {}: {} → {}",
                    f.path,
                    f.before.as_deref().unwrap_or("(none)"),
                    f.after.as_deref().unwrap_or("(none)")
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn templates_are_valid_policy_as_they_stand() {
        for kind in [Kind::Flow, Kind::Bundle, Kind::Integration] {
            let d = template(kind, &fixture::integrations());
            let doc = PolicyDoc::from_toml(&d.text).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            doc.check().unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert!(d.name.is_none());
        }
    }

    #[test]
    fn notes_are_written_above_and_dropped_when_read_back() {
        let d = Draft::new(Kind::Flow, Some("x".into()), "[[flow]]\n".into());
        let again = d.again("[[flow]]\nname = 1\n", Some("line 2: bad\nmore"));
        assert!(
            again.text.starts_with("# ! line 2: bad\n# ! more\n"),
            "{}",
            again.text
        );
        assert_eq!(strip_notes(&again.text), "[[flow]]\nname = 1\n");
        assert_eq!(again.opened, d.opened);
    }
}
