//! Channel keys: with `rtmp_noauth: false`, a publisher uses a room's secret key as the stream
//! name, and the stream is published under the room's name (README "Publish and play").
//!
//! [`ChannelKeys`] is the lookup the RTMP side needs; [`KeyStore`], the persistent store behind
//! the control API, implements it. Comparison never short-circuits on the first differing byte.
//!
//! The store file (`key_store`, default `data/channel_keys.json`) is pretty-printed JSON:
//!
//! ```json
//! {
//!   "version": 1,
//!   "rooms": {
//!     "room1": "Ab3…(48 characters [A-Za-z0-9])"
//!   }
//! }
//! ```
//!
//! Every change reaches the disk before the call returns: the whole file is written to
//! `<path>.tmp`, fsynced, renamed over `<path>`, and the directory is fsynced. The in-memory map
//! is replaced only after that succeeded, so a failed write changes nothing.
//!
//! Unlike livego, a reset or deleted key stops working at once, and keys come from the OS
//! CSPRNG (livego's generator is seeded the same way in every process).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use serde::Deserialize;

use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

pub trait ChannelKeys: Send + Sync {
    /// The room a channel key publishes to, if the key is valid.
    fn room_for_key(&self, key: &str) -> Option<String>;
}

/// Length of a channel key, in characters of `KEY_ALPHABET`.
pub const KEY_LEN: usize = 48;
const KEY_ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const MAX_ROOM_LEN: usize = 256;
const FILE_VERSION: u32 = 1;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    version: u32,
    rooms: BTreeMap<String, String>,
}

/// Why the key store did not do what was asked.
#[derive(Debug)]
pub enum KeyError {
    /// The room name is not acceptable (the client's mistake).
    BadRoom(BadRoom),
    /// The store file could not be read.
    Read { path: PathBuf, source: io::Error },
    /// The store file is not a valid store.
    Invalid { path: PathBuf, why: String },
    /// A change could not be saved; nothing changed.
    Write { path: PathBuf, source: io::Error },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::BadRoom(why) => write!(f, "{why}"),
            KeyError::Read { path, source } => {
                write!(
                    f,
                    "cannot read channel key store {}: {source}",
                    path.display()
                )
            }
            KeyError::Invalid { path, why } => {
                write!(f, "channel key store {} is invalid: {why}", path.display())
            }
            KeyError::Write { path, source } => {
                write!(
                    f,
                    "cannot write channel key store {}: {source}",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for KeyError {}

/// What is wrong with a room name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRoom {
    Empty,
    TooLong,
    Slash,
    ControlCharacter,
}

impl fmt::Display for BadRoom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadRoom::Empty => f.write_str("room name is empty"),
            BadRoom::TooLong => write!(f, "room name is longer than {MAX_ROOM_LEN} bytes"),
            BadRoom::Slash => f.write_str("room name must not contain '/'"),
            BadRoom::ControlCharacter => {
                f.write_str("room name must not contain control characters")
            }
        }
    }
}

/// Room → key, persisted in a JSON file. Shared by all cores as `Arc<KeyStore>`.
#[derive(Debug)]
pub struct KeyStore {
    path: PathBuf,
    /// Held by a change from reading the map until the new map is in place, so concurrent
    /// changes neither interleave their files nor lose each other's updates.
    writer: Mutex<()>,
    rooms: RwLock<BTreeMap<String, String>>,
}

impl KeyStore {
    /// Loads the store at `path`; a missing file is an empty store (the file and its directory
    /// are created on the first change). An unreadable or invalid file is an error naming it.
    pub fn open(path: &Path) -> Result<KeyStore, KeyError> {
        let path_buf = || path.to_path_buf();
        let rooms = match fs::read_to_string(path) {
            Ok(text) => parse(&text).map_err(|why| KeyError::Invalid {
                path: path_buf(),
                why,
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                let path = path_buf();
                return Err(KeyError::Read { path, source });
            }
        };
        Ok(KeyStore {
            path: path.to_path_buf(),
            writer: Mutex::new(()),
            rooms: RwLock::new(rooms),
        })
    }

    /// The room's key, created (and persisted) on first use (livego `/control/get`).
    pub fn get_or_create(&self, room: &str) -> Result<String, KeyError> {
        validate_room(room).map_err(KeyError::BadRoom)?;
        if let Some(key) = self.read().get(room) {
            return Ok(key.clone());
        }
        self.change(|rooms| match rooms.get(room) {
            Some(key) => key.clone(),
            None => insert_new_key(rooms, room),
        })
    }

    /// Gives the room a new key (creating the room if unknown, as livego does); the old key
    /// stops working when this returns.
    pub fn reset(&self, room: &str) -> Result<String, KeyError> {
        validate_room(room).map_err(KeyError::BadRoom)?;
        self.change(|rooms| insert_new_key(rooms, room))
    }

    /// Removes the room and its key; `Ok(false)` if the room is unknown.
    pub fn delete(&self, room: &str) -> Result<bool, KeyError> {
        validate_room(room).map_err(KeyError::BadRoom)?;
        self.change(|rooms| rooms.remove(room).is_some())
    }

    /// Number of rooms.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, String>> {
        self.rooms.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `edit` to a copy of the map; if that changed anything, saves the copy and only
    /// then makes it current. Lookups keep using the old map while the file is written.
    fn change<T>(
        &self,
        edit: impl FnOnce(&mut BTreeMap<String, String>) -> T,
    ) -> Result<T, KeyError> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = self.read().clone();
        let out = edit(&mut next);
        if next != *self.read() {
            self.save(&next).map_err(|source| KeyError::Write {
                path: self.path.clone(),
                source,
            })?;
            *self.rooms.write().unwrap_or_else(|e| e.into_inner()) = next;
        }
        Ok(out)
    }

