//! `FileStore` on its own and under a client: atomic 0600 writes, a set that survives a
//! restart, and typed errors that name the path (never a panic, never a silent login) for a
//! corrupt, truncated or foreign file, with the tokens held kept.
#![cfg(feature = "ureq")]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::blocking::{Client, UreqClient};
use keliweb_oauth::client::{FileStore, Stored, TokenStore};
use keliweb_oauth::{ErrorKind, TokenSet, error::StoreErrorKind};

use crate::support::emulated;

fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig::default()).expect("the emulator starts")
}

fn client(emulator: &Emulator, path: &Path) -> Client<UreqClient> {
    Client::builder(emulated::config(emulator), UreqClient::default())
        .store(FileStore::new(path))
        .build()
}

fn store_in(directory: &tempfile::TempDir) -> (std::path::PathBuf, FileStore) {
    let path = directory.path().join("keliweb").join("tokens.json");
    let store = FileStore::new(&path);
    (path, store)
}

#[test]
fn a_saved_set_is_written_0600_atomically_and_read_back_by_a_restart() {
    let emulator = emulator();
    let directory = tempfile::tempdir().expect("a directory");
    let (path, _) = store_in(&directory);

    let first = client(&emulator, &path);
    first.authorization().expect("a login");
    let saved = first.tokens().expect("a set");
    let mode = fs::metadata(&path)
        .expect("the file exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let directory_mode = fs::metadata(path.parent().expect("a parent"))
        .expect("the directory exists")
        .permissions()
        .mode();
    assert_eq!(directory_mode & 0o777, 0o700, "created 0700");
    // Only the set and its lock file: no temporary file left behind.
    let mut names: Vec<_> = fs::read_dir(path.parent().expect("a parent"))
        .expect("readable")
        .map(|entry| entry.expect("an entry").file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["tokens.json", "tokens.json.lock"]);

    // A new process: no login, the stored set is adopted.
    let restarted = client(&emulator, &path);
    restarted.authorization().expect("the stored token");
    assert_eq!(restarted.tokens(), Some(saved));
    assert_eq!(emulator.counters().password_grants, 1);
}

#[test]
fn a_save_from_a_stale_version_is_refused_and_overwrites_nothing() {
    let directory = tempfile::tempdir().expect("a directory");
    let (_, store) = store_in(&directory);
    let set: TokenSet = serde_json::from_str(
        r#"{"access_token":"eyJ0.a.b","access_token_expires_at":1800003600,"refresh_token":"def50200aa","refresh_token_expires_at":1800864000}"#,
    )
    .expect("a set");
    let mut lease = store.lock(Duration::from_secs(1)).expect("the lease");
    assert_eq!(store.save(&mut lease, 0, Some(&set)), Ok(1));
    let stale = store
        .save(&mut lease, 0, None)
        .expect_err("version 0 is stale");
    assert_eq!(stale.kind(), StoreErrorKind::Conflict);
    assert_eq!(
        store.load(),
        Ok(Stored {
            version: 1,
            tokens: Some(set)
        })
    );
}

#[test]
fn the_lease_is_exclusive_and_times_out_with_a_typed_error() {
    let directory = tempfile::tempdir().expect("a directory");
    let (path, store) = store_in(&directory);
    let held = store.lock(Duration::from_secs(1)).expect("the lease");
    let other = FileStore::new(&path);
    let error = other
        .lock(Duration::from_millis(100))
        .expect_err("held by the first");
    assert_eq!(error.kind(), StoreErrorKind::LeaseTimeout);
    drop(held);
    other
        .lock(Duration::from_millis(100))
        .expect("free once dropped");
}

/// Writes `content` as the store's file, mode 0600.
fn plant(path: &Path, content: &str) {
    fs::create_dir_all(path.parent().expect("a parent")).expect("the directory");
    fs::write(path, content).expect("written");
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).expect("chmod");
}

