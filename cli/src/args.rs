//! What the command line accepts.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// The exit codes, for `--help` and the README.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  ok
  2  usage: a flag or setting is missing or wrong
  3  login needed: no usable token and no credentials, or the credentials were refused
  4  the server or the network is unavailable: retry later
  5  the token store is unreadable, corrupt, or not this user's alone";

/// Prints Keliweb access tokens for shell scripts, cron jobs and curl: cached in a file,
/// refreshed when due, and refreshed once however many invocations ask at the same time.
#[derive(Debug, Parser)]
#[command(name = "keliweb-token", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The OAuth token endpoint.
    #[arg(long, env = "KELIWEB_TOKEN_URL", global = true, default_value = keliweb_oauth::Config::KELIWEB_TOKEN_URL)]
    pub token_url: String,

    /// The OAuth client id ("API key").
    #[arg(long, env = "KELIWEB_CLIENT_ID", global = true)]
    pub client_id: Option<String>,

    /// The OAuth client secret ("API secret").
    #[arg(
        long,
        env = "KELIWEB_CLIENT_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub client_secret: Option<String>,

    /// The account's e-mail address. The password comes from KELIWEB_PASSWORD,
    /// --password-stdin, or a prompt on a terminal: never from a flag, which `ps` would show.
    #[arg(long, env = "KELIWEB_USERNAME", global = true)]
    pub username: Option<String>,

    /// Read the password from the first line of standard input.
    #[arg(long, global = true)]
    pub password_stdin: bool,

    /// The token store (default: keliweb/tokens.json in the platform's configuration
    /// directory).
    #[arg(long, env = "KELIWEB_TOKEN_STORE", global = true)]
    pub store: Option<PathBuf>,

    /// Seconds before its expiry that an access token stops being printed and is refreshed
    /// (default 60): lower it for a server whose tokens live a few seconds.
    #[arg(long, env = "KELIWEB_LEEWAY", global = true, value_name = "SECONDS")]
    pub leeway: Option<u64>,

    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in with the password and store the tokens (mode 0600).
    Login,
    /// Print the access token: from the store while it is usable, else refreshed (or logged in
    /// when credentials are given) under the store's lock.
    PrintAccessToken,
    /// Print `Authorization: Bearer …`, for `curl -H "$(keliweb-token header)"`.
    Header,
    /// Show who is logged in and until when; never a secret.
    Status {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Refresh now, even if the access token is still usable.
    Refresh,
    /// Revoke the tokens (when a revocation URL is given) and delete them from the store.
    Logout {
        /// The revocation endpoint.
        #[arg(long, env = "KELIWEB_REVOKE_URL")]
        revoke_url: Option<String>,
        /// How the revocation endpoint is called.
        #[arg(long, value_enum, default_value_t = RevokeStyle::Rfc7009)]
        revoke_style: RevokeStyle,
    },
}

/// How tokens are revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RevokeStyle {
    /// RFC 7009: `POST` each token to the revocation URL.
    Rfc7009,
    /// `POST` to the URL with the access token as a Bearer (Laravel's logout route).
    BearerLogout,
}
