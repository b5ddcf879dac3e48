//! Settings from flags and the environment (flags win), and the client built from them.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use keliweb_oauth::blocking::Client;
use keliweb_oauth::client::{FileStore, TokenStore};
use keliweb_oauth::{Config, Credentials, secret::Password};

use crate::args::{Cli, RevokeStyle};
use crate::failure::Failure;
use crate::lazy_http::LazyUreq;

/// Where the token set is kept: `--store`, `KELIWEB_TOKEN_STORE`, or the platform's
/// configuration directory.
pub fn store_path(cli: &Cli) -> Result<PathBuf, Failure> {
    cli.store
        .clone()
        .or_else(|| dirs::config_dir().map(|dir| dir.join("keliweb").join("tokens.json")))
        .ok_or_else(|| {
            Failure::usage(
                "this platform has no configuration directory: pass --store or set KELIWEB_TOKEN_STORE",
            )
        })
}

/// Whether a command may ask for the password on a terminal.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// `login`: a person is there.
    Allowed,
    /// Everything a script runs: never wait for a person.
    Never,
}

/// The password: `KELIWEB_PASSWORD`, the first line of standard input with
/// `--password-stdin`, or a prompt on a terminal where allowed.
pub fn password(cli: &Cli, prompt: Prompt) -> Result<Option<Password>, Failure> {
    if let Some(password) = std::env::var("KELIWEB_PASSWORD")
        .ok()
        .filter(|password| !password.is_empty())
    {
        return Ok(Some(Password::from(password)));
    }
    if cli.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|error| {
                Failure::usage(format!(
                    "cannot read the password from standard input: {error}"
                ))
            })?;
        let password = Password::from(line.trim_end_matches(['\n', '\r']));
        // The line itself holds the password too.
        zeroize_string(&mut line);
        if password.expose_secret().is_empty() {
            return Err(Failure::usage("--password-stdin read an empty password"));
        }
        return Ok(Some(password));
    }
    if prompt == Prompt::Allowed && std::io::stdin().is_terminal() {
        let typed = rpassword::prompt_password("Keliweb password: ")
            .map_err(|error| Failure::usage(format!("cannot read the password: {error}")))?;
        return Ok(Some(Password::from(typed)));
    }
    Ok(None)
}

fn zeroize_string(text: &mut String) {
    // Safe Rust has no volatile wipe of a String's bytes; replacing them keeps the length.
    let wiped = "\0".repeat(text.len());
    text.replace_range(.., &wiped);
    text.clear();
}

/// The credentials for a command that may log in without a person: a username and a
/// password given without a prompt.
pub fn unattended_credentials(cli: &Cli) -> Result<Option<Credentials>, Failure> {
    let Some(username) = &cli.username else {
        return Ok(None);
    };
    Ok(password(cli, Prompt::Never)?.map(|password| Credentials::new(username.clone(), password)))
}

/// The configuration: token URL, client, and the revocation endpoint if any.
pub fn config(
    cli: &Cli,
    credentials: Option<Credentials>,
    revocation: Option<(&str, RevokeStyle)>,
) -> Result<Config, Failure> {
    config_with(cli, credentials, revocation, &[])
}

/// [`config`], with more origins the token may be sent to (the proxy's `--api-origin`).
pub fn config_with(
    cli: &Cli,
    credentials: Option<Credentials>,
    revocation: Option<(&str, RevokeStyle)>,
    api_origins: &[String],
) -> Result<Config, Failure> {
    let client_id = cli
        .client_id
        .as_deref()
        .ok_or_else(|| Failure::usage("no client id: pass --client-id or set KELIWEB_CLIENT_ID"))?;
    let client_secret = cli.client_secret.as_deref().ok_or_else(|| {
        Failure::usage("no client secret: pass --client-secret or set KELIWEB_CLIENT_SECRET")
    })?;
    let mut builder = Config::builder(&cli.token_url, client_id, client_secret);
    if let Some(credentials) = credentials {
        builder = builder.credentials(
            credentials.username().to_owned(),
            credentials.password().clone(),
        );
    }
    for origin in api_origins {
        builder = builder.api_origin(origin.clone());
    }
    if let Some(leeway) = cli.leeway {
        builder = builder.leeway(std::time::Duration::from_secs(leeway));
    }
    builder = match revocation {
        Some((url, RevokeStyle::Rfc7009)) => builder.revoke_rfc7009(url),
        Some((url, RevokeStyle::BearerLogout)) => {
            builder.revoke_bearer_logout(url, http::Method::POST)
        }
        None => builder,
    };
    builder
        .build()
        .map_err(|error| Failure::usage(error.to_string()))
}

/// A blocking client on the file store, starting from the set stored there: printing a
/// usable token is then one file read, and no request.
pub fn client(config: Config, store: FileStore) -> Result<Client<LazyUreq>, Failure> {
    let stored = store.load()?;
    // A command exits right after it printed its token: a refresh ahead in the background
    // would be cut off with the set the server already rotated (the store keeping a dead
    // pair), so it runs in the command itself, which prints the new token.
    let mut builder = Client::builder(config, LazyUreq::default())
        .store(store)
        .foreground_refresh_ahead();
    if let Some(tokens) = stored.tokens {
        builder = builder.tokens(tokens);
    }
    Ok(builder.build())
}