    fn save(&self, rooms: &BTreeMap<String, String>) -> io::Result<()> {
        let mut text = serde_json::to_string_pretty(&serde_json::json!({
            "version": FILE_VERSION,
            "rooms": rooms,
        }))?;
        text.push('\n');
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        fs::create_dir_all(dir)?;
        let mut tmp = OsString::from(&self.path);
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let written =
            write_synced(&tmp, text.as_bytes()).and_then(|()| fs::rename(&tmp, &self.path));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
        File::open(dir)?.sync_all()
    }
}

impl ChannelKeys for KeyStore {
    fn room_for_key(&self, key: &str) -> Option<String> {
        // Digests are compared, not keys: how long a comparison takes tells nothing about a
        // key's characters. Every entry is visited, so neither does which one matched.
        let wanted = digest(&SHA256, key.as_bytes());
        let mut found = None;
        for (room, candidate) in self.read().iter() {
            if digest(&SHA256, candidate.as_bytes()).as_ref() == wanted.as_ref() {
                found = Some(room.clone());
            }
        }
        found
    }
}

/// Checks a room name: non-empty, at most 256 bytes, no '/' and no control characters.
pub fn validate_room(room: &str) -> Result<(), BadRoom> {
    if room.is_empty() {
        Err(BadRoom::Empty)
    } else if room.len() > MAX_ROOM_LEN {
        Err(BadRoom::TooLong)
    } else if room.contains('/') {
        Err(BadRoom::Slash)
    } else if room.chars().any(char::is_control) {
        Err(BadRoom::ControlCharacter)
    } else {
        Ok(())
    }
}

fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let file: KeyFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if file.version != FILE_VERSION {
        return Err(format!("unsupported version {}", file.version));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (room, key) in &file.rooms {
        validate_room(room).map_err(|e| format!("room {room:?}: {e}"))?;
        if !is_valid_key(key) {
            return Err(format!(
                "room {room:?}: the key is not {KEY_LEN} characters [A-Za-z0-9]"
            ));
        }
        if !seen.insert(key) {
            return Err(format!("room {room:?}: its key is also another room's"));
        }
    }
    Ok(file.rooms)
}

