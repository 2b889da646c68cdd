//! The user file: who may log in with SASL, as salted and hashed SCRAM credentials.
//! `minikafka-broker users add|remove|list` edits it; the broker reads it
//! (`--sasl-users`), and reads it again whenever it changes.
//!
//! # Format: one line per user and mechanism, `#` starts a comment
//!
//! ```text
//! # minikafka users: <name> <mechanism> <credential>
//! alice SCRAM-SHA-256 salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=4096
//! alice SCRAM-SHA-512 salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=4096
//! ```
//!
//! The credential is Kafka's own text form (`ScramCredentialUtils`), see `scram.rs`.
//! PLAIN logins are checked against the SCRAM-SHA-512 credential (or SHA-256 when a user
//! has only that): the file never holds a password.
//!
//! What must stay true:
//! - No password is ever written, only credentials.
//! - Writes go to a temporary file renamed over the old one, so a broker reading the
//!   file at the same moment sees the old users or the new ones, never half a file.
//! - A file that cannot be read or parsed lets nobody in (and says why in the log);
//!   it never crashes the broker.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use tracing::warn;

use super::scram::{Credential, ScramHash, DEFAULT_ITERATIONS};

/// Why the user file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("cannot read the user file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot write the user file {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}, line {line}: {reason}")]
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("bad user name {name:?}: {reason}")]
    BadName { name: String, reason: &'static str },
    #[error("no user {0:?} in the user file")]
    NoSuchUser(String),
}

/// Every user, with a credential per SCRAM hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    users: BTreeMap<String, BTreeMap<HashKey, Credential>>,
}

/// `ScramHash` in a stable order for the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum HashKey {
    Sha256,
    Sha512,
}

impl From<ScramHash> for HashKey {
    fn from(h: ScramHash) -> Self {
        match h {
            ScramHash::Sha256 => HashKey::Sha256,
            ScramHash::Sha512 => HashKey::Sha512,
        }
    }
}

impl HashKey {
    fn hash(self) -> ScramHash {
        match self {
            HashKey::Sha256 => ScramHash::Sha256,
            HashKey::Sha512 => ScramHash::Sha512,
        }
    }
}

/// A user name the file can hold: not empty, no spaces or control characters.
fn check_name(name: &str) -> Result<(), UsersError> {
    let bad = |reason| UsersError::BadName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.starts_with('#') {
        return Err(bad("it starts with #"));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it has spaces or control characters"));
    }
    Ok(())
}

impl Users {
    /// Reads `path`; a missing file is no users.
    pub fn load(path: &Path) -> Result<Users, UsersError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Users::default()),
            Err(error) => {
                return Err(UsersError::Read {
                    path: path.to_path_buf(),
                    error,
                })
            }
        };
        Users::parse(&text).map_err(|(line, reason)| UsersError::Parse {
            path: path.to_path_buf(),
            line,
            reason,
        })
    }

    fn parse(text: &str) -> Result<Users, (usize, String)> {
        let mut users = Users::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |reason: String| (i + 1, reason);
            let mut words = line.split_whitespace();
            let (Some(name), Some(mechanism), Some(credential), None) =
                (words.next(), words.next(), words.next(), words.next())
            else {
                return Err(fail("expected <name> <mechanism> <credential>".into()));
            };
            let hash = mechanism
                .parse()
                .ok()
                .and_then(ScramHash::of)
                .ok_or_else(|| {
                    fail(format!(
                        "{mechanism:?} is not SCRAM-SHA-256 or SCRAM-SHA-512"
                    ))
                })?;
            let credential = Credential::from_text(credential, hash).map_err(fail)?;
            users
                .users
                .entry(name.to_string())
                .or_default()
                .insert(hash.into(), credential);
        }
        Ok(users)
    }

    /// The file's text.
    fn render(&self) -> String {
        let mut out = String::from(
            "# minikafka users (minikafka-broker users add|remove|list): <name> <mechanism> <credential>\n\
             # SCRAM credentials, salted and hashed (RFC 5802): no password is stored.\n",
        );
        for (name, credentials) in &self.users {
            for (hash, credential) in credentials {
                out.push_str(&format!(
                    "{name} {} {}\n",
                    hash.hash().mechanism(),
                    credential.to_text()
                ));
            }
        }
        out
    }

    /// Writes the file: a temporary file beside it, synced, then renamed over it.
    pub fn save(&self, path: &Path) -> Result<(), UsersError> {
        let write_error = |error| UsersError::Write {
            path: path.to_path_buf(),
            error,
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write_error)?;
        tmp.write_all(self.render().as_bytes())
            .map_err(write_error)?;
        tmp.as_file().sync_all().map_err(write_error)?;
        tmp.persist(path).map_err(|e| write_error(e.error))?;
        Ok(())
    }

    /// Adds `name` (or changes its password) with a credential for each of `hashes`.
    pub fn add(
        &mut self,
        name: &str,
        password: &str,
        hashes: &[ScramHash],
    ) -> Result<(), UsersError> {
        check_name(name)?;
        let entry = self.users.entry(name.to_string()).or_default();
        entry.clear();
        for &hash in hashes {
            entry.insert(
                hash.into(),
                Credential::new(hash, password, DEFAULT_ITERATIONS),
            );
        }
        Ok(())
    }

    /// Removes `name`.
    pub fn remove(&mut self, name: &str) -> Result<(), UsersError> {
        self.users
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| UsersError::NoSuchUser(name.to_string()))
    }

    /// Every user, with the mechanisms it can log in with (PLAIN with any SCRAM one).
    pub fn list(&self) -> Vec<(String, Vec<String>)> {
        self.users
            .iter()
            .map(|(name, credentials)| {
                let mut mechanisms: Vec<String> = credentials
                    .keys()
                    .map(|h| h.hash().mechanism().to_string())
                    .collect();
                mechanisms.push("PLAIN".into());
                (name.clone(), mechanisms)
            })
            .collect()
    }

    /// `name`'s credential for `hash`.
    pub fn credential(&self, name: &str, hash: ScramHash) -> Option<Credential> {
        self.users.get(name)?.get(&hash.into()).cloned()
    }

    /// Whether `password` is `name`'s (PLAIN), checked against its strongest credential.
    pub fn check_password(&self, name: &str, password: &str) -> Option<bool> {
        let (hash, credential) = self.users.get(name)?.iter().next_back()?;
        Some(credential.matches(hash.hash(), password))
    }
}