#[test]
fn corrupt_and_truncated_files_are_typed_errors_that_name_the_path_and_quote_nothing() {
    let emulator = emulator();
    let directory = tempfile::tempdir().expect("a directory");
    let (path, _) = store_in(&directory);
    let secret = "def50200-a-refresh-token-worth-stealing";
    for (content, says) in [
        (
            format!(r#"{{"version":3,"tokens":{{"access_token":"eyJ","refresh_token":"{secret}"#),
            "cut short",
        ),
        (format!("refresh_token={secret}"), "not JSON"),
        (
            format!(r#"{{"version":"{secret}","tokens":null}}"#),
            "not a token set",
        ),
    ] {
        plant(&path, &content);
        let client = client(&emulator, &path);
        let error = client
            .authorization()
            .expect_err("no token from a corrupt store");
        assert_eq!(error.kind(), ErrorKind::Store);
        let store_error = error.store_error().expect("the store's error");
        assert_eq!(store_error.kind(), StoreErrorKind::Corrupt);
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(says), "{message}");
        assert!(!message.contains(secret), "{message}");
        assert!(!format!("{error:?}").contains(secret));
    }
    assert_eq!(
        emulator.counters().token_requests,
        0,
        "never a silent login over a corrupt store"
    );
}

#[test]
fn a_file_others_may_read_or_another_users_file_is_refused() {
    let directory = tempfile::tempdir().expect("a directory");
    let (path, store) = store_in(&directory);
    plant(&path, r#"{"version":1,"tokens":null}"#);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let error = store.load().expect_err("readable by others");
    assert_eq!(error.kind(), StoreErrorKind::Foreign);
    assert!(error.message().contains("chmod 600"), "{error}");

    // Another user's file: as root, hand one to `nobody`; as anyone else, root's own files
    // are another user's.
    let foreign = if rustix_is_root() {
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).expect("root may chown");
        path.clone()
    } else {
        Path::new("/etc/hostname").to_path_buf()
    };
    let error = FileStore::new(&foreign)
        .load()
        .expect_err("another user's file");
    assert_eq!(error.kind(), StoreErrorKind::Foreign);
    assert!(error.message().contains("owned by user"), "{error}");
}

fn rustix_is_root() -> bool {
    // The owner of a file this process creates is this process's user.
    let probe = tempfile::NamedTempFile::new().expect("a file");
    std::os::unix::fs::MetadataExt::uid(&probe.as_file().metadata().expect("metadata")) == 0
}

#[test]
fn a_store_corrupted_under_a_running_client_fails_the_refresh_and_keeps_the_token() {
    let emulator = emulator();
    let directory = tempfile::tempdir().expect("a directory");
    let (path, _) = store_in(&directory);
    let client = client(&emulator, &path);
    let token = client.authorization().expect("a login").clone();
    let held = client.tokens();

    plant(&path, "{");
    let error = client.force_refresh().expect_err("the store is unreadable");
    assert_eq!(error.kind(), ErrorKind::Store);
    assert_eq!(client.tokens(), held, "the tokens are kept");
    let still = client.authorization().expect("the token still works");
    assert_eq!(still.token_id(), token.token_id());
    assert_eq!(
        emulator.counters().token_requests,
        1,
        "only the first login"
    );
}

#[test]
fn a_forced_refresh_in_a_new_process_refreshes_the_stored_set() {
    let emulator = emulator();
    let directory = tempfile::tempdir().expect("a directory");
    let (path, _) = store_in(&directory);
    let first = client(&emulator, &path);
    first.authorization().expect("a login");
    let stored = first.tokens();

    // A new process asks for a refresh: adopting the stored set is not one.
    let restarted = client(&emulator, &path);
    restarted.force_refresh().expect("a refresh");
    assert_ne!(restarted.tokens(), stored);
    let counters = emulator.counters();
    assert_eq!((counters.password_grants, counters.refresh_grants), (1, 1));
}

/// The store's directory, created 0700 as the store would, and the lock file's path.
fn lock_path_in(directory: &tempfile::TempDir) -> (FileStore, std::path::PathBuf) {
    let (path, store) = store_in(directory);
    let parent = path.parent().expect("a parent");
    fs::create_dir(parent).expect("the directory");
    fs::set_permissions(parent, fs::Permissions::from_mode(0o700)).expect("chmod");
    (store, parent.join("tokens.json.lock"))
}

/// Checks that `store` refuses the lease as `Foreign`, with a message that says each of `says`.
fn lease_refused(store: &FileStore, says: &[&str]) {
    let error = store
        .lock(Duration::from_millis(100))
        .expect_err("a refused lease");
    assert_eq!(error.kind(), StoreErrorKind::Foreign, "{error}");
    for said in says {
        assert!(error.message().contains(said), "{error}");
    }
}

#[test]
fn a_lock_file_planted_as_a_link_is_refused_and_nothing_is_created_through_it() {
    let directory = tempfile::tempdir().expect("a directory");
    let (store, lock) = lock_path_in(&directory);
    let named = lock.display().to_string();
    // Where the planter wants a file of this user's (root's, for a login run as root).
    let target = directory.path().join("chosen-by-the-planter");
    std::os::unix::fs::symlink(&target, &lock).expect("planted");
    lease_refused(&store, &[&named, "symbolic link"]);
    assert!(!target.exists(), "nothing created through the link");

    // A link to a file of this user's is no lock file either.
    fs::write(&target, "").expect("written");
    fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).expect("chmod");
    lease_refused(&store, &[&named, "symbolic link"]);
}

