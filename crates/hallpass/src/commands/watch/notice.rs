//! From daemon events to desktop notices, with no IO: who hears what ([`Classifier`]), how a
//! burst becomes one summary ([`coalesce`]). Invariants: an event yields at most one notice for
//! this user; an "expiring soon" notice is shown at most once per configured offset per grant
//! (an extension starts over); the caller resolves requesters and names before classifying.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use hallpass_core::event::{Event, EventKind};
use hallpass_core::grant::EndReason;
use hallpass_core::time::{format_duration, format_duration_short};
use hallpass_core::user::Role;
use hallpass_core::{GrantId, RequestId, UserId};
use hallpass_tui::display::local_short;

use super::config::{Kind, WatchConfig};

/// The user `watch` runs for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Me {
    pub id: UserId,
    pub role: Role,
}

/// What a button on a notice does, through the daemon as this user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// Approve and Deny buttons.
    Decide(RequestId),
    /// An Extend button.
    Extend(GrantId),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub kind: Kind,
    pub summary: String,
    pub body: String,
    pub act: Option<Act>,
}

/// What the presenter is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update {
    Show(Notice),
    /// A request was decided (or withdrawn): its approval notice is stale.
    Decided(RequestId),
}

/// Turns events into notices for [`Me`]. Holds what it learnt from earlier events.
pub struct Classifier {
    pub me: Me,
    show: BTreeSet<Kind>,
    expiring: Vec<Duration>,
    /// Requesters learnt from events or looked up by the caller.
    pub requesters: HashMap<RequestId, UserId>,
    /// E-mails of users, looked up by the caller.
    pub names: HashMap<UserId, String>,
    /// Per grant, the configured offsets already warned at.
    warned: HashMap<GrantId, BTreeSet<Duration>>,
}

impl Classifier {
    pub fn new(me: Me, cfg: &WatchConfig) -> Classifier {
        Classifier {
            me,
            show: cfg.show.clone(),
            expiring: cfg.expiring.clone(),
            requesters: HashMap::new(),
            names: HashMap::new(),
            warned: HashMap::new(),
        }
    }

    /// The requests whose requester must be known to classify `e`.
    pub fn needs_requester(&self, e: &Event) -> Option<RequestId> {
        let r = match &e.kind {
            EventKind::RequestApproved {
                request,
                complete: true,
                ..
            }
            | EventKind::RequestRejected { request, .. }
            | EventKind::RequestTimedOut { request } => *request,
            _ => return None,
        };
        (!self.requesters.contains_key(&r)).then_some(r)
    }

    /// The users whose e-mail `e` would show.
    pub fn needs_names(&self, e: &Event) -> Vec<UserId> {
        let ids: Vec<UserId> = match &e.kind {
            EventKind::RequestApproved { by, .. } | EventKind::RequestRejected { by, .. } => {
                vec![*by]
            }
            EventKind::GrantEnded {
                reason: EndReason::Revoked { by, .. },
                ..
            } => vec![*by],
            EventKind::GrantFailed { user, .. } | EventKind::GrantRevokeFailed { user, .. }
                if self.is_admin() =>
            {
                vec![*user]
            }
            _ => vec![],
        };
        ids.into_iter()
            .filter(|u| !self.names.contains_key(u))
            .collect()
    }

    fn is_admin(&self) -> bool {
        self.me.role == Role::Admin
    }

    fn name(&self, u: UserId) -> String {
        self.names.get(&u).cloned().unwrap_or_else(|| u.to_string())
    }

    fn mine(&self, request: RequestId) -> bool {
        self.requesters.get(&request) == Some(&self.me.id)
    }

