//! `--password-file`: the password in a file (systemd's `LoadCredential=`), read at start and
//! again on SIGHUP, so a changed password needs no restart.

use std::path::PathBuf;

use keliweb_oauth::Credentials;
use keliweb_oauth::secret::Password;

use crate::failure::Failure;

/// The password file, and the user name it goes with.
pub struct PasswordFile {
    path: PathBuf,
    username: String,
}

impl PasswordFile {
    /// `path`'s password for `username`.
    pub fn new(path: PathBuf, username: String) -> Self {
        Self { path, username }
    }

    /// The user name and the file's first line, read now.
    pub fn credentials(&self) -> Result<Credentials, Failure> {
        let path = self.path.display();
        let text = std::fs::read_to_string(&self.path).map_err(|error| {
            Failure::usage(format!("cannot read the password file {path}: {error}"))
        })?;
        let password = Password::from(text.lines().next().unwrap_or_default());
        if password.expose_secret().is_empty() {
            return Err(Failure::usage(format!("the password file {path} is empty")));
        }
        Ok(Credentials::new(self.username.clone(), password))
    }
}