fn is_valid_key(key: &str) -> bool {
    key.len() == KEY_LEN && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Gives `room` a fresh key that no room has, and returns it.
fn insert_new_key(rooms: &mut BTreeMap<String, String>, room: &str) -> String {
    let key = loop {
        let key = random_key();
        if !rooms.values().any(|k| *k == key) {
            break key;
        }
    };
    rooms.insert(room.to_string(), key.clone());
    key
}

/// [`KEY_LEN`] characters of [`KEY_ALPHABET`] from the OS CSPRNG. Bytes ≥ 248 (4 × 62) are
/// rejected so every character is equally likely.
fn random_key() -> String {
    let limit = (256 / KEY_ALPHABET.len() * KEY_ALPHABET.len()) as u8;
    let mut key = String::with_capacity(KEY_LEN);
    let mut buf = [0u8; 64];
    while key.len() < KEY_LEN {
        SystemRandom::new()
            .fill(&mut buf)
            .expect("the OS random source");
        for &b in buf.iter().filter(|&&b| b < limit).take(KEY_LEN - key.len()) {
            key.push(KEY_ALPHABET[usize::from(b) % KEY_ALPHABET.len()] as char);
        }
    }
    key
}

/// Writes `data` to a new file at `path` (owner-only: it holds secrets) and fsyncs it.
fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            let mut id = [0u8; 8];
            SystemRandom::new().fill(&mut id).unwrap();
            let dir = std::env::temp_dir().join(format!(
                "livego-keys-{}-{}",
                std::process::id(),
                u64::from_le_bytes(id)
            ));
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn round_trip_through_the_file() {
        let dir = TempDir::new();
        let path = dir.0.join("sub/keys.json");
        let store = KeyStore::open(&path).unwrap();
        assert!(store.is_empty());

        let k1 = store.get_or_create("room1").unwrap();
        assert_eq!(store.get_or_create("room1").unwrap(), k1);
        let k2 = store.get_or_create("room2").unwrap();
        assert_ne!(k1, k2);
        assert_eq!(store.len(), 2);
        assert_eq!(store.room_for_key(&k1).as_deref(), Some("room1"));

        let k1b = store.reset("room1").unwrap();
        assert_ne!(k1b, k1);
        assert_eq!(store.room_for_key(&k1), None, "the old key is revoked");
        assert_eq!(store.room_for_key(&k1b).as_deref(), Some("room1"));

        let k3 = store.reset("room3").unwrap();
        assert_eq!(store.room_for_key(&k3).as_deref(), Some("room3"));
        assert!(store.delete("room3").unwrap());
        assert!(!store.delete("room3").unwrap());
        assert_eq!(store.room_for_key(&k3), None);
        assert!(!path.with_extension("json.tmp").exists());

        let reopened = KeyStore::open(&path).unwrap();
        assert_eq!(reopened.len(), 2);
        assert_eq!(reopened.get_or_create("room1").unwrap(), k1b);
        assert_eq!(reopened.room_for_key(&k2).as_deref(), Some("room2"));
        assert_eq!(reopened.room_for_key(&k1), None);

        let text = fs::read_to_string(&path).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["rooms"]["room2"], k2.as_str());
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key file is private to its owner");
    }

    #[test]
    fn only_whole_keys_map_to_rooms() {
        let dir = TempDir::new();
        let store = KeyStore::open(&dir.0.join("keys.json")).unwrap();
        let key = store.get_or_create("room").unwrap();
        assert_eq!(
            store.room_for_key("room"),
            None,
            "a bare room name is not a key"
        );
        assert_eq!(store.room_for_key(&key[..KEY_LEN - 1]), None);
        assert_eq!(store.room_for_key(&format!("{key}x")), None);
        assert_eq!(store.room_for_key(&key.to_lowercase()), None);
        assert_eq!(store.room_for_key(""), None);
    }

    #[test]
    fn keys_are_48_alphanumerics_and_differ() {
        let keys: Vec<String> = (0..200).map(|_| random_key()).collect();
        assert!(keys.iter().all(|k| is_valid_key(k)));
        let distinct: std::collections::BTreeSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len());
        let all: String = keys.concat();
        for c in KEY_ALPHABET {
            assert!(all.contains(*c as char), "{} never drawn", *c as char);
        }
    }

    #[test]
    fn invalid_room_names_are_refused() {
        let dir = TempDir::new();
        let store = KeyStore::open(&dir.0.join("keys.json")).unwrap();
        let long = "r".repeat(MAX_ROOM_LEN + 1);
        for room in ["", "a/b", "a\nb", "a\0", long.as_str()] {
            assert!(store.get_or_create(room).is_err(), "{room:?}");
            assert!(store.reset(room).is_err(), "{room:?}");
            assert!(store.delete(room).is_err(), "{room:?}");
        }
        assert!(store.get_or_create(&"r".repeat(MAX_ROOM_LEN)).is_ok());
        assert!(store.get_or_create("Zimmer ü 1").is_ok());
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = TempDir::new();
        let path = dir.0.join("keys.json");
        let valid_key = "a".repeat(KEY_LEN);
        for text in [
            "{not json".to_string(),
            r#"{"room1":"abc"}"#.to_string(),
            r#"{"version":2,"rooms":{}}"#.to_string(),
            r#"{"version":1,"rooms":{"r":"short"}}"#.to_string(),
            format!(r#"{{"version":1,"rooms":{{"a/b":"{valid_key}"}}}}"#),
            format!(r#"{{"version":1,"rooms":{{"a":"{valid_key}","b":"{valid_key}"}}}}"#),
        ] {
            fs::write(&path, &text).unwrap();
            let err = KeyStore::open(&path).unwrap_err();
            assert!(matches!(err, KeyError::Invalid { .. }), "{err}");
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{err}"
            );
        }
        fs::write(
            &path,
            format!(r#"{{"version":1,"rooms":{{"a":"{valid_key}"}}}}"#),
        )
        .unwrap();
        assert_eq!(KeyStore::open(&path).unwrap().len(), 1);
    }

    #[test]
    fn a_directory_in_place_of_the_file_is_an_error() {
        let dir = TempDir::new();
        let err = KeyStore::open(&dir.0).unwrap_err();
        assert!(matches!(err, KeyError::Read { .. }), "{err}");
        assert!(
            err.to_string().contains(&dir.0.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn a_failed_write_changes_nothing() {
        let store = KeyStore::open(Path::new("/proc/livego-no-such-dir/keys.json")).unwrap();
        let err = store.get_or_create("room").unwrap_err();
        assert!(matches!(err, KeyError::Write { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("/proc/livego-no-such-dir/keys.json"), "{err}");
        assert!(store.is_empty());

        let dir = TempDir::new();
        let sub = dir.0.join("sub");
        let store = KeyStore::open(&sub.join("keys.json")).unwrap();
        let key = store.get_or_create("room").unwrap();
        // Make the directory impossible to write (root ignores permissions, so replace it).
        fs::remove_dir_all(&sub).unwrap();
        fs::write(&sub, "not a directory").unwrap();
        assert!(store.reset("room").is_err());
        assert!(store.delete("room").is_err());
        assert!(store.get_or_create("other").is_err());
        assert_eq!(store.len(), 1);
        assert_eq!(store.room_for_key(&key).as_deref(), Some("room"));
        assert_eq!(store.get_or_create("room").unwrap(), key);
    }
}
