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
  5  the token store is unreadable, corrupt, or not this user's alone
  6  serve, proxy: cannot listen or keep running (another agent holds the socket, the port or
     the secret file, or the system refused)";

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
    /// Run a token agent: log in once, keep the token fresh, and answer `GET /token`,
    /// `/header`, `/health` and `/metrics` on a Unix socket (or loopback TCP with a secret).
    Serve(AgentArgs),
    /// Run an authenticating proxy: forward each request to the Keliweb API with the Bearer
    /// header added, on a Unix socket (or loopback TCP with a secret).
    Proxy {
        #[command(flatten)]
        agent: AgentArgs,
        /// Where requests go: an origin the token may be sent to (the token URL's host,
        /// Keliweb's API hosts, or one named with --api-origin).
        #[arg(
            long,
            env = "KELIWEB_API_URL",
            default_value = "https://apiv2.keliweb.it"
        )]
        upstream: String,
        /// Another origin the token may be sent to (`https://host[:port]`).
        #[arg(long, value_name = "ORIGIN")]
        api_origin: Vec<String>,
    },
}

/// Where and for whom an agent (`serve` or `proxy`) listens, and how it logs.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// The Unix socket (default: keliweb-token/agent.sock or proxy.sock under
    /// $XDG_RUNTIME_DIR, else under a 0700 directory in the temporary directory).
    #[arg(long, value_name = "PATH", conflicts_with = "tcp")]
    pub socket: Option<PathBuf>,
    /// Listen on this loopback address (`127.0.0.1:PORT`) instead; every request must then
    /// carry the per-start secret that is written to --secret-file.
    #[arg(long, value_name = "ADDR", requires = "secret_file")]
    pub tcp: Option<std::net::SocketAddr>,
    /// Where a TCP agent writes its per-start secret (mode 0600), for callers to send as
    /// `X-Keliweb-Agent-Secret`.
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
    /// A user id allowed on the Unix socket (repeatable; default: the agent's own).
    #[arg(long, value_name = "UID")]
    pub allow_uid: Vec<u32>,
    /// A file whose first line is the password (systemd's LoadCredential): re-read on SIGHUP.
    #[arg(long, env = "KELIWEB_PASSWORD_FILE", value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// Logs as JSON lines instead of text.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How an agent writes its logs (to standard error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

/// How tokens are revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RevokeStyle {
    /// RFC 7009: `POST` each token to the revocation URL.
    Rfc7009,
    /// `POST` to the URL with the access token as a Bearer (Laravel's logout route).
    BearerLogout,
}
