//! How a command fails: the [`Failure`] every command returns, its stable exit code, and how it
//! is reported (a line for people on stderr, `{"error": …}` on stdout with `--json`).
//! Invariant: the exit code depends only on the kind of failure, never on its wording.

use hallpass_core::DomainError;
use hallpass_proto::ApiError;
use hallpass_proto::transport::ConnectError;
use tarpc::client::RpcError;

/// Exit code for a local failure that is not the daemon's answer (writing a file, a declined
/// confirmation).
pub const EXIT_LOCAL: i32 = 1;
/// Exit code when the daemon cannot be reached or the connection breaks.
pub const EXIT_UNREACHABLE: i32 = 7;

/// The exit codes, for the long help.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  local failure (cannot write a file, confirmation declined)
  2  bad command-line arguments (unknown flag, missing value)
  3  not found
  4  forbidden, or this OS user has no hallpass account
  5  invalid input (a bad duration, target, name …; the message names the flag)
  6  conflict or invalid transition (e.g. approving a request that is no longer pending);
     `audit verify` also exits 6 when the hash chain is broken
  7  the daemon is unavailable (not running, socket unreachable, connection lost)
  8  internal error in the daemon (the message has an incident id for its log)
  9  protocol version mismatch between this client and the daemon";

#[derive(Debug)]
pub enum Failure {
    /// The daemon's answer, or a client-side validation error shaped like one.
    Api(ApiError),
    /// The daemon could not be reached, or the connection broke mid-call.
    Unreachable(String),
    /// Something on this machine went wrong.
    Local(String),
    /// Already reported to the user; only the exit code is left to set.
    Reported(i32),
}

impl Failure {
    /// A client-side validation error naming the flag it is about (exit 5).
    pub fn invalid(flag: impl Into<String>, why: impl Into<String>) -> Self {
        Failure::Api(ApiError::invalid(flag, why))
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Api(e) => e.exit_code(),
            Failure::Unreachable(_) => EXIT_UNREACHABLE,
            Failure::Local(_) => EXIT_LOCAL,
            Failure::Reported(code) => *code,
        }
    }

    /// Prints the failure for people (stderr) and, with `json`, for machines (stdout).
    pub fn report(&self, json: bool) {
        let (message, wire) = match self {
            Failure::Api(e) => (e.to_string(), Some(e.clone())),
            Failure::Unreachable(why) => (
                why.clone(),
                Some(ApiError::Unavailable { why: why.clone() }),
            ),
            Failure::Local(why) => (why.clone(), None),
            Failure::Reported(_) => return,
        };
        eprintln!("error: {message}");
        if json {
            let body = match wire {
                Some(e) => serde_json::json!({ "error": e }),
                None => serde_json::json!({ "error": { "kind": "local", "why": message } }),
            };
            match serde_json::to_string_pretty(&body) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("error: cannot encode the error as JSON: {e}"),
            }
        }
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl From<ConnectError> for Failure {
    fn from(e: ConnectError) -> Self {
        match e {
            // The daemon answered and refused (e.g. a protocol mismatch): keep its kind.
            ConnectError::Refused(api) => Failure::Api(api),
            other => Failure::Unreachable(other.to_string()),
        }
    }
}

impl From<RpcError> for Failure {
    fn from(e: RpcError) -> Self {
        let why = match &e {
            RpcError::DeadlineExceeded => "hallpassd did not answer in time".to_string(),
            RpcError::Shutdown => "the connection to hallpassd was closed".to_string(),
            other => {
                let mut why = format!("lost the connection to hallpassd: {other}");
                let mut source = std::error::Error::source(other);
                while let Some(s) = source {
                    why.push_str(&format!(": {s}"));
                    source = s.source();
                }
                why
            }
        };
        Failure::Unreachable(why)
    }
}

/// Re-labels a domain validation error with the flag the value came from, so the message
/// says which flag to fix (`invalid --target: …`). Other domain errors keep their kind.
pub fn for_flag(flag: &str, e: DomainError) -> Failure {
    match e {
        DomainError::InvalidInput { field, why } => {
            // The domain's own field name helps only when it is narrower than the flag.
            let generic = ["id", "time", "target", "secret", "duration"];
            let bare = flag.trim_start_matches('-');
            if field == bare || generic.contains(&field.as_str()) {
                Failure::invalid(flag, why)
            } else {
                Failure::invalid(flag, format!("{field} {why}"))
            }
        }
        other => Failure::Api(other.into()),
    }
}

/// Unwraps a tarpc call: transport errors become [`Failure::Unreachable`], the daemon's
/// refusals [`Failure::Api`].
pub fn answer<T>(r: Result<Result<T, ApiError>, RpcError>) -> Result<T, Failure> {
    Ok(r??)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_kind() {
        assert_eq!(Failure::invalid("--duration", "bad").exit_code(), 5);
        assert_eq!(Failure::Unreachable("x".into()).exit_code(), 7);
        assert_eq!(Failure::from(RpcError::DeadlineExceeded).exit_code(), 7);
        assert_eq!(Failure::Api(ApiError::not_found("flow x")).exit_code(), 3);
        assert_eq!(Failure::Local("disk".into()).exit_code(), 1);
    }

    #[test]
    fn domain_errors_are_relabelled_with_the_flag() {
        let e = for_flag(
            "--target",
            DomainError::invalid("resource", "`a b` must be …"),
        );
        let Failure::Api(ApiError::InvalidInput { field, why }) = e else {
            panic!("expected invalid input, got {e:?}");
        };
        assert_eq!(field, "--target");
        assert_eq!(why, "resource `a b` must be …");

        let e = for_flag(
            "ID",
            DomainError::invalid("id", "`x` is not an id like HP-1042"),
        );
        assert_eq!(
            Failure::Api(ApiError::invalid("ID", "`x` is not an id like HP-1042")).exit_code(),
            e.exit_code()
        );
    }
}