    /// What `e` means for this user. `utc_offset_secs` is the local offset, for times shown.
    pub fn classify(&mut self, e: &Event, utc_offset_secs: i32) -> Vec<Update> {
        let me = self.me.id;
        let when = |t| local_short(t, e.at, utc_offset_secs);
        let mut out = Vec::new();
        let notice = match &e.kind {
            EventKind::RequestSubmitted {
                request,
                requester,
                requester_email,
                targets,
                duration,
                reason,
                approvers,
                ..
            } => {
                self.requesters.insert(*request, *requester);
                self.names.insert(*requester, requester_email.clone());
                approvers.contains(&me).then(|| {
                    let what: Vec<String> = targets.iter().map(ToString::to_string).collect();
                    let mut body = format!(
                        "{requester_email} asks for {} for {}",
                        what.join(", "),
                        format_duration(*duration)
                    );
                    if !reason.is_empty() {
                        body.push_str(&format!("\nWhy: {reason}"));
                    }
                    Notice {
                        kind: Kind::Approvals,
                        summary: format!("{request} waits for your approval"),
                        body,
                        act: Some(Act::Decide(*request)),
                    }
                })
            }
            EventKind::RequestApproved {
                request,
                by,
                complete,
            } => {
                if *complete {
                    out.push(Update::Decided(*request));
                }
                (*complete && self.mine(*request)).then(|| Notice {
                    kind: Kind::Decisions,
                    summary: format!("{request} approved"),
                    body: format!(
                        "Approved by {}; your access is being set up.",
                        self.name(*by)
                    ),
                    act: None,
                })
            }
            EventKind::RequestRejected {
                request,
                by,
                reason,
            } => {
                out.push(Update::Decided(*request));
                self.mine(*request).then(|| Notice {
                    kind: Kind::Decisions,
                    summary: format!("{request} rejected"),
                    body: match reason {
                        Some(r) => format!("{} rejected it: {r}", self.name(*by)),
                        None => format!("{} rejected it (no reason given).", self.name(*by)),
                    },
                    act: None,
                })
            }
            EventKind::RequestCancelled { request, .. } => {
                out.push(Update::Decided(*request));
                None
            }
            EventKind::RequestTimedOut { request } => {
                out.push(Update::Decided(*request));
                self.mine(*request).then(|| Notice {
                    kind: Kind::Decisions,
                    summary: format!("{request} timed out"),
                    body: format!(
                        "Nobody decided in time. `hallpass request again {request}` asks again."
                    ),
                    act: None,
                })
            }
            EventKind::GrantActivated {
                grant,
                user,
                target,
                expires_at,
                ..
            } => (*user == me).then(|| {
                self.warned.remove(grant);
                Notice {
                    kind: Kind::Access,
                    summary: format!("Access active: {target}"),
                    body: format!(
                        "Until {} ({} from now). How to connect: `hallpass grants show {grant}`.",
                        when(*expires_at),
                        format_duration_short(whole_secs(e.at.until(*expires_at)))
                    ),
                    act: None,
                }
            }),
            EventKind::GrantExtended {
                grant,
                user,
                expires_at,
            } => (*user == me).then(|| {
                self.warned.remove(grant);
                Notice {
                    kind: Kind::Access,
                    summary: format!("Access extended: {grant}"),
                    body: format!("Now until {}.", when(*expires_at)),
                    act: None,
                }
            }),
            EventKind::GrantExpiringSoon {
                grant,
                user,
                target,
                expires_at,
            } => {
                let left = whole_secs(e.at.until(*expires_at));
                (*user == me && self.first_warning_within(*grant, left)).then(|| Notice {
                    kind: Kind::Expiring,
                    summary: format!("{target} ends in {}", format_duration_short(left)),
                    body: format!(
                        "Your access ends at {}. Extend asks for more time ({grant}).",
                        when(*expires_at)
                    ),
                    act: Some(Act::Extend(*grant)),
                })
            }
            EventKind::GrantEnded {
                grant,
                user,
                target,
                reason,
            } => {
                self.warned.remove(grant);
                let (summary, body) = match reason {
                    EndReason::Expired => (
                        format!("Access expired: {target}"),
                        format!("{grant} has ended and the access was removed."),
                    ),
                    EndReason::Released => (
                        format!("Access released: {target}"),
                        format!("{grant} was released early."),
                    ),
                    EndReason::Revoked { by, reason } => (
                        format!("Access revoked: {target}"),
                        match reason {
                            Some(r) => format!("{} revoked {grant}: {r}", self.name(*by)),
                            None => format!("{} revoked {grant}.", self.name(*by)),
                        },
                    ),
                    EndReason::UserDeleted => (
                        format!("Access removed: {target}"),
                        "Your account was deleted.".to_string(),
                    ),
                    EndReason::EligibilityLost { because } => (
                        format!("Access removed: {target}"),
                        format!("{grant} ended because you no longer qualify: {because}."),
                    ),
                    // Already told by GrantFailed.
                    EndReason::GrantFailed { .. } => (String::new(), String::new()),
                };
                (*user == me && !summary.is_empty()).then_some(Notice {
                    kind: Kind::Ended,
                    summary,
                    body,
                    act: None,
                })
            }
            EventKind::GrantFailed {
                grant,
                user,
                target,
                error,
                ..
            } => {
                if *user == me {
                    Some(Notice {
                        kind: Kind::Failures,
                        summary: format!("Access could not be granted: {target}"),
                        body: format!("{grant}: {error}"),
                        act: None,
                    })
                } else {
                    self.is_admin().then(|| Notice {
                        kind: Kind::Failures,
                        summary: format!("Connector failed: {target}"),
                        body: format!("Granting {grant} to {} failed: {error}", self.name(*user)),
                        act: None,
                    })
                }
            }
            EventKind::GrantRevokeFailed {
                grant,
                user,
                target,
                attempts,
                error,
            } => self.is_admin().then(|| Notice {
                kind: Kind::Failures,
                summary: format!("Revocation failing: {target}"),
                body: format!(
                    "Removing {grant} from {} failed {attempts} times; still retrying: {error}",
                    self.name(*user)
                ),
                act: None,
            }),
            EventKind::DriftDetected {
                integration,
                leftovers,
                missing,
            } => self.is_admin().then(|| Notice {
                kind: Kind::Failures,
                summary: format!("Drift on {integration}"),
                body: format!(
                    "{leftovers} leftover access without a grant, {missing} grant(s) without their access. See `hallpass drift`."
                ),
                act: None,
            }),
            EventKind::IdentitySynced {
                source,
                error: Some(why),
                ..
            } => self.is_admin().then(|| Notice {
                kind: Kind::Failures,
                summary: format!("Identity sync {source} failed"),
                body: format!("Nothing was changed: {why}. See `hallpass sync status`."),
                act: None,
            }),
            EventKind::IdentitySynced { error: None, .. } => None,
            EventKind::EligibilityLost {
                user,
                flow,
                why,
                kept,
            } => (*user == me || self.is_admin()).then(|| Notice {
                kind: Kind::Ended,
                summary: format!("No longer eligible: flow {flow}"),
                body: if *kept {
                    format!("{} no longer qualifies ({why}); the access stays (notify-only flow).", self.name(*user))
                } else {
                    format!("{} no longer qualifies ({why}); pending requests are cancelled and access revoked.", self.name(*user))
                },
                act: None,
            }),
            EventKind::UserRoleChanged { user, role } => {
                if *user == me {
                    self.me.role = *role;
                }
                None
            }
            EventKind::UserInvited { .. }
            | EventKind::UserJoined { .. }
            | EventKind::UserDeleted { .. }
            | EventKind::PolicyChanged { .. } => None,
        };
        if let Some(n) = notice.filter(|n| self.show.contains(&n.kind)) {
            out.insert(0, Update::Show(n));
        }
        out
    }

