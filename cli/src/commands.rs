//! The subcommands.

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use keliweb_oauth::client::{FileStore, TokenStore};
use keliweb_oauth::{Config, Credentials, TokenSet, UnixTime};

use crate::args::{Cli, Command};
use crate::failure::Failure;
use crate::settings::{self, Prompt};

/// Runs the command `cli` names.
pub fn run(cli: &Cli) -> Result<(), Failure> {
    let path = settings::store_path(cli)?;
    match &cli.command {
        Command::Login => login(cli, &path),
        Command::PrintAccessToken => print_token(cli, &path, ""),
        Command::Header => print_token(cli, &path, "Authorization: Bearer "),
        Command::Status { json } => status(cli, &path, *json),
        Command::Refresh => refresh(cli, &path),
        Command::Logout {
            revoke_url,
            revoke_style,
        } => logout(
            cli,
            &path,
            revoke_url.as_deref().map(|url| (url, *revoke_style)),
        ),
        Command::Serve(agent) => crate::agent::run(cli, &path, agent, crate::agent::Mode::Serve),
        Command::Proxy {
            agent,
            upstream,
            api_origin,
        } => crate::agent::run(
            cli,
            &path,
            agent,
            crate::agent::Mode::Proxy {
                upstream: upstream.clone(),
                api_origins: api_origin.clone(),
            },
        ),
    }
}

fn login(cli: &Cli, path: &Path) -> Result<(), Failure> {
    let username = cli
        .username
        .clone()
        .ok_or_else(|| Failure::usage("no username: pass --username or set KELIWEB_USERNAME"))?;
    let password = settings::password(cli, Prompt::Allowed)?.ok_or_else(|| {
        Failure::login_needed(
            "no password: set KELIWEB_PASSWORD, pass --password-stdin, or run on a terminal",
        )
    })?;
    let client = settings::client(settings::config(cli, None, None)?, FileStore::new(path))?;
    client.login(Credentials::new(username.clone(), password));
    // A new token even while the stored one is usable: the password grant goes out.
    client.force_refresh()?;
    client.shutdown()?;
    eprintln!(
        "logged in as {username}; tokens stored in {}",
        path.display()
    );
    Ok(())
}

/// Prints the access token after `prefix`.
fn print_token(cli: &Cli, path: &Path, prefix: &str) -> Result<(), Failure> {
    let credentials = settings::unattended_credentials(cli)?;
    let client = settings::client(
        settings::config(cli, credentials, None)?,
        FileStore::new(path),
    )?;
    let token = client.authorization()?;
    // Nothing left under way when the process exits: the new set is saved before it is used.
    let finished = client.shutdown();
    let header = token.expose_header_value().as_bytes();
    let token = header.strip_prefix(b"Bearer ").unwrap_or(header);
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is the reader's choice, not a failure worth a message.
    let _ = stdout
        .write_all(prefix.as_bytes())
        .and_then(|()| stdout.write_all(token))
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    // The token works; a set left unsaved is still worth a failing exit.
    finished?;
    Ok(())
}

fn refresh(cli: &Cli, path: &Path) -> Result<(), Failure> {
    let credentials = settings::unattended_credentials(cli)?;
    let client = settings::client(
        settings::config(cli, credentials, None)?,
        FileStore::new(path),
    )?;
    client.force_refresh()?;
    client.shutdown()?;
    eprintln!("refreshed; tokens stored in {}", path.display());
    Ok(())
}

fn logout(
    cli: &Cli,
    path: &Path,
    revocation: Option<(&str, crate::args::RevokeStyle)>,
) -> Result<(), Failure> {
    let config = settings::config(cli, None, revocation)?;
    let client = settings::client(config, FileStore::new(path))?;
    client.revoke()?;
    let revoked = if revocation.is_some() {
        "revoked and "
    } else {
        ""
    };
    eprintln!(
        "logged out: tokens {revoked}deleted from {}",
        path.display()
    );
    Ok(())
}

fn status(cli: &Cli, path: &Path, json: bool) -> Result<(), Failure> {
    let stored = FileStore::new(path).load()?;
    let Some(tokens) = stored.tokens else {
        return Err(Failure::login_needed(format!(
            "no tokens stored in {}; run `keliweb-token login`",
            path.display()
        )));
    };
    #[allow(
        clippy::disallowed_methods,
        reason = "a command line reports against the wall clock; the core takes time as an argument"
    )]
    let now = UnixTime::from_system_time(SystemTime::now());
    let report = Report::new(cli, path, stored.version, &tokens, now);
    let text = if json { report.json() } else { report.text() };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    Ok(())
}

/// What `status` says: no secret, only who, where and until when.
struct Report<'a> {
    username: Option<&'a str>,
    token_url: &'a str,
    store: String,
    version: u64,
    access_expires_at: UnixTime,
    access_usable: bool,
    refresh_expires_at: Option<UnixTime>,
}

impl<'a> Report<'a> {
    fn new(cli: &'a Cli, path: &Path, version: u64, tokens: &'a TokenSet, now: UnixTime) -> Self {
        let usable_until = tokens
            .access_token_expires_at()
            .saturating_sub(Config::DEFAULT_LEEWAY);
        Self {
            username: tokens.username(),
            token_url: &cli.token_url,
            store: path.display().to_string(),
            version,
            access_expires_at: tokens.access_token_expires_at(),
            access_usable: now < usable_until,
            refresh_expires_at: tokens.refresh_token_expires_at(),
        }
    }

    fn text(&self) -> String {
        let refresh = self
            .refresh_expires_at
            .map_or_else(|| "none".to_owned(), |at| format!("expires {}", date(at)));
        format!(
            "account:       {}\ntoken URL:     {}\nstore:         {} (version {})\naccess token:  {} {}\nrefresh token: {refresh}",
            self.username.unwrap_or("unknown"),
            self.token_url,
            self.store,
            self.version,
            if self.access_usable {
                "usable, expires"
            } else {
                "expired or about to, at"
            },
            date(self.access_expires_at),
        )
    }

    fn json(&self) -> String {
        let seconds = |at: UnixTime| at.as_millis() / 1000;
        serde_json::json!({
            "username": self.username,
            "token_url": self.token_url,
            "store": self.store,
            "version": self.version,
            "access_token_expires_at": seconds(self.access_expires_at),
            "access_token_usable": self.access_usable,
            "refresh_token_expires_at": self.refresh_expires_at.map(seconds),
        })
        .to_string()
    }
}

fn date(at: UnixTime) -> String {
    httpdate::fmt_http_date(at.to_system_time())
}
