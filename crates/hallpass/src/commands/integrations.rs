//! Integrations, the systems access is granted on: `integrations create | list | show | delete`.
//! Invariant: commands are stored as argv (split here, shell-style) and run without a shell;
//! secrets are stored as references (`env:`/`file:`) and shown as such, never as values.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::{Args, Subcommand};
use hallpass_core::Timestamp;
use hallpass_core::integration::{Connector, ExecConfig, Integration, PgTls};
use hallpass_proto::PutMode;

use crate::connection::{Session, ctx, ctx_for};

/// Testing and discovering reach out to the target: allow for its timeouts.
const PROBE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);
use crate::failure::{Failure, answer};
use crate::flag_values::{argv, duration, integration_name, relabel, resource_def, secret_env};
use crate::output::{Details, Output, clip, secs, table, when};

#[derive(Debug, Subcommand)]
pub enum IntegrationsCommand {
    /// Create (or with --replace, replace) an integration: exec from flags, or any connector
    /// (postgres, ssh, exec) from a TOML file
    #[command(after_help = "\
Examples:
  hallpass integrations create pg-prod --file pg-prod.toml     (see config/integrations/)
  hallpass integrations create deploy \\
      --grant '/usr/local/libexec/deploy-grant' \\
      --revoke '/usr/local/libexec/deploy-revoke' \\
      --secret-env API_TOKEN=file:/etc/hallpass/deploy.token \\
      --resource prod:deploy --resource staging:deploy

exec commands run without a shell, with a JSON document describing the grant on stdin;
exit status 0 means success.")]
    Create(CreateArgs),
    /// Check an integration: its connection, the admin's rights, what its configuration names
    Test(NameArg),
    /// List the resources the integration's target has (e.g. a PostgreSQL cluster's databases)
    Discover(NameArg),
    /// List integrations
    List,
    /// Show an integration: its commands, secret references and resources
    Show(NameArg),
    /// Delete an integration
    Delete(NameArg),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The integration's name: lowercase letters, digits, '.', '_', '-'
    pub name: String,
    /// The integration's definition as TOML: `description`, `[connector]` (with `type`) and
    /// `[[resources]]`; replaces the exec flags
    #[arg(long, value_name = "FILE", conflicts_with_all = ["grant", "revoke", "verify", "secret_env", "resources"])]
    pub file: Option<std::path::PathBuf>,
    /// The command that grants access, split like a shell would (no shell runs it)
    #[arg(long, value_name = "COMMAND", required_unless_present = "file")]
    pub grant: Option<String>,
    /// The command that revokes access
    #[arg(long, value_name = "COMMAND", required_unless_present = "file")]
    pub revoke: Option<String>,
    /// A command that checks access is present (exit 0) or absent
    #[arg(long, value_name = "COMMAND")]
    pub verify: Option<String>,
    /// How long one command may run (1s to 1h)
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub timeout: String,
    /// An environment variable for the commands, set from a secret reference (repeatable)
    #[arg(long = "secret-env", value_name = "VAR=env:NAME|VAR=file:/PATH")]
    pub secret_env: Vec<String>,
    /// A resource and its permissions, e.g. orders:read,write (repeatable)
    #[arg(
        long = "resource",
        value_name = "NAME:PERM,...",
        required_unless_present = "file"
    )]
    pub resources: Vec<String>,
    /// What the integration is
    #[arg(long, default_value = "")]
    pub description: String,
    /// Replace an existing integration of that name instead of creating one
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// The integration's name
    pub name: String,
}

/// The flags an integration's validation fields come from.
const FIELD_FLAGS: &[(&str, &str)] = &[
    ("grant", "--grant"),
    ("revoke", "--revoke"),
    ("timeout", "--timeout"),
    ("secret_env", "--secret-env"),
    ("resources", "--resource"),
    ("resource", "--resource"),
    ("permissions", "--resource"),
    ("permission", "--resource"),
    ("integration", "NAME"),
];

/// An integration's definition file: everything but its name (given on the command line).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IntegrationFile {
    #[serde(default)]
    description: String,
    connector: Connector,
    resources: Vec<hallpass_core::integration::ResourceDef>,
}