    /// Whether a warning with `left` to go is the first within one of the configured offsets
    /// not warned at yet for `grant` (and records it).
    fn first_warning_within(&mut self, grant: GrantId, left: Duration) -> bool {
        let within: Vec<Duration> = self
            .expiring
            .iter()
            .copied()
            .filter(|o| left <= *o)
            .collect();
        let warned = self.warned.entry(grant).or_default();
        let fresh = within.iter().any(|o| !warned.contains(o));
        warned.extend(within);
        fresh
    }
}

/// `d` rounded to the nearest second (a warning fired a few milliseconds late still reads
/// "5m", not "4m59s").
fn whole_secs(d: Duration) -> Duration {
    Duration::from_secs((d.as_millis() as u64 + 500) / 1000)
}

/// A burst of more than `max` notices becomes one summary; fewer are shown one by one.
pub fn coalesce(notices: Vec<Notice>, max: usize) -> Vec<Notice> {
    if notices.len() <= max {
        return notices;
    }
    let n = notices.len();
    let approvals = notices.iter().filter(|x| x.kind == Kind::Approvals).count();
    let summary = if approvals == n {
        format!("{n} requests wait for your approval")
    } else {
        format!("{n} hallpass updates")
    };
    const LINES: usize = 6;
    let mut lines: Vec<String> = notices
        .iter()
        .take(LINES)
        .map(|x| x.summary.clone())
        .collect();
    if n > LINES {
        lines.push(format!("… and {} more", n - LINES));
    }
    if approvals > 0 {
        lines.push("`hallpass requests --to-approve` lists them; `hallpass` opens the TUI.".into());
    }
    vec![Notice {
        kind: notices[0].kind,
        summary,
        body: lines.join("\n"),
        act: None,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use hallpass_core::integration::Target;
    use hallpass_core::{FlowName, Timestamp};

    const ME: UserId = UserId(2);
    const OTHER: UserId = UserId(3);
    const ADMIN: UserId = UserId(1);
    const T: Timestamp = Timestamp(1_800_000_000_000);

    fn target() -> Target {
        "sandbox/db/read".parse().expect("a target")
    }

    fn ev(kind: EventKind) -> Event {
        Event {
            seq: 1,
            at: T,
            kind,
            audience: Default::default(),
        }
    }

    fn classifier(role: Role) -> Classifier {
        Classifier::new(Me { id: ME, role }, &WatchConfig::default())
    }

    fn shown(c: &mut Classifier, kind: EventKind) -> Option<Notice> {
        c.classify(&ev(kind), 0).into_iter().find_map(|u| match u {
            Update::Show(n) => Some(n),
            Update::Decided(_) => None,
        })
    }

    fn submitted(request: u64, requester: UserId, approvers: Vec<UserId>) -> EventKind {
        EventKind::RequestSubmitted {
            request: RequestId(request),
            requester,
            requester_email: "dev@example.com".into(),
            flow: FlowName::new("db-read").expect("valid"),
            targets: vec![target()],
            duration: Duration::from_secs(7200),
            reason: "order #4521".into(),
            approvers,
        }
    }

    #[test]
    fn approvers_get_who_what_how_long_and_why_with_buttons() {
        let mut c = classifier(Role::Grantee);
        let n = shown(&mut c, submitted(1001, OTHER, vec![ME])).expect("a notice");
        assert_eq!(n.summary, "HP-1001 waits for your approval");
        assert_eq!(
            n.body,
            "dev@example.com asks for sandbox/db/read for 2h\nWhy: order #4521"
        );
        assert_eq!(n.act, Some(Act::Decide(RequestId(1001))));
        assert_eq!(shown(&mut c, submitted(1002, OTHER, vec![ADMIN])), None);
    }

    #[test]
    fn requesters_hear_decisions_on_their_own_requests_only() {
        let mut c = classifier(Role::Admin);
        c.classify(&ev(submitted(1001, ME, vec![ADMIN])), 0);
        c.classify(&ev(submitted(1002, OTHER, vec![ADMIN])), 0);
        c.names.insert(ADMIN, "admin@example.com".into());
        let approved = |r| EventKind::RequestApproved {
            request: RequestId(r),
            by: ADMIN,
            complete: true,
        };
        let n = shown(&mut c, approved(1001)).expect("mine");
        assert_eq!(n.summary, "HP-1001 approved");
        assert!(n.body.contains("admin@example.com"), "{}", n.body);
        assert_eq!(shown(&mut c, approved(1002)), None, "not mine");
        let n = shown(
            &mut c,
            EventKind::RequestRejected {
                request: RequestId(1001),
                by: ADMIN,
                reason: Some("use the replica".into()),
            },
        )
        .expect("mine");
        assert_eq!(n.summary, "HP-1001 rejected");
        assert_eq!(n.body, "admin@example.com rejected it: use the replica");
        // A decision makes the approval notice stale.
        assert_eq!(
            c.classify(&ev(approved(1002)), 0),
            [Update::Decided(RequestId(1002))]
        );
    }

    #[test]
    fn expiring_soon_shows_once_per_configured_offset() {
        let mut c = classifier(Role::Grantee);
        let warn = |left_secs: u64| {
            let mut e = ev(EventKind::GrantExpiringSoon {
                grant: GrantId(7),
                user: ME,
                target: target(),
                expires_at: T.plus(Duration::from_secs(left_secs)),
            });
            e.at = T;
            e
        };
        let show = |c: &mut Classifier, left| {
            c.classify(&warn(left), 0)
                .into_iter()
                .any(|u| matches!(u, Update::Show(_)))
        };
        let n = c.classify(&warn(900), 0);
        assert!(
            matches!(&n[..], [Update::Show(Notice { summary, act: Some(Act::Extend(GrantId(7))), .. })] if summary == "sandbox/db/read ends in 15m"),
            "{n:?}"
        );
        assert!(!show(&mut c, 900), "a repeated warning is not shown twice");
        assert!(show(&mut c, 300));
        assert!(!show(&mut c, 120), "both offsets used");
        // An extension starts over.
        c.classify(
            &ev(EventKind::GrantExtended {
                grant: GrantId(7),
                user: ME,
                expires_at: T,
            }),
            0,
        );
        assert!(show(&mut c, 900));

        // Configured for 5m only: the daemon's 15-minute warning is not shown.
        let cfg = WatchConfig {
            expiring: vec![Duration::from_secs(300)],
            ..WatchConfig::default()
        };
        let mut c = Classifier::new(
            Me {
                id: ME,
                role: Role::Grantee,
            },
            &cfg,
        );
        assert!(!show(&mut c, 900));
        assert!(show(&mut c, 300));
    }

    #[test]
    fn admins_hear_failures_of_everyone_others_only_their_own() {
        let failed = |user| EventKind::GrantFailed {
            grant: GrantId(4),
            request: RequestId(1),
            user,
            target: target(),
            error: "exit 3".into(),
        };
        let revoke_failed = EventKind::GrantRevokeFailed {
            grant: GrantId(4),
            user: OTHER,
            target: target(),
            attempts: 3,
            error: "timeout".into(),
        };
        let mut admin = Classifier::new(
            Me {
                id: ADMIN,
                role: Role::Admin,
            },
            &WatchConfig::default(),
        );
        admin.names.insert(OTHER, "bob@example.com".into());
        let n = shown(&mut admin, failed(OTHER)).expect("admins hear it");
        assert_eq!(n.kind, Kind::Failures);
        assert!(n.body.contains("bob@example.com"), "{}", n.body);
        assert!(shown(&mut admin, revoke_failed.clone()).is_some());

        let mut c = classifier(Role::Grantee);
        assert_eq!(shown(&mut c, failed(OTHER)), None);
        assert_eq!(shown(&mut c, revoke_failed), None);
        assert!(shown(&mut c, failed(ME)).is_some());
    }

    #[test]
    fn kinds_left_out_of_show_are_not_shown() {
        let cfg = WatchConfig {
            show: [Kind::Approvals].into(),
            ..WatchConfig::default()
        };
        let mut c = Classifier::new(
            Me {
                id: ME,
                role: Role::Grantee,
            },
            &cfg,
        );
        let active = EventKind::GrantActivated {
            grant: GrantId(1),
            request: RequestId(1),
            user: ME,
            target: target(),
            expires_at: T.plus(Duration::from_secs(3600)),
        };
        assert_eq!(shown(&mut c, active), None);
        assert!(shown(&mut c, submitted(1, OTHER, vec![ME])).is_some());
    }

    #[test]
    fn a_burst_becomes_one_summary() {
        let n = |i: u64| Notice {
            kind: Kind::Approvals,
            summary: format!("HP-{i} waits for your approval"),
            body: String::new(),
            act: Some(Act::Decide(RequestId(i))),
        };
        let few: Vec<Notice> = (1..=3).map(n).collect();
        assert_eq!(coalesce(few.clone(), 3), few);
        let burst = coalesce((1..=10).map(n).collect(), 3);
        assert_eq!(burst.len(), 1);
        assert_eq!(burst[0].summary, "10 requests wait for your approval");
        assert!(burst[0].body.contains("… and 4 more"), "{}", burst[0].body);
        assert_eq!(burst[0].act, None);
    }
}
