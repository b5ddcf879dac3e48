//! A store in Redis, shared by processes on several hosts.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use redis::{Connection, RedisError, Script};
use zeroize::Zeroize;

use super::Stored;
use super::store::{TokenStore, deadline, next_version};
use crate::{StoreError, StoreErrorKind, TokenSet};

/// The longest pause between two tries of the lease while another process holds it.
const MAX_LEASE_POLL: Duration = Duration::from_millis(50);

/// Saves the set if the caller still holds the lease and the version is the one it loaded.
/// KEYS: the set's hash, the lease. ARGV: the holder, the expected version, the next version,
/// the JSON ("" to erase). Answers 1 when saved, -1 for a lost lease, -2 for another version.
/// The versions stay decimal text, compared and stored as such: Lua's numbers are doubles,
/// exact only up to 2^53, so the next version is counted in Rust.
const SAVE: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
if (redis.call('HGET', KEYS[1], 'version') or '0') ~= ARGV[2] then return -2 end
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[1], 'set')
  redis.call('HSET', KEYS[1], 'version', ARGV[3])
else
  redis.call('HSET', KEYS[1], 'version', ARGV[3], 'set', ARGV[4])
end
return 1
";

/// Releases the lease if the caller still holds it. KEYS: the lease. ARGV: the holder.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// A [`TokenStore`] in Redis, for processes on several hosts: Redis is the one place the
/// fleet agrees on, so no consensus of the crate's own is needed.
///
/// - The set lives in a hash under `key` (fields `version` and `set`, the set as JSON). The
///   version stays exact up to `u64::MAX`: decimal text, compared as text by the save script.
/// - The lease is `SET <key>:lease <holder> NX PX <ms>`, where the holder number comes from
///   `INCR <key>:holders`, so no two holders ever share one. It expires on its own if the
///   holder dies, and is released by a compare-and-delete script, so a holder whose lease
///   expired cannot release its successor's. Its lifetime is the `hold_for` asked plus six
///   times the timeout (the holder's own calls to Redis); a waiter waits up to twice that
///   lifetime, and a [`StoreErrorKind::LeaseTimeout`] states that wait.
/// - A save is a script that checks both the lease and the version (a fencing token): a holder
///   whose lease expired while it waited for the server cannot overwrite a newer set.
/// - Calls are blocking, with a timeout (default 2 s) on connecting, reading and writing; the
///   async client runs them on a thread of their own, so this one store serves both clients,
///   on any runtime. One connection per store, reopened after any failure.
/// - A key of another type than the store writes there (Redis answers `WRONGTYPE`) is
///   [`StoreErrorKind::Corrupt`], naming the key: not retried, it stays wrong until deleted.
///
/// In a Redis Cluster, put a hash tag in the key (`{keliweb}:tokens`) so that the set and its
/// lease live on one node. Redis holds the tokens in clear: protect it as you would the
/// account's password (authentication, TLS to it, no persistence to shared disks).
pub struct RedisStore {
    shared: Arc<Shared>,
}

struct Shared {
    client: redis::Client,
    key: String,
    lease_key: String,
    holders_key: String,
    /// The URL without its secrets (`redacted`), and the key: what errors and `Debug` name.
    name: String,
    timeout: Duration,
    connection: Mutex<Option<Connection>>,
    save: Script,
    release: Script,
    /// Leases of this store whose release failed (Redis did not answer): released before the
    /// next lease is taken, so the process never waits for a lease it holds itself.
    orphaned: Mutex<Vec<u64>>,
}

/// A lease on a [`RedisStore`]; dropping it releases the lease (if it has not expired).
pub struct RedisLease {
    shared: Arc<Shared>,
    holder: u64,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("store", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RedisLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLease")
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store at `url` (`redis://[:password@]host[:port][/db]`, `rediss://` with a TLS
    /// feature of the `redis` crate, or `redis+unix:///path?pass=…` for a Unix socket) under
    /// `key`. Nothing is connected until the first call. Errors and `Debug` show the URL
    /// without its password: no user info, and no value of a query parameter but `db`,
    /// `protocol` and `user`.
    ///
    /// # Errors
    /// [`StoreErrorKind::Unavailable`] when the URL cannot be parsed (the message does not
    /// show it: where it breaks, a password might be taken for anything else).
    pub fn open(url: &str, key: impl Into<String>) -> Result<Self, StoreError> {
        let key = key.into();
        let client = redis::Client::open(url).map_err(|error| {
            StoreError::new(
                StoreErrorKind::Unavailable,
                format!(
                    "redis key {key}: not a Redis URL ({:?}; not shown, as it may hold a password)",
                    error.kind()
                ),
            )
        })?;
        let name = format!("redis {} key {key}", redacted(url));
        Ok(Self {
            shared: Arc::new(Shared {
                client,
                lease_key: format!("{key}:lease"),
                holders_key: format!("{key}:holders"),
                key,
                name,
                timeout: Duration::from_secs(2),
                connection: Mutex::new(None),
                save: Script::new(SAVE),
                release: Script::new(RELEASE),
                orphaned: Mutex::new(Vec::new()),
            }),
        })
    }

    /// How long to wait for Redis when connecting, reading or writing (default 2 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.timeout = timeout;
        }
        self
    }
}