#[test]
fn a_lock_file_others_may_use_or_another_users_lock_file_is_refused() {
    let directory = tempfile::tempdir().expect("a directory");
    let (store, lock) = lock_path_in(&directory);
    let named = lock.display().to_string();
    fs::write(&lock, "").expect("written");
    fs::set_permissions(&lock, fs::Permissions::from_mode(0o644)).expect("chmod");
    lease_refused(&store, &[&named, "chmod 600"]);

    if rustix_is_root() {
        fs::set_permissions(&lock, fs::Permissions::from_mode(0o600)).expect("chmod");
        std::os::unix::fs::chown(&lock, Some(65534), Some(65534)).expect("root may chown");
        lease_refused(&store, &[&named, "owned by user 65534"]);
    }
}

/// Checks `error` refuses the directory `directory`, names it and says how to fix it.
fn refuses_directory(error: &keliweb_oauth::error::StoreError, directory: &Path, fix: &str) {
    assert_eq!(error.kind(), StoreErrorKind::Foreign, "{error}");
    let message = error.message();
    assert!(
        message.contains(&directory.display().to_string()),
        "{error}"
    );
    assert!(message.contains(fix), "{error}");
    assert!(message.contains("allow_shared_directory"), "{error}");
}

#[test]
fn a_directory_others_may_write_is_refused_on_load_lock_and_save_unless_allowed() {
    for mode in [0o777, 0o770, 0o1777] {
        let directory = tempfile::tempdir().expect("a directory");
        let shared = directory.path().join("shared");
        fs::create_dir(&shared).expect("the directory");
        fs::set_permissions(&shared, fs::Permissions::from_mode(mode)).expect("chmod");
        let path = shared.join("tokens.json");
        let store = FileStore::new(&path);
        let fix = if mode == 0o1777 {
            // Shared on purpose: no chmod advised.
            "a directory of this user's (mode 700)".to_owned()
        } else {
            format!("chmod 700 {}", shared.display())
        };

        let error = store.load().expect_err("a shared directory");
        refuses_directory(&error, &shared, &fix);
        let error = store
            .lock(Duration::from_millis(100))
            .expect_err("a shared directory");
        refuses_directory(&error, &shared, &fix);

        // The caller who says so may use it; the files in it are still checked.
        let allowed = FileStore::new(&path).allow_shared_directory();
        let mut lease = allowed
            .lock(Duration::from_millis(100))
            .expect("allowed by name");
        let error = store
            .save(&mut lease, 0, None)
            .expect_err("a shared directory");
        refuses_directory(&error, &shared, &fix);
        assert_eq!(allowed.save(&mut lease, 0, None), Ok(1), "mode {mode:o}");
        assert_eq!(allowed.load().map(|stored| stored.version), Ok(1));
        let error = store.load().expect_err("a shared directory");
        refuses_directory(&error, &shared, &fix);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
        let error = allowed.load().expect_err("a file others may read");
        assert!(error.message().contains("chmod 600"), "{error}");
    }
}

#[test]
fn a_directory_another_user_owns_is_refused() {
    // Only root can hand a directory to another user; root's own directories are trusted (as
    // ssh trusts them), so as anyone else there is nothing to try.
    if !rustix_is_root() {
        return;
    }
    let directory = tempfile::tempdir().expect("a directory");
    let theirs = directory.path().join("theirs");
    fs::create_dir(&theirs).expect("the directory");
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o700)).expect("chmod");
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).expect("root may chown");
    let store = FileStore::new(theirs.join("tokens.json"));
    let error = store.load().expect_err("another user's directory");
    refuses_directory(&error, &theirs, "owned by user 65534");
    let error = store
        .lock(Duration::from_millis(100))
        .expect_err("another user's directory");
    refuses_directory(&error, &theirs, "owned by user 65534");
    FileStore::new(theirs.join("tokens.json"))
        .allow_shared_directory()
        .load()
        .expect("allowed by name");
}
