//! `serve` and `proxy`: a long-running agent on the async client. It logs in once (or adopts
//! the stored set), keeps the token fresh with refresh ahead, shares custody through the
//! `FileStore` (so agents and the command line never burn each other's refresh token), and
//! answers callers on a Unix socket or loopback TCP (`docs/agent.md`).

mod access;
mod clock;
mod counted;
mod keeper;
mod listen;
mod logging;
mod metrics;
mod own_file;
mod password_file;
mod proxy;
mod refused;
mod routes;
mod secret_file;
mod server;
mod unix_socket;

use std::path::Path;
use std::sync::Arc;

use keliweb_oauth::client::FileStore;
use keliweb_oauth::nonblocking::{Client, ReqwestClient};

use crate::args::{AgentArgs, Cli};
use crate::failure::Failure;
use crate::settings;

use self::access::Access;
use self::counted::{CountedHttp, CountedStore};
use self::listen::Bound;
use self::metrics::Metrics;
use self::password_file::PasswordFile;

/// What an agent holds: its client, who may ask, its metrics, and for a proxy where it
/// forwards to.
pub struct Agent {
    client: Client<CountedHttp>,
    metrics: Arc<Metrics>,
    access: Access,
    proxy: Option<proxy::Forwarder>,
    /// Where SIGHUP re-reads the password from, and for whom.
    password_file: Option<PasswordFile>,
}

/// What the agent answers besides `/health` and `/metrics`.
pub enum Mode {
    /// `/token` and `/header`.
    Serve,
    /// Everything else, forwarded to `upstream`, with these origins added to the policy.
    Proxy {
        /// The API's base URL.
        upstream: String,
        /// Origins the token may also go to.
        api_origins: Vec<String>,
    },
}

/// Runs an agent until SIGTERM or SIGINT.
pub fn run(cli: &Cli, store: &Path, args: &AgentArgs, mode: Mode) -> Result<(), Failure> {
    logging::init(args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("keliweb-agent")
        .enable_all()
        .build()
        .map_err(|error| Failure::cannot_serve(format!("cannot start the runtime: {error}")))?;
    let result = runtime.block_on(async {
        let (agent, bound) = start(cli, store, args, mode)?;
        server::serve(agent, bound).await
    });
    if let Err(failure) = &result {
        tracing::error!(%failure, "the agent stopped");
    }
    result
}

/// Builds the agent and binds its listener (inside the runtime: tokio's listeners need it).
fn start(
    cli: &Cli,
    store: &Path,
    args: &AgentArgs,
    mode: Mode,
) -> Result<(Arc<Agent>, Bound), Failure> {
    let password_file = match (&args.password_file, &cli.username) {
        (Some(path), Some(username)) => Some(PasswordFile::new(path.clone(), username.clone())),
        (Some(_), None) => {
            return Err(Failure::usage(
                "--password-file needs a username: pass --username or set KELIWEB_USERNAME",
            ));
        }
        (None, _) => None,
    };
    let credentials = match &password_file {
        Some(file) => Some(file.credentials()?),
        None => settings::unattended_credentials(cli)?,
    };
    let api_origins = match &mode {
        Mode::Serve => Vec::new(),
        Mode::Proxy { api_origins, .. } => api_origins.clone(),
    };
    let config = settings::config_with(cli, credentials, None, &api_origins)?;
    let proxy = match &mode {
        Mode::Serve => None,
        Mode::Proxy { upstream, .. } => Some(proxy::Forwarder::check(&config, upstream)?),
    };
    let bound = Bound::bind(
        args,
        match mode {
            Mode::Serve => "agent.sock",
            Mode::Proxy { .. } => "proxy.sock",
        },
    )?;
    let access = match &bound {
        Bound::Unix { .. } if args.allow_uid.is_empty() => {
            Access::Uids(vec![unix_socket::own_uid()])
        }
        Bound::Unix { .. } => Access::Uids(args.allow_uid.clone()),
        Bound::Tcp { secret, .. } => Access::Secret(secret.clone()),
    };
    let metrics = Arc::new(Metrics::new());
    let token_path = config.token_url().path().to_owned();
    let http = CountedHttp::new(ReqwestClient::default(), metrics.clone(), token_path);
    let client = Client::builder(config, http)
        .store(CountedStore::new(FileStore::new(store), metrics.clone()))
        .build();
    let proxy = proxy.map(|forwarder| forwarder.with_client(client.clone()));
    let agent = Agent {
        client,
        metrics,
        access,
        proxy,
        password_file,
    };
    Ok((Arc::new(agent), bound))
}

impl Agent {
    /// SIGHUP: re-reads the password file, if any, for the next login.
    fn reread(&self) {
        let Some(file) = &self.password_file else {
            tracing::info!("SIGHUP: nothing to re-read (no --password-file)");
            return;
        };
        match file.credentials() {
            Ok(credentials) => {
                self.client.login(credentials);
                tracing::info!("SIGHUP: the password file was re-read");
            }
            Err(failure) => tracing::warn!(%failure, "SIGHUP: the password file was not re-read"),
        }
    }
}
