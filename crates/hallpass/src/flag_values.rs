//! Turns the text of command-line values into domain and wire values: durations, times,
//! targets, approval rules, approver and requestor specs, resource and secret declarations,
//! command lines. Invariant: every refusal is a [`Failure`] naming the flag (exit 5), and
//! nothing here talks to the daemon (e-mails stay [`UserRef`]s until a command resolves them).

use std::time::Duration;

use hallpass_core::flow::ApprovalRule;
use hallpass_core::integration::{ResourceDef, SecretRef, Target};
use hallpass_core::time::parse_duration;
use hallpass_core::{BundleName, FlowName, GrantId, GroupName, IntegrationName, RequestId};
use hallpass_core::{DomainError, Timestamp};
use hallpass_proto::UserRef;

use crate::failure::{Failure, for_flag};

/// A duration like `30m`, `2h`, `1d`, `1h30m`.
pub fn duration(flag: &'static str, s: &str) -> Result<Duration, Failure> {
    parse_duration(flag, s).map_err(|e| for_flag(flag, e))
}

/// An optional duration flag, in whole seconds as the wire wants it (`parse_duration` takes
/// only whole seconds above zero).
pub fn duration_secs(flag: &'static str, s: Option<&str>) -> Result<Option<u64>, Failure> {
    s.map(|s| duration(flag, s).map(|d| d.as_secs()))
        .transpose()
}

/// A point in time: RFC 3339 (`2026-11-26T18:00:00Z`) or a duration meaning that long before
/// `now` (`2h`, `7d`).
pub fn time_or_ago(flag: &'static str, s: &str, now: Timestamp) -> Result<Timestamp, Failure> {
    if let Ok(ago) = parse_duration(flag, s) {
        return Ok(now.minus(ago));
    }
    Timestamp::parse_rfc3339(s).map_err(|_| {
        Failure::invalid(
            flag,
            format!(
                "`{s}` is neither a time like 2026-11-26T18:00:00Z nor a duration like 2h (meaning that long ago)"
            ),
        )
    })
}

/// `integration/resource/permission`.
pub fn target(flag: &str, s: &str) -> Result<Target, Failure> {
    s.parse::<Target>().map_err(|e| for_flag(flag, e))
}

pub fn flow_name(flag: &str, s: &str) -> Result<FlowName, Failure> {
    FlowName::new(s.trim()).map_err(|e| for_flag(flag, e))
}

pub fn bundle_name(flag: &str, s: &str) -> Result<BundleName, Failure> {
    BundleName::new(s.trim()).map_err(|e| for_flag(flag, e))
}

pub fn group_name(flag: &str, s: &str) -> Result<GroupName, Failure> {
    GroupName::new(s.trim()).map_err(|e| for_flag(flag, e))
}

pub fn integration_name(flag: &str, s: &str) -> Result<IntegrationName, Failure> {
    IntegrationName::new(s.trim()).map_err(|e| for_flag(flag, e))
}

pub fn request_id(flag: &str, s: &str) -> Result<RequestId, Failure> {
    s.parse::<RequestId>().map_err(|e| for_flag(flag, e))
}

pub fn grant_id(flag: &str, s: &str) -> Result<GrantId, Failure> {
    s.parse::<GrantId>().map_err(|e| for_flag(flag, e))
}

/// A user named by id (`U-3`) or e-mail.
pub fn user_ref(flag: &str, s: &str) -> Result<UserRef, Failure> {
    if s.trim().is_empty() {
        return Err(Failure::invalid(
            flag,
            "name a user by id (U-3) or e-mail address",
        ));
    }
    let Ok(user) = s.parse::<UserRef>();
    Ok(user)
}

/// `auto`, `any-of`, `all-of` or `quorum:N`.
pub fn approval_rule(flag: &str, s: &str) -> Result<ApprovalRule, Failure> {
    let t = s.trim().to_ascii_lowercase();
    let rule = match t.as_str() {
        "auto" => ApprovalRule::Auto,
        "any-of" | "anyof" | "any" => ApprovalRule::AnyOf,
        "all-of" | "allof" | "all" => ApprovalRule::AllOf,
        _ => {
            let n = t
                .strip_prefix("quorum")
                .map(|rest| rest.trim_start_matches([':', '=', ' ']))
                .ok_or_else(|| {
                    Failure::invalid(
                        flag,
                        format!("`{s}` is not one of auto, any-of, all-of, quorum:N"),
                    )
                })?;
            match n.parse::<u32>() {
                Ok(n) if n >= 1 => ApprovalRule::Quorum(n),
                _ => {
                    return Err(Failure::invalid(
                        flag,
                        format!(
                            "`{s}`: a quorum needs a number of approvers of 1 or more, like quorum:2"
                        ),
                    ));
                }
            }
        }
    };
    Ok(rule)
}