/// The broker's view of the user file: read at start-up, and again when its
/// modification time or size changes (checked at each SASL handshake).
#[derive(Debug)]
pub struct UserStore {
    path: Option<PathBuf>,
    cached: Mutex<(Option<(SystemTime, u64)>, Users)>,
}

impl UserStore {
    /// The store of `path` (`None`: no user file, so nobody can log in). Fails when the
    /// file exists but cannot be read: the operator should know at start-up.
    pub fn open(path: Option<&Path>) -> Result<UserStore, UsersError> {
        let store = UserStore {
            path: path.map(Path::to_path_buf),
            cached: Mutex::new((None, Users::default())),
        };
        if let Some(path) = path {
            let users = Users::load(path)?;
            *store.cached.lock().unwrap_or_else(|p| p.into_inner()) = (stamp(path), users);
        }
        Ok(store)
    }

    /// The users now, read again if the file changed. A file that became unreadable
    /// lets nobody in until it is fixed.
    pub fn current(&self) -> Users {
        let Some(path) = &self.path else {
            return Users::default();
        };
        let now = stamp(path);
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if cached.0 != now {
            let users = Users::load(path).unwrap_or_else(|e| {
                warn!("{e}; no SASL login is accepted until it is fixed");
                Users::default()
            });
            *cached = (now, users);
        }
        cached.1.clone()
    }
}

/// The file's modification time and size, the signs that it changed.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_save_load_check_remove() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.txt");
        let mut users = Users::load(&path).unwrap();
        users
            .add(
                "alice",
                "alice-secret",
                &[ScramHash::Sha256, ScramHash::Sha512],
            )
            .unwrap();
        users
            .add("bob", "bob-secret", &[ScramHash::Sha256])
            .unwrap();
        users.save(&path).unwrap();

        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("secret"), "no password in the file:\n{text}");
        let back = Users::load(&path).unwrap();
        assert_eq!(back, users);
        assert_eq!(back.check_password("alice", "alice-secret"), Some(true));
        assert_eq!(back.check_password("alice", "bob-secret"), Some(false));
        assert_eq!(back.check_password("bob", "bob-secret"), Some(true));
        assert_eq!(back.check_password("carol", "x"), None);
        assert!(back.credential("bob", ScramHash::Sha512).is_none());
        assert_eq!(
            back.list()[0].1,
            vec!["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"]
        );

        let mut back = back;
        back.remove("alice").unwrap();
        assert!(matches!(
            back.remove("alice"),
            Err(UsersError::NoSuchUser(_))
        ));
        assert!(matches!(
            back.add("a b", "x", &[ScramHash::Sha256]),
            Err(UsersError::BadName { .. })
        ));
    }

    #[test]
    fn a_bad_line_is_reported_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.txt");
        std::fs::write(&path, "# users\nalice SCRAM-SHA-256 salt=AA==\n").unwrap();
        let err = Users::load(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        std::fs::write(&path, "alice PLAIN x\n").unwrap();
        assert!(Users::load(&path).is_err());
    }

    #[test]
    fn the_store_sees_changes_and_lets_nobody_in_when_the_file_breaks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.txt");
        let store = UserStore::open(Some(&path)).unwrap();
        assert_eq!(store.current(), Users::default());
        let mut users = Users::default();
        users.add("alice", "pw", &[ScramHash::Sha256]).unwrap();
        users.save(&path).unwrap();
        assert_eq!(store.current().check_password("alice", "pw"), Some(true));
        std::fs::write(&path, "garbage line that does not parse\n").unwrap();
        assert_eq!(store.current().check_password("alice", "pw"), None);
    }
}