/// Builds the integration a definition file describes, validated as the daemon will.
pub fn from_file(
    name: &str,
    path: &std::path::Path,
    now: Timestamp,
) -> Result<Integration, Failure> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::invalid("--file", format!("cannot read {shown}: {e}")))?;
    let f: IntegrationFile =
        toml::from_str(&text).map_err(|e| Failure::invalid("--file", format!("{shown}: {e}")))?;
    let integration = Integration {
        name: integration_name("NAME", name)?,
        connector: f.connector,
        resources: f.resources,
        description: f.description.trim().to_string(),
        updated_at: now,
    };
    integration
        .validate()
        .map_err(|e| Failure::invalid("--file", format!("{shown}: {e}")))?;
    Ok(integration)
}

/// Builds the integration the flags describe, validated as the daemon will.
pub fn build(a: &CreateArgs, now: Timestamp) -> Result<Integration, Failure> {
    if let Some(path) = &a.file {
        return from_file(&a.name, path, now);
    }
    let (Some(grant), Some(revoke)) = (&a.grant, &a.revoke) else {
        return Err(Failure::invalid(
            "--grant",
            "an exec integration needs --grant and --revoke (or give --file)",
        ));
    };
    let mut secret_env_map = BTreeMap::new();
    for s in &a.secret_env {
        let (var, secret) = secret_env("--secret-env", s)?;
        if secret_env_map.insert(var.clone(), secret).is_some() {
            return Err(Failure::invalid(
                "--secret-env",
                format!("`{var}` is set twice"),
            ));
        }
    }
    let timeout: Duration = duration("--timeout", &a.timeout)?;
    let resources = a
        .resources
        .iter()
        .map(|r| resource_def("--resource", r))
        .collect::<Result<Vec<_>, _>>()?;
    let integration = Integration {
        name: integration_name("NAME", &a.name)?,
        connector: Connector::Exec(ExecConfig {
            grant: argv("--grant", grant)?,
            revoke: argv("--revoke", revoke)?,
            verify: a
                .verify
                .as_deref()
                .map(|v| argv("--verify", v))
                .transpose()?,
            timeout,
            secret_env: secret_env_map,
        }),
        resources,
        description: a.description.trim().to_string(),
        updated_at: now,
    };
    integration
        .validate()
        .map_err(|e| relabel(e, FIELD_FLAGS))?;
    Ok(integration)
}

pub async fn run(s: &Session, out: Output, c: IntegrationsCommand) -> Result<(), Failure> {
    match c {
        IntegrationsCommand::Create(a) => {
            let integration = build(&a, out.now())?;
            let mode = if a.replace {
                PutMode::Replace
            } else {
                PutMode::Create
            };
            let saved = answer(s.client.put_integration(ctx(), integration, mode).await)?;
            if !out.json(&saved)? {
                let verb = if a.replace { "replaced" } else { "created" };
                println!(
                    "{verb} integration {} ({} resource(s))",
                    saved.name,
                    saved.resources.len()
                );
            }
        }
        IntegrationsCommand::List => {
            let all = answer(s.client.list_integrations(ctx()).await)?;
            if out.json(&all)? {
                return Ok(());
            }
            if all.is_empty() {
                println!("no integrations yet; create one with `hallpass integrations create`");
                return Ok(());
            }
            println!(
                "{}",
                table(
                    ["name", "connector", "resources", "description"],
                    all.iter()
                        .map(|i| {
                            [
                                i.name.to_string(),
                                i.connector.kind().to_string(),
                                i.resources
                                    .iter()
                                    .map(|r| r.name.clone())
                                    .collect::<Vec<_>>()
                                    .join(", "),
                                clip(&i.description, 50),
                            ]
                        })
                        .collect(),
                )
            );
        }
        IntegrationsCommand::Show(a) => {
            let name = integration_name("NAME", &a.name)?;
            let i = answer(s.client.get_integration(ctx(), name).await)?;
            if !out.json(&i)? {
                println!("{}", render(&i, out.now()));
            }
        }
        IntegrationsCommand::Test(a) => {
            let name = integration_name("NAME", &a.name)?;
            let checks = answer(
                s.client
                    .test_integration(ctx_for(PROBE_DEADLINE), name.clone())
                    .await,
            )?;
            let failed = checks.iter().filter(|c| !c.ok).count();
            if !out.json(&checks)? {
                for c in &checks {
                    let mark = if c.ok { "ok  " } else { "FAIL" };
                    println!("{mark} {}: {}", c.what, c.detail);
                }
                if failed == 0 {
                    println!("integration {name} is ready");
                }
            }
            if failed > 0 {
                return Err(Failure::Api(hallpass_proto::ApiError::Unavailable {
                    why: format!("{failed} check(s) of integration {name} failed"),
                }));
            }
        }
        IntegrationsCommand::Discover(a) => {
            let name = integration_name("NAME", &a.name)?;
            let found = answer(
                s.client
                    .discover_integration(ctx_for(PROBE_DEADLINE), name.clone())
                    .await,
            )?;
            if !out.json(&found)? {
                if found.is_empty() {
                    println!("the target of {name} has no resources");
                } else {
                    println!(
                        "{}",
                        table(
                            ["resource", "permissions", "description"],
                            found
                                .iter()
                                .map(|r| [
                                    r.name.clone(),
                                    r.permissions.join(","),
                                    r.description.clone()
                                ])
                                .collect(),
                        )
                    );
                    println!(
                        "\nadd the ones to offer to the integration's [[resources]] and run `hallpass integrations create {name} --file … --replace`"
                    );
                }
            }
        }
        IntegrationsCommand::Delete(a) => {
            let name = integration_name("NAME", &a.name)?;
            let i = answer(s.client.delete_integration(ctx(), name).await)?;
            if !out.json(&i)? {
                println!("deleted integration {}", i.name);
            }
        }
    }
    Ok(())
}