/// An approver as written on the command line; users are resolved to ids before sending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApproverSpec {
    User(UserRef),
    Group(GroupName),
    Manager,
    Admins,
}

/// `user:EMAIL` (or `user:U-3`), `group:NAME`, `manager` or `admins`.
pub fn approver(flag: &str, s: &str) -> Result<ApproverSpec, Failure> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "manager" => return Ok(ApproverSpec::Manager),
        "admins" | "admin" => return Ok(ApproverSpec::Admins),
        _ => {}
    }
    match person_or_group(flag, t)? {
        Some(PersonOrGroup::User(u)) => Ok(ApproverSpec::User(u)),
        Some(PersonOrGroup::Group(g)) => Ok(ApproverSpec::Group(g)),
        None => Err(Failure::invalid(
            flag,
            format!("`{s}` is not one of user:EMAIL, group:NAME, manager, admins"),
        )),
    }
}

/// A requestor as written on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestorSpec {
    Everyone,
    User(UserRef),
    Group(GroupName),
}

/// `user:EMAIL` (or `user:U-3`), `group:NAME` or `everyone`.
pub fn requestor(flag: &str, s: &str) -> Result<RequestorSpec, Failure> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("everyone") {
        return Ok(RequestorSpec::Everyone);
    }
    match person_or_group(flag, t)? {
        Some(PersonOrGroup::User(u)) => Ok(RequestorSpec::User(u)),
        Some(PersonOrGroup::Group(g)) => Ok(RequestorSpec::Group(g)),
        None => Err(Failure::invalid(
            flag,
            format!("`{s}` is not one of user:EMAIL, group:NAME, everyone"),
        )),
    }
}

enum PersonOrGroup {
    User(UserRef),
    Group(GroupName),
}

fn person_or_group(flag: &str, t: &str) -> Result<Option<PersonOrGroup>, Failure> {
    let Some((kind, rest)) = t.split_once(':') else {
        return Ok(None);
    };
    match kind.to_ascii_lowercase().as_str() {
        "user" => user_ref(flag, rest).map(|u| Some(PersonOrGroup::User(u))),
        "group" => group_name(flag, rest).map(|g| Some(PersonOrGroup::Group(g))),
        _ => Ok(None),
    }
}

/// A flow target as written: a bundle or one resource permission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowTargetSpec {
    Bundle(BundleName),
    Resource(Target),
}

/// `bundle:NAME` or `integration/resource/permission`.
pub fn flow_target(flag: &str, s: &str) -> Result<FlowTargetSpec, Failure> {
    let t = s.trim();
    if let Some(name) = t.strip_prefix("bundle:").filter(|_| !t.contains('/')) {
        return bundle_name(flag, name).map(FlowTargetSpec::Bundle);
    }
    if !t.contains('/') {
        return Err(Failure::invalid(
            flag,
            format!("`{s}` is neither bundle:NAME nor integration/resource/permission"),
        ));
    }
    target(flag, t).map(FlowTargetSpec::Resource)
}

/// `NAME:perm1,perm2`. Resource names may themselves contain `:` (`db:orders`): the
/// permissions follow the last `:` before the first `,`.
pub fn resource_def(flag: &str, s: &str) -> Result<ResourceDef, Failure> {
    let t = s.trim();
    let head_end = t.find(',').unwrap_or(t.len());
    let Some(colon) = t[..head_end].rfind(':') else {
        return Err(Failure::invalid(
            flag,
            format!("`{s}` is not NAME:permission[,permission…], like orders:read,write"),
        ));
    };
    let (name, perms) = (t[..colon].trim(), &t[colon + 1..]);
    if name.is_empty() {
        return Err(Failure::invalid(
            flag,
            format!("`{s}` has no resource name"),
        ));
    }
    let mut permissions: Vec<String> = Vec::new();
    for p in perms.split(',').map(str::trim) {
        if p.is_empty() {
            return Err(Failure::invalid(
                flag,
                format!("`{s}` has an empty permission; write NAME:read,write"),
            ));
        }
        if !permissions.iter().any(|q| q == p) {
            permissions.push(p.to_string());
        }
    }
    Ok(ResourceDef {
        name: name.to_string(),
        permissions,
        description: String::new(),
    })
}

