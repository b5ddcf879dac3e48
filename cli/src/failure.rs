//! How a run fails: the exit code and the message, which names the cause and what to do and
//! never holds a secret (the crate's errors are scrubbed; this adds none).

use std::fmt;
use std::process::ExitCode;

use keliweb_oauth::{Error, ErrorKind};

/// A failed run.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// Exit code 2: a setting is missing or wrong.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    /// Exit code 3: a login is needed.
    pub fn login_needed(message: impl Into<String>) -> Self {
        Self {
            code: 3,
            message: message.into(),
        }
    }

    /// Exit code 6: an agent (`serve`, `proxy`) cannot listen or keep running: another agent
    /// holds its socket, port or secret file, or the system refused a socket, a file, a signal
    /// handler or a thread.
    pub fn cannot_serve(message: impl Into<String>) -> Self {
        Self {
            code: 6,
            message: message.into(),
        }
    }

    /// The process's exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let (code, advice) = match error.kind() {
            ErrorKind::LoginRequired | ErrorKind::RefreshTokenRejected => (
                3,
                "run `keliweb-token login`, or set KELIWEB_USERNAME and KELIWEB_PASSWORD",
            ),
            ErrorKind::InvalidCredentials => (3, "check the username and the password"),
            ErrorKind::InvalidClient => (3, "check the client id and the client secret"),
            ErrorKind::Store => (5, "fix or delete the token store"),
            ErrorKind::UntrustedOrigin => (2, "check the URLs"),
            _ => (4, "retry later"),
        };
        Self {
            code,
            message: format!("{error}; {advice}"),
        }
    }
}

impl From<keliweb_oauth::error::StoreError> for Failure {
    fn from(error: keliweb_oauth::error::StoreError) -> Self {
        Error::from(error).into()
    }
}