impl Shared {
    /// Runs `call`, which touches `keys`, on the connection, opening one if needed; a failed
    /// call drops it, so the next one reconnects.
    fn with_connection<T>(
        &self,
        keys: &[&str],
        call: impl FnOnce(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, StoreError> {
        let mut slot = self.connection();
        if slot.is_none() {
            *slot = Some(self.connect()?);
        }
        let Some(connection) = slot.as_mut() else {
            return Err(self.error(StoreErrorKind::Unavailable, "no connection"));
        };
        call(connection).map_err(|error| {
            *slot = None;
            if error.code() == Some("WRONGTYPE") {
                self.wrong_type(keys)
            } else {
                self.unavailable(&error)
            }
        })
    }

    /// One of `keys` holds another type than this store writes there: no passing failure but
    /// a key someone else wrote, wrong until deleted.
    fn wrong_type(&self, keys: &[&str]) -> StoreError {
        let (mut what, mut fix) = (Vec::new(), Vec::new());
        for key in keys {
            let kind = if *key == self.key {
                "a hash"
            } else if *key == self.holders_key {
                "a counter"
            } else {
                "a string"
            };
            what.push(format!("`{key}` must be {kind}"));
            fix.push(format!("`DEL {key}`"));
        }
        let which = if keys.len() == 1 {
            "it"
        } else {
            "the one that is not"
        };
        self.error(
            StoreErrorKind::Corrupt,
            format_args!(
                "{} (Redis answered WRONGTYPE); delete {which} ({}) or choose another key",
                what.join(" and "),
                fix.join(" or ")
            ),
        )
    }

    fn connection(&self) -> MutexGuard<'_, Option<Connection>> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let connection = self
            .client
            .get_connection_with_timeout(self.timeout)
            .map_err(|error| self.unavailable(&error))?;
        connection
            .set_read_timeout(Some(self.timeout))
            .and_then(|()| connection.set_write_timeout(Some(self.timeout)))
            .map_err(|error| self.unavailable(&error))?;
        Ok(connection)
    }

    fn error(&self, kind: StoreErrorKind, what: impl std::fmt::Display) -> StoreError {
        StoreError::new(kind, format!("{}: {what}", self.name))
    }

    /// A Redis failure, by kind and code only: a reply may echo what was sent.
    fn unavailable(&self, error: &RedisError) -> StoreError {
        let what = if error.is_timeout() {
            "timed out".to_owned()
        } else if error.is_connection_refusal() {
            "connection refused".to_owned()
        } else if error.is_io_error() || error.is_connection_dropped() {
            "connection failed".to_owned()
        } else {
            match error.code() {
                Some(code) => format!("Redis answered {code}"),
                None => format!("{:?}", error.kind()),
            }
        };
        self.error(StoreErrorKind::Unavailable, what)
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "the lease's wait is a deadline on the monotonic clock, outside the core"
)]
impl TokenStore for RedisStore {
    type Lease = RedisLease;

    fn load(&self) -> Result<Stored, StoreError> {
        let shared = &self.shared;
        let (version, json): (Option<String>, Option<String>) =
            shared.with_connection(&[&shared.key], |c| {
                redis::cmd("HMGET")
                    .arg(&shared.key)
                    .arg("version")
                    .arg("set")
                    .query(c)
            })?;
        let version = match version {
            None => 0,
            // Only the form the save script compares against: a "+1" or "01" would never match.
            Some(text) => match text.parse::<u64>() {
                Ok(version) if version.to_string() == text => version,
                _ => {
                    return Err(shared.error(
                        StoreErrorKind::Corrupt,
                        "its version is not a decimal number this store wrote; delete the key",
                    ));
                }
            },
        };
        let Some(mut json) = json else {
            return Ok(Stored {
                version,
                tokens: None,
            });
        };
        let parsed = serde_json::from_str::<TokenSet>(&json);
        json.zeroize();
        let tokens = parsed.map_err(|error| {
            // Position only: serde's message may quote the content.
            shared.error(
                StoreErrorKind::Corrupt,
                format_args!(
                    "its set is not a token set this store wrote (at column {}); delete the key",
                    error.column()
                ),
            )
        })?;
        Ok(Stored {
            version,
            tokens: Some(tokens),
        })
    }