/// The whole integration for people: connector settings, then a table of resources.
pub fn render(i: &Integration, now: Timestamp) -> String {
    let mut d = Details::new();
    d.row("integration", i.name.to_string());
    if !i.description.is_empty() {
        d.row("description", i.description.clone());
    }
    d.row("connector", i.connector.kind());
    match &i.connector {
        Connector::Exec(e) => {
            d.row("grant", shell_words::join(&e.grant))
                .row("revoke", shell_words::join(&e.revoke))
                .opt("verify", e.verify.as_ref().map(shell_words::join))
                .row("timeout", secs(e.timeout.as_secs()));
            if !e.secret_env.is_empty() {
                d.row(
                    "secret env",
                    e.secret_env
                        .iter()
                        .map(|(k, v)| format!("{k} from {v}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
            }
        }
        Connector::Postgres(p) => {
            d.row(
                "server",
                format!("{}:{}/{}", p.host, p.port, p.admin_database),
            )
            .row("admin user", p.admin_user.clone())
            .opt("password", p.password.as_ref().map(ToString::to_string))
            .row(
                "tls",
                match p.tls {
                    PgTls::Disable => "disabled".to_string(),
                    PgTls::VerifyFull => format!(
                        "verify-full ({})",
                        p.ca_file.as_deref().unwrap_or("system roots")
                    ),
                },
            )
            .opt("client host", p.client_host.clone())
            .row("roles", format!("{}g<grant>", p.role_prefix))
            .row(
                "permissions",
                p.permissions
                    .iter()
                    .map(|(k, v)| {
                        let mut what = v.roles.clone();
                        if !v.table_privileges.is_empty() {
                            what.push(format!("{} on tables", v.table_privileges.join(",")));
                        }
                        format!("{k}: {}", what.join(", "))
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
        Connector::Ssh(c) => {
            d.row("ca key", c.ca_key.to_string())
                .row("krl", c.krl.clone())
                .row(
                    "permissions",
                    c.permissions
                        .iter()
                        .map(|(k, v)| {
                            let principals = if v.principals.is_empty() {
                                "the resource name".to_string()
                            } else {
                                v.principals.join(",")
                            };
                            format!("{k}: principals {principals}")
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
        }
        Connector::Noop => {
            d.row(
                "effect",
                "none: grants and revokes succeed without touching a system",
            );
        }
    }
    d.row("updated", when(i.updated_at, now));
    let resources = table(
        ["resource", "permissions", "description"],
        i.resources
            .iter()
            .map(|r| {
                [
                    r.name.clone(),
                    r.permissions.join(", "),
                    clip(&r.description, 50),
                ]
            })
            .collect(),
    );
    format!("{}\n\n{resources}", d.render())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hallpass_core::integration::SecretRef;
    use hallpass_proto::ApiError;

    fn args(extra: &[&str]) -> CreateArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            a: CreateArgs,
        }
        let argv = [
            "x",
            "pg-prod",
            "--grant",
            "grant 'a b'",
            "--revoke",
            "revoke",
        ]
        .iter()
        .chain(extra);
        Wrapper::try_parse_from(argv).expect("parses").a
    }

    #[test]
    fn the_example_definitions_are_valid() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/integrations");
        for (name, file, kind) in [
            ("pg-prod", "postgres.example.toml", "postgres"),
            ("ssh-prod", "ssh.example.toml", "ssh"),
        ] {
            let i = from_file(name, &dir.join(file), Timestamp(0))
                .unwrap_or_else(|e| panic!("{file}: {e:?}"));
            assert_eq!(i.connector.kind(), kind);
            assert!(!i.resources.is_empty());
        }
    }

    #[test]
    fn a_bad_definition_names_the_file_and_the_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pg.toml");
        std::fs::write(
            &path,
            "[connector]\ntype = \"postgres\"\nhost = \"h\"\nadmin_user = \"Admin\"\n\
             [connector.permissions.read]\nroles = [\"pg_read_all_data\"]\n\
             [[resources]]\nname = \"orders\"\npermissions = [\"read\"]\n",
        )
        .expect("write");
        let e = flag_of(from_file("pg", &path, Timestamp(0)).expect_err("uppercase role"));
        assert_eq!(e, "--file");
        let Err(Failure::Api(err)) = from_file("pg", &path, Timestamp(0)) else {
            panic!("refused");
        };
        let text = err.to_string();
        assert!(
            text.contains("pg.toml") && text.contains("admin_user"),
            "{text}"
        );
    }

    fn flag_of(f: Failure) -> String {
        match f {
            Failure::Api(ApiError::InvalidInput { field, .. }) => field,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn flags_become_an_exec_integration() {
        let a = args(&[
            "--resource",
            "orders:read,write",
            "--resource",
            "billing:read",
            "--verify",
            "check --quiet",
            "--timeout",
            "1m",
            "--secret-env",
            "PGPASSWORD=file:/etc/hallpass/pg",
            "--secret-env",
            "TOKEN=env:VENDOR_TOKEN",
        ]);
        let i = build(&a, Timestamp(5)).expect("valid");
        assert_eq!(i.name.as_str(), "pg-prod");
        assert_eq!(i.resources.len(), 2);
        assert_eq!(i.resources[0].permissions, ["read", "write"]);
        let Connector::Exec(e) = &i.connector else {
            panic!("built an exec connector")
        };
        assert_eq!(e.grant, ["grant", "a b"]);
        assert_eq!(e.revoke, ["revoke"]);
        assert_eq!(
            e.verify.as_deref(),
            Some(&["check".to_string(), "--quiet".into()][..])
        );
        assert_eq!(e.timeout, Duration::from_secs(60));
        assert_eq!(
            e.secret_env.get("PGPASSWORD"),
            Some(&SecretRef::File("/etc/hallpass/pg".into()))
        );
        let shown = render(&i, Timestamp(5));
        assert!(
            shown.contains("PGPASSWORD from file:/etc/hallpass/pg"),
            "{shown}"
        );
        assert!(shown.contains("grant 'a b'"), "{shown}");
    }

    #[test]
    fn bad_values_name_their_flag() {
        let cases: &[(&[&str], &str)] = &[
            (&["--resource", "orders"], "--resource"),
            (&["--resource", "or ders:read"], "--resource"),
            (
                &["--resource", "a:read", "--resource", "a:write"],
                "--resource",
            ),
            (&["--resource", "a:read", "--timeout", "2h"], "--timeout"),
            (&["--resource", "a:read", "--timeout", "soon"], "--timeout"),
            (
                &["--resource", "a:read", "--secret-env", "X=plain"],
                "--secret-env",
            ),
            (
                &[
                    "--resource",
                    "a:read",
                    "--secret-env",
                    "X=env:A",
                    "--secret-env",
                    "X=env:B",
                ],
                "--secret-env",
            ),
            (&["--resource", "a:read", "--verify", "'"], "--verify"),
        ];
        for (extra, flag) in cases {
            let e = build(&args(extra), Timestamp(0)).expect_err("refused");
            assert_eq!(flag_of(e), *flag, "{extra:?}");
        }
    }
}