/// `VAR=env:NAME` or `VAR=file:/path`: an environment variable set from a secret reference.
pub fn secret_env(flag: &str, s: &str) -> Result<(String, SecretRef), Failure> {
    let Some((var, reference)) = s.trim().split_once('=') else {
        return Err(Failure::invalid(
            flag,
            format!("`{s}` is not VAR=env:NAME or VAR=file:/path"),
        ));
    };
    let var = var.trim();
    if var.is_empty() || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Failure::invalid(
            flag,
            format!("`{var}` is not an environment variable name"),
        ));
    }
    let secret = reference
        .trim()
        .parse::<SecretRef>()
        .map_err(|e| for_flag(flag, e))?;
    Ok((var.to_string(), secret))
}

/// Splits a command line shell-style into argv. No shell runs it later: quotes group words,
/// and `$VAR`, globs and pipes are passed through literally.
pub fn argv(flag: &str, s: &str) -> Result<Vec<String>, Failure> {
    let words = shell_words::split(s)
        .map_err(|e| Failure::invalid(flag, format!("cannot split `{s}` into words: {e}")))?;
    if words.first().is_none_or(|w| w.trim().is_empty()) {
        return Err(Failure::invalid(flag, "the command is empty"));
    }
    Ok(words)
}

/// Maps a domain validation error of a whole object (flow, integration) to the flag the
/// offending field came from.
pub fn relabel(e: DomainError, flags: &[(&str, &str)]) -> Failure {
    match e {
        DomainError::InvalidInput { field, why } => match flags.iter().find(|(f, _)| *f == field) {
            Some((_, flag)) => Failure::invalid(*flag, why),
            None => Failure::invalid(field, why),
        },
        other => Failure::Api(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hallpass_proto::ApiError;

    /// The flag a failure names, or a panic.
    fn flag_of(f: Failure) -> String {
        match f {
            Failure::Api(ApiError::InvalidInput { field, .. }) => field,
            other => panic!("expected an invalid-input failure, got {other:?}"),
        }
    }

    fn why_of(f: Failure) -> String {
        match f {
            Failure::Api(ApiError::InvalidInput { why, .. }) => why,
            other => panic!("expected an invalid-input failure, got {other:?}"),
        }
    }

    #[test]
    fn approval_kinds() {
        let ok = |s| approval_rule("--approval", s).expect(s);
        assert_eq!(ok("auto"), ApprovalRule::Auto);
        assert_eq!(ok("any-of"), ApprovalRule::AnyOf);
        assert_eq!(ok("All-Of"), ApprovalRule::AllOf);
        assert_eq!(ok("quorum:2"), ApprovalRule::Quorum(2));
        assert_eq!(ok("quorum=3"), ApprovalRule::Quorum(3));
        for bad in ["quorum:0", "quorum", "quorum:x", "most", ""] {
            let e = approval_rule("--approval", bad).expect_err(bad);
            assert_eq!(flag_of(e), "--approval", "{bad}");
        }
    }

    #[test]
    fn approver_specs() {
        let ok = |s| approver("--approver", s).expect(s);
        assert_eq!(
            ok("user:ada@example.com"),
            ApproverSpec::User(UserRef::Email("ada@example.com".into()))
        );
        assert_eq!(
            ok("user:U-3"),
            ApproverSpec::User(UserRef::Id(hallpass_core::UserId(3)))
        );
        assert_eq!(
            ok("group:db-admins"),
            ApproverSpec::Group(GroupName::new("db-admins").expect("valid"))
        );
        assert_eq!(ok("manager"), ApproverSpec::Manager);
        assert_eq!(ok("admins"), ApproverSpec::Admins);
        for bad in ["boss", "group:Not Ok", "user:", "team:x"] {
            assert_eq!(
                flag_of(approver("--approver", bad).expect_err(bad)),
                "--approver"
            );
        }
    }

    #[test]
    fn requestor_specs() {
        assert_eq!(
            requestor("--requestor", "everyone").expect("everyone"),
            RequestorSpec::Everyone
        );
        assert_eq!(
            requestor("--requestor", "user:bob@example.com").expect("user"),
            RequestorSpec::User(UserRef::Email("bob@example.com".into()))
        );
        assert_eq!(
            requestor("--requestor", "group:eng").expect("group"),
            RequestorSpec::Group(GroupName::new("eng").expect("valid"))
        );
        // `manager` approves; it cannot request.
        let e = requestor("--requestor", "manager").expect_err("manager");
        assert_eq!(flag_of(e), "--requestor");
    }

    #[test]
    fn flow_targets() {
        assert_eq!(
            flow_target("--target", "bundle:oncall").expect("bundle"),
            FlowTargetSpec::Bundle(BundleName::new("oncall").expect("valid"))
        );
        let FlowTargetSpec::Resource(t) =
            flow_target("--target", "pg-prod/db:orders/read").expect("resource")
        else {
            panic!("expected a resource");
        };
        assert_eq!(t.resource, "db:orders");
        for bad in ["pg-prod/orders", "bundle:", "orders", "Pg/orders/read"] {
            assert_eq!(
                flag_of(flow_target("--target", bad).expect_err(bad)),
                "--target"
            );
        }
    }

    #[test]
    fn resource_specs() {
        let r = resource_def("--resource", "orders:read,write,read").expect("ok");
        assert_eq!(r.name, "orders");
        assert_eq!(r.permissions, ["read", "write"]);
        let r = resource_def("--resource", "db:orders:read, write").expect("ok");
        assert_eq!(r.name, "db:orders");
        assert_eq!(r.permissions, ["read", "write"]);
        for bad in ["orders", ":read", "orders:", "orders:read,,write"] {
            assert_eq!(
                flag_of(resource_def("--resource", bad).expect_err(bad)),
                "--resource"
            );
        }
    }

    #[test]
    fn secret_env_specs() {
        assert_eq!(
            secret_env("--secret-env", "API_TOKEN=env:VENDOR_TOKEN").expect("env"),
            (
                "API_TOKEN".to_string(),
                SecretRef::Env("VENDOR_TOKEN".into())
            )
        );
        assert_eq!(
            secret_env("--secret-env", "PGPASSWORD=file:/etc/hallpass/pg").expect("file"),
            (
                "PGPASSWORD".to_string(),
                SecretRef::File("/etc/hallpass/pg".into())
            )
        );
        for bad in [
            "API_TOKEN=hunter2",
            "API_TOKEN",
            "BAD-NAME=env:X",
            "=env:X",
            "X=file:relative",
        ] {
            assert_eq!(
                flag_of(secret_env("--secret-env", bad).expect_err(bad)),
                "--secret-env"
            );
        }
    }

    #[test]
    fn shell_splitting() {
        assert_eq!(
            argv(
                "--grant",
                r#"/usr/local/bin/grant --db "orders prod" 'a b' c\ d"#
            )
            .expect("splits"),
            ["/usr/local/bin/grant", "--db", "orders prod", "a b", "c d"]
        );
        // No shell at run time: `$X` and pipes are words like any other.
        assert_eq!(
            argv("--revoke", "revoke $USER | tee").expect("splits"),
            ["revoke", "$USER", "|", "tee"]
        );
        assert_eq!(
            flag_of(argv("--grant", "grant 'unclosed").expect_err("quote")),
            "--grant"
        );
        assert_eq!(
            flag_of(argv("--verify", "   ").expect_err("empty")),
            "--verify"
        );
    }

    #[test]
    fn since_accepts_a_time_or_a_duration_ago() {
        let now = Timestamp(1_795_000_000_000);
        assert_eq!(
            time_or_ago("--since", "2h", now).expect("ago"),
            Timestamp(1_795_000_000_000 - 2 * 3600 * 1000)
        );
        assert_eq!(
            time_or_ago("--since", "1d", now).expect("ago"),
            Timestamp(1_795_000_000_000 - 86_400 * 1000)
        );
        let t = Timestamp::parse_rfc3339("2026-11-26T18:00:00Z").expect("rfc3339");
        assert_eq!(
            time_or_ago("--until", "2026-11-26T18:00:00Z", now).expect("time"),
            t
        );
        let e = time_or_ago("--since", "yesterday", now).expect_err("bad");
        let why = why_of(e);
        assert!(why.contains("yesterday"), "{why}");
        assert_eq!(
            flag_of(time_or_ago("--until", "soon", now).expect_err("bad")),
            "--until"
        );
    }

    #[test]
    fn bad_durations_and_ids_name_the_flag() {
        assert_eq!(
            duration("--max", "8h").expect("8h"),
            Duration::from_secs(8 * 3600)
        );
        assert_eq!(
            flag_of(duration("--max", "forever").expect_err("bad")),
            "--max"
        );
        assert_eq!(
            flag_of(duration("--duration", "0s").expect_err("zero")),
            "--duration"
        );
        assert_eq!(
            duration_secs("--expires", Some("7d")).expect("7d"),
            Some(7 * 86_400)
        );
        assert_eq!(duration_secs("--expires", None).expect("none"), None);
        assert_eq!(request_id("ID", "HP-1001").expect("id"), RequestId(1001));
        assert_eq!(flag_of(request_id("ID", "HP-x").expect_err("bad")), "ID");
        assert_eq!(flag_of(grant_id("ID", "G-").expect_err("bad")), "ID");
        assert_eq!(
            flag_of(target("--resource", "a/b").expect_err("bad")),
            "--resource"
        );
        assert_eq!(
            flag_of(flow_name("--flow", "Prod DB").expect_err("bad")),
            "--flow"
        );
        assert_eq!(flag_of(user_ref("USER", " ").expect_err("bad")), "USER");
    }
}