    fn lock(&self, hold_for: Duration) -> Result<RedisLease, StoreError> {
        let shared = &self.shared;
        let holder: u64 = shared.with_connection(&[&shared.holders_key], |c| {
            redis::cmd("INCR").arg(&shared.holders_key).query(c)
        })?;
        // The holder's own calls to Redis (up to five, each within the timeout, and a
        // reconnection) count on top of its token requests.
        let lifetime = hold_for.saturating_add(shared.timeout.saturating_mul(6));
        let millis = u64::try_from(lifetime.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, i64::MAX as u64);
        // A waiter that came just after the holder took the lease waits out a whole lease.
        let wait = lifetime.saturating_mul(2);
        let give_up = deadline(wait);
        let mut pause = Duration::from_millis(2);
        loop {
            // A lease this process failed to release would otherwise be waited out: released
            // at each try, since Redis may come back between two of them.
            shared.release_orphans();
            let taken: Option<String> = shared.with_connection(&[&shared.lease_key], |c| {
                redis::cmd("SET")
                    .arg(&shared.lease_key)
                    .arg(holder)
                    .arg("NX")
                    .arg("PX")
                    .arg(millis)
                    .query(c)
            })?;
            if taken.is_some() {
                return Ok(RedisLease {
                    shared: Arc::clone(shared),
                    holder,
                });
            }
            if Instant::now() >= give_up {
                return Err(shared.error(
                    StoreErrorKind::LeaseTimeout,
                    format_args!(
                        "another process held the lease for all of {wait:?}, twice its lifetime \
                         of {lifetime:?} ({hold_for:?} held plus six calls of {:?})",
                        shared.timeout
                    ),
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(MAX_LEASE_POLL);
        }
    }

    fn save(
        &self,
        lease: &mut RedisLease,
        expected: u64,
        tokens: Option<&TokenSet>,
    ) -> Result<u64, StoreError> {
        let shared = &self.shared;
        let next = next_version(expected, &shared.name)?;
        let mut json = match tokens {
            Some(tokens) => serde_json::to_string(tokens)
                .map_err(|error| shared.error(StoreErrorKind::Unavailable, error))?,
            None => String::new(),
        };
        let answer: Result<i64, StoreError> =
            shared.with_connection(&[&shared.key, &shared.lease_key], |c| {
                shared
                    .save
                    .key(&shared.key)
                    .key(&shared.lease_key)
                    .arg(lease.holder)
                    .arg(expected)
                    .arg(next)
                    .arg(&json)
                    .invoke(c)
            });
        json.zeroize();
        match answer? {
            -1 => Err(shared.error(
                StoreErrorKind::Conflict,
                "the lease expired before the save; nothing was written",
            )),
            -2 => Err(shared.error(
                StoreErrorKind::Conflict,
                format_args!("another process stored a version after {expected}"),
            )),
            1 => Ok(next),
            answer => Err(shared.error(
                StoreErrorKind::Unavailable,
                format_args!("the save script answered {answer}, not 1, -1 or -2"),
            )),
        }
    }
}

impl Drop for RedisLease {
    fn drop(&mut self) {
        let shared = &self.shared;
        if shared.release(self.holder).is_err() {
            // It expires on its own, but this process must not wait for it meanwhile.
            shared.orphans().push(self.holder);
        }
    }
}

impl Shared {
    /// Releases `holder`'s lease if it still holds it.
    fn release(&self, holder: u64) -> Result<i64, StoreError> {
        self.with_connection(&[&self.lease_key], |c| {
            self.release.key(&self.lease_key).arg(holder).invoke(c)
        })
    }

    /// Releases the leases whose release failed: they are this process's, and nobody holds
    /// them any more. Those Redis still does not answer for stay listed.
    fn release_orphans(&self) {
        let mut orphaned = std::mem::take(&mut *self.orphans());
        // The first failure says Redis is still away: the rest wait for the next lease.
        while let Some(holder) = orphaned.pop() {
            if self.release(holder).is_err() {
                orphaned.push(holder);
                self.orphans().append(&mut orphaned);
                return;
            }
        }
    }

    fn orphans(&self) -> MutexGuard<'_, Vec<u64>> {
        self.orphaned.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The query parameters whose values are shown: the `redis` crate reads no secret from them.
const SHOWN_PARAMETERS: [&str; 3] = ["db", "protocol", "user"];

/// A URL that parsed, for messages: without its user info, and with the value of every query
/// parameter but `SHOWN_PARAMETERS` redacted, since a Unix socket's URL carries its password
/// as `?pass=` and any other parameter may hold one too.
fn redacted(url: &str) -> String {
    let (address, query) = match url.split_once('?') {
        Some((address, query)) => (address, Some(query)),
        None => (url, None),
    };
    // Up to the last `@` before the query: a password may hold an `@` of its own.
    let mut shown = match (address.find("://"), address.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}{}", &address[..scheme_end + 3], &address[at + 1..])
        }
        _ => address.to_owned(),
    };
    if let Some(query) = query {
        let parameters: Vec<_> = query
            .split('&')
            .map(|parameter| match parameter.split_once('=') {
                Some((name, _)) if !SHOWN_PARAMETERS.contains(&name) => {
                    format!("{name}=[redacted]")
                }
                _ => parameter.to_owned(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&parameters.join("&"));
    }
    shown
}
