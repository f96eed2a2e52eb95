//! The embedded journal: one SQLite file (bundled SQLite, nothing to install), WAL mode,
//! schema versioned with `PRAGMA user_version` and migrated on open.

mod installations;
mod journal;
mod kv;
mod outbox;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rusqlite::{params, Connection, OptionalExtension};

use super::{
    from_millis, to_millis, Appended, Batch, Entry, EntryState, InstallationStore, JournalStore,
    KeyValueStore, LeaseStore, Mark, NewOutput, OutboxStore, Output, OutputAppended, OutputMark,
    OutputState, StoreError, Written,
};

/// The schema this version writes. Older files are migrated on open; newer ones are refused.
pub const SCHEMA_VERSION: i64 = 6;

/// `PRAGMA application_id` of a nonstop journal ("nons"): SQLite's own field for telling
/// which program's file a database is. Journals made before it was set have 0, and are known
/// by their tables.
const APPLICATION_ID: i32 = 0x6e6f_6e73;

/// The tables a nonstop journal has; a file with any other is someone else's.
const JOURNAL_TABLES: [&str; 7] = [
    "installation_locks",
    "events",
    "kv",
    "outbox",
    "meta",
    "installations",
    "oauth_states",
];

const SCHEMA_V1: &str = "
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT    NOT NULL UNIQUE,
    envelope_id TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    raw         TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    state       INTEGER NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX events_unfinished ON events (seq) WHERE state < 2;
CREATE INDEX events_received_at ON events (received_at);
CREATE TABLE kv (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
";

/// Version 2: the outbox, the answers handlers send, written before they go out.
const SCHEMA_V2: &str = "
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    key          TEXT    NOT NULL UNIQUE,
    lane         TEXT    NOT NULL,
    method       TEXT    NOT NULL,
    args         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    state        INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    attempted_at INTEGER,
    result       TEXT,
    error        TEXT,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX outbox_unfinished ON outbox (id) WHERE state < 2;
CREATE INDEX outbox_created_at ON outbox (created_at);
";

/// Version 3: facts about the journal itself; for now which bot it serves
/// ([`JournalStore::claim_for_bot`](crate::journal::JournalStore::claim_for_bot)).
const SCHEMA_V3: &str = "
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
";

/// Version 4: the app's installations (many workspaces) and the OAuth flow's states.
const SCHEMA_V4: &str = "
CREATE TABLE installations (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE oauth_states (
    state      TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Version 5: the installed workspace each answer is for (its token sends it).
const SCHEMA_V5: &str = "ALTER TABLE outbox ADD COLUMN workspace TEXT;";

/// Version 6: locks on installations (one process refreshes a token at a time).
const SCHEMA_V6: &str = "
CREATE TABLE installation_locks (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Finished answers written before ?1, oldest first, at most ?2.
const PRUNE_OUTBOX_BY_AGE: &str = "DELETE FROM outbox WHERE id IN
    (SELECT id FROM outbox WHERE created_at < ?1 AND state >= 2
     ORDER BY created_at LIMIT ?2)";

/// Finished answers at or below id ?1, oldest first, at most ?2.
const PRUNE_OUTBOX_BY_SIZE: &str = "DELETE FROM outbox WHERE id IN
    (SELECT id FROM outbox WHERE id <= ?1 AND state >= 2 ORDER BY id LIMIT ?2)";

const OUTPUT_COLUMNS: &str =
    "id, key, lane, method, args, created_at, state, attempts, attempted_at, result, error, workspace";

/// Finished entries received before ?1, oldest first, at most ?2.
const PRUNE_BY_AGE: &str = "DELETE FROM events WHERE seq IN
    (SELECT seq FROM events WHERE received_at < ?1 AND state >= 2
     ORDER BY received_at LIMIT ?2)";

/// Finished entries at or below sequence number ?1, oldest first, at most ?2.
const PRUNE_BY_SIZE: &str = "DELETE FROM events WHERE seq IN
    (SELECT seq FROM events WHERE seq <= ?1 AND state >= 2 ORDER BY seq LIMIT ?2)";

/// Unfinished entries at or below sequence number ?1 (through the partial index, which
/// holds only unfinished entries).
const UNFINISHED_UP_TO: &str = "SELECT count(*) FROM events WHERE state < 2 AND seq <= ?1";

/// How hard each commit is pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync on every commit: survives power loss. The default.
    Full,
    /// WAL with `synchronous=NORMAL`: survives a crash of the process, not of the machine.
    Normal,
}

pub struct SqliteStore {
    /// std Mutex: one connection, used by the writer thread and by rare reads (replay at
    /// start, `nonstop journal`); SQLite calls block, and none runs on an async task.
    conn: Mutex<Connection>,
    /// The bot's key-value storage's own connection, opened on first use, so that storage
    /// calls from handlers never wait for the journal writer's connection nor hold it. `None`
    /// inside until then; std Mutex for the same reason as `conn`.
    kv_conn: Mutex<Option<Connection>>,
    /// Where `kv_conn` opens, and its `synchronous` setting (the journal's); `None` (in
    /// memory, read-only) means `conn` serves storage too.
    kv_source: Option<(std::path::PathBuf, &'static str)>,
    path: String,
    /// The lock on `<journal>-lock`, held for the store's life: a second process that opens
    /// the journal to write is refused. `None` for read-only and in-memory stores.
    _lock: Option<std::fs::File>,
    /// On Linux, also a lock on the database file itself ([`lock_the_file`]): a process that
    /// reaches the same file under another name (a hard link, a bind mount of the file) is
    /// refused too, where the name's lock would let it in.
    _file_lock: Option<std::fs::File>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the journal at `path`, and migrates it.
    pub fn open(path: impl AsRef<Path>, durability: Durability) -> Result<Self, StoreError> {
        let shown = path.as_ref().display().to_string();
        let open_error = |e: rusqlite::Error| StoreError::Open {
            path: shown.clone(),
            detail: e.to_string(),
        };
        // Before anything reads it as a database: another name's process may be writing it.
        let mut file_lock = match lock_the_file(path.as_ref(), &shown) {
            // Under this same name, its lock says which process has it.
            Err(in_use @ StoreError::InUse { .. }) => {
                return Err(take_lock(path.as_ref(), &shown).err().unwrap_or(in_use))
            }
            other => other?,
        };
        // Before anything is written to it (even a permission or a header field).
        refuse_foreign(path.as_ref(), &shown)?;
        owner_only(path.as_ref()).map_err(|detail| StoreError::Open {
            path: shown.clone(),
            detail,
        })?;
        let lock = take_lock(path.as_ref(), &shown)?;
        if file_lock.is_none() {
            // Made just now (`owner_only`).
            file_lock = lock_the_file(path.as_ref(), &shown)?;
        }
        let conn = Connection::open(path.as_ref()).map_err(open_error)?;
        let mut store = Self::setup(conn, shown.clone(), durability).map_err(|e| match e {
            StoreError::Write { detail } | StoreError::Read { detail } => StoreError::Open {
                path: shown,
                detail,
            },
            other => other,
        })?;
        store._lock = Some(lock);
        store._file_lock = file_lock;
        store.kv_source = Some((path.as_ref().to_path_buf(), synchronous(durability)));
        Ok(store)
    }

    /// Opens an existing journal to read it, while a bot may be running on it (`nonstop
    /// journal`): no lock, no file created, nothing written or migrated.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let shown = path.as_ref().display().to_string();
        let open_error = |detail: String| StoreError::Open {
            path: shown.clone(),
            detail,
        };
        if !path.as_ref().is_file() {
            return Err(open_error("no journal there".to_owned()));
        }
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
            | rusqlite::OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path.as_ref(), flags)
            .map_err(|e| open_error(e.to_string()))?;
        conn.pragma_update(None, "busy_timeout", 5000)
            .map_err(|e| open_error(e.to_string()))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| open_error(e.to_string()))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Schema {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(Self {
            conn: Mutex::new(conn),
            kv_conn: Mutex::new(None),
            kv_source: None,
            path: shown,
            _lock: None,
            _file_lock: None,
        })
    }

    /// A journal that lives in memory only (tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(|e| StoreError::Open {
            path: ":memory:".into(),
            detail: e.to_string(),
        })?;
        Self::setup(conn, ":memory:".into(), Durability::Normal)
    }

    fn setup(conn: Connection, path: String, durability: Durability) -> Result<Self, StoreError> {
        let write = write_error;
        // Pages freed by pruning go back to the file system (see `prune`). Only a new, empty
        // file takes this, and only before it switches to WAL.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(write)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(write)?;
        conn.pragma_update(None, "synchronous", synchronous(durability))
            .map_err(write)?;
        conn.pragma_update(None, "busy_timeout", 5000)
            .map_err(write)?;
        // The journal is append-mostly and read back only at start: a small page cache keeps
        // the bot's memory small (SQLite's default is 2 MiB per connection).
        conn.pragma_update(None, "cache_size", -512)
            .map_err(write)?;
        // Every statement of a commit and of the reads beside it stays prepared (rusqlite
        // keeps 16 by default; the journal uses about 20).
        conn.set_prepared_statement_cache_capacity(32);
        // The writer checkpoints while it waits for work (`Store::checkpoint`); a commit
        // checkpoints by itself when the log passes 4,000 pages (16 MiB), which happens under
        // loads that leave the writer no pause. 4,000 rather than SQLite's 1,000: each commit
        // rewrites the table's last pages, so a longer log holds more copies of the same
        // pages, and one checkpoint writes each back once. After a checkpoint, the log is
        // truncated back to 16 MiB at most.
        conn.pragma_update(None, "wal_autocheckpoint", 4000)
            .map_err(write)?;
        conn.pragma_update(None, "journal_size_limit", 16 * 1024 * 1024)
            .map_err(write)?;
        migrate(&conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            kv_conn: Mutex::new(None),
            kv_source: None,
            path,
            _lock: None,
            _file_lock: None,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The journal's connection, to plant rows no writer would write (fuzzing).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.lock()
    }

    /// Runs `call` on the storage connection, opening it on first use.
    fn with_kv<R>(
        &self,
        call: impl FnOnce(&mut Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let Some((path, sync)) = &self.kv_source else {
            return call(&mut self.lock());
        };
        let mut slot = self.kv_conn.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let open = |e: rusqlite::Error| StoreError::Open {
                path: self.path.clone(),
                detail: format!("the storage connection: {e}"),
            };
            let conn = Connection::open(path).map_err(open)?;
            conn.pragma_update(None, "busy_timeout", 5000)
                .map_err(open)?;
            conn.pragma_update(None, "synchronous", sync)
                .map_err(open)?;
            conn.pragma_update(None, "cache_size", -256).map_err(open)?;
            *slot = Some(conn);
        }
        match slot.as_mut() {
            Some(conn) => call(conn),
            None => Err(StoreError::Read {
                detail: "the storage connection did not open".to_owned(),
            }),
        }
    }
}

/// Refuses a file at `path` that is not a nonstop journal of the user running this process:
/// another user's file (planted in a shared directory, it could feed the bot forged events to
/// replay), or another program's database (which migrating would damage). Reads only; an
/// absent or empty file is a new journal.
fn refuse_foreign(path: &Path, shown: &str) -> Result<(), StoreError> {
    let foreign = |detail: String| StoreError::Foreign {
        path: shown.to_owned(),
        detail,
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        // A directory that cannot be read: SQLite names the problem when it opens the file.
        Err(_) => return Ok(()),
    };
    if !meta.is_file() {
        return Err(foreign(
            "it is not a regular file (a link, a directory or a device)".to_owned(),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(foreign(format!(
                "it belongs to uid {}, and this process runs as uid {me}",
                meta.uid()
            )));
        }
    }
    if meta.len() == 0 {
        return Ok(());
    }
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let not_sqlite = |e: rusqlite::Error| foreign(format!("it is not a SQLite database ({e})"));
    let conn = Connection::open_with_flags(path, flags).map_err(not_sqlite)?;
    let pragma = |name: &str| -> Result<i64, StoreError> {
        conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
            .map_err(not_sqlite)
    };
    let application_id = pragma("application_id")?;
    let version = pragma("user_version")?;
    let mut tables: Vec<String> = Vec::new();
    {
        let mut stmt = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .map_err(not_sqlite)?;
        let rows = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(not_sqlite)?;
        for name in rows {
            tables.push(name.map_err(not_sqlite)?);
        }
    }
    let others: Vec<&str> = tables
        .iter()
        .map(String::as_str)
        .filter(|t| !JOURNAL_TABLES.contains(t))
        .collect();
    if application_id == i64::from(APPLICATION_ID) {
        if version > SCHEMA_VERSION {
            return Err(StoreError::Schema {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        return Ok(());
    }
    if application_id != 0 {
        return Err(foreign(format!(
            "its SQLite application_id is {application_id:#x}, another program's"
        )));
    }
    // Made before the application_id was set, or an empty database: known by its tables.
    let legacy = (1..=SCHEMA_VERSION).contains(&version) && tables.iter().any(|t| t == "events");
    let blank = version == 0 && tables.is_empty();
    if (legacy || blank) && others.is_empty() {
        return Ok(());
    }
    let shown_tables = if others.is_empty() {
        tables.join(", ")
    } else {
        others.join(", ")
    };
    Err(foreign(format!(
        "it is another program's database (user_version {version}, tables: {shown_tables})"
    )))
}

/// The journal holds message texts: it is created readable and writable by its owner only
/// (0600), and an existing one that others may read is narrowed to that. SQLite gives its
/// `-wal` and `-shm` files the database file's permissions. A missing directory is left for
/// SQLite to report.
#[cfg(unix)]
fn owner_only(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        // An empty file is a new database to SQLite.
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            for file in [
                path.to_path_buf(),
                with_suffix(path, "-wal"),
                with_suffix(path, "-shm"),
            ] {
                let Ok(meta) = std::fs::metadata(&file) else {
                    continue;
                };
                if meta.permissions().mode() & 0o077 != 0 {
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                        .map_err(|e| {
                            format!(
                                "{} is readable by others and its permissions cannot be narrowed to the owner ({e}); is it someone else's file?",
                                file.display()
                            )
                        })?;
                }
            }
            Ok(())
        }
        Err(_) => Ok(()),
    }
}

#[cfg(not(unix))]
fn owner_only(_path: &Path) -> Result<(), String> {
    // Windows: a new file inherits its directory's ACL, normally the user's profile only.
    Ok(())
}

/// Takes the journal's lock for this process: `<journal>-lock`, with this process's id
/// written in it for whoever is refused.
fn take_lock(path: &Path, shown: &str) -> Result<std::fs::File, StoreError> {
    use std::io::{Read, Seek, Write};
    let lock_path = with_suffix(path, "-lock");
    let open_error = |e: std::io::Error| StoreError::Open {
        path: shown.to_owned(),
        detail: format!("its lock file {}: {e}", lock_path.display()),
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(&lock_path) {
        Ok(file) => file,
        // No directory: SQLite names the problem with the journal's own path.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::Open {
                path: shown.to_owned(),
                detail: e.to_string(),
            })
        }
        Err(e) => return Err(open_error(e)),
    };
    match file.try_lock() {
        Ok(()) => {
            // Best effort: the pid only helps the message of a process refused later.
            let _ = file.set_len(0);
            let _ = write!(file, "pid {}", std::process::id());
            let _ = file.flush();
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.rewind();
            let _ = file.take(64).read_to_string(&mut holder);
            let holder = holder.trim();
            Err(StoreError::InUse {
                path: shown.to_owned(),
                holder: if holder.is_empty() {
                    "pid unknown".to_owned()
                } else {
                    holder.to_owned()
                },
            })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(open_error(e)),
    }
}

/// Locks the database file itself (not its name) for this process, so that a second process
/// reaching it under another name is refused: a hard link or a bind mount of the file has
/// its own `<name>-lock`, and SQLite keeps its write-ahead log by name too (`<name>-wal`),
/// so two writers through two names corrupt the journal.
///
/// Linux only, with `flock(2)`: there it is independent of the POSIX record locks SQLite
/// takes on the same file. On macOS and the BSDs a whole-file `flock` conflicts with those,
/// and Windows locks are mandatory, so there the name's lock is all (docs/storage.md).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn lock_the_file(path: &Path, shown: &str) -> Result<Option<std::fs::File>, StoreError> {
    use rustix::fs::{flock, FlockOperation};
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        // Not there yet (made by SQLite in a moment): nothing to share, nothing to lock.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StoreError::Open {
                path: shown.to_owned(),
                detail: format!("it cannot be opened to lock it: {e}"),
            })
        }
    };
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(file)),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(StoreError::InUse {
            path: shown.to_owned(),
            holder: "a process that opened the same file under another name (a hard link, a bind mount, a symlink)".to_owned(),
        }),
        Err(e) => Err(StoreError::Open {
            path: shown.to_owned(),
            detail: format!("it cannot be locked: {e}"),
        }),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn lock_the_file(_path: &Path, _shown: &str) -> Result<Option<std::fs::File>, StoreError> {
    Ok(None)
}

/// `path` with `suffix` appended, as SQLite names its files (`journal.db-wal`).
fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let read = |e: rusqlite::Error| StoreError::Read {
        detail: e.to_string(),
    };
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(read)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Schema {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    // Each version's step in a transaction of its own; a later version adds a line here.
    let steps = [
        (1, SCHEMA_V1, "creating the schema"),
        (2, SCHEMA_V2, "adding the outbox to the schema"),
        (3, SCHEMA_V3, "adding the bot's name to the schema"),
        (4, SCHEMA_V4, "adding installations to the schema"),
        (5, SCHEMA_V5, "adding each answer's workspace to the schema"),
        (6, SCHEMA_V6, "adding installation locks to the schema"),
    ];
    for (to, schema, what) in steps {
        if version < to {
            conn.execute_batch(&format!(
                "BEGIN; {schema} PRAGMA user_version = {to}; COMMIT;"
            ))
            .map_err(|e| StoreError::Write {
                detail: format!("{what}: {e}"),
            })?;
        }
    }
    // Marked as ours (new files, and files made before the mark existed).
    let application_id: i32 = conn
        .query_row("PRAGMA application_id", [], |row| row.get(0))
        .map_err(read)?;
    if application_id != APPLICATION_ID {
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(|e| StoreError::Write {
                detail: format!("marking the journal as nonstop's: {e}"),
            })?;
    }
    Ok(())
}

/// SQLite's `synchronous` setting for a durability.
fn synchronous(durability: Durability) -> &'static str {
    match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    }
}

fn write_error(e: rusqlite::Error) -> StoreError {
    StoreError::Write {
        detail: format!("{e} (is the disk full or read-only?)"),
    }
}

fn read_error(e: rusqlite::Error) -> StoreError {
    StoreError::Read {
        detail: e.to_string(),
    }
}

/// The net effect of a batch's marks on one key.
struct Folded<'a> {
    key: &'a str,
    /// The state of the key's last mark.
    state: EntryState,
    /// How many handler starts the marks record.
    starts: i64,
    /// The last failure's error, if any.
    error: Option<&'a str>,
}

/// Folds marks per key, keeping the order in which keys first appear.
fn fold(marks: &[Mark]) -> Vec<Folded<'_>> {
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut out: Vec<Folded<'_>> = Vec::new();
    for mark in marks {
        let i = *index.entry(mark.key()).or_insert_with(|| {
            out.push(Folded {
                key: mark.key(),
                state: EntryState::Received,
                starts: 0,
                error: None,
            });
            out.len() - 1
        });
        let folded = &mut out[i];
        match mark {
            Mark::Dispatched { .. } => {
                folded.state = EntryState::Dispatched;
                folded.starts += 1;
            }
            Mark::Done { .. } => folded.state = EntryState::Done,
            Mark::Failed { error, .. } => {
                folded.state = EntryState::Failed;
                folded.error = Some(error);
            }
        }
    }
    out
}

/// Writes one key-value pair, replacing what was there.
const KV_UPSERT: &str = "INSERT INTO kv (key, value, updated_at) VALUES (?1, ?2, ?3)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

/// A table of `key`, `value`, `updated_at`: the bot's storage (`kv`) and the installations.
#[derive(Clone, Copy)]
enum Records {
    Kv,
    Installations,
}

impl Records {
    fn select(self) -> &'static str {
        match self {
            Self::Kv => "SELECT value FROM kv WHERE key = ?1",
            Self::Installations => "SELECT value FROM installations WHERE key = ?1",
        }
    }

    fn upsert(self) -> &'static str {
        match self {
            Self::Kv => KV_UPSERT,
            Self::Installations => {
                "INSERT INTO installations (key, value, updated_at) VALUES (?1, ?2, ?3)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
            }
        }
    }

    fn delete(self) -> &'static str {
        match self {
            Self::Kv => "DELETE FROM kv WHERE key = ?1",
            Self::Installations => "DELETE FROM installations WHERE key = ?1",
        }
    }
}

/// Writes `new` under `key` in `table` (`None` deletes) when it holds `expected` now
/// (`None`: absent), or whatever it holds when `expected` is `None`; true when it wrote.
fn write_record(
    conn: &mut Connection,
    table: Records,
    key: &str,
    expected: Option<Option<&str>>,
    new: Option<&str>,
) -> Result<bool, StoreError> {
    // IMMEDIATE: the write lock before the read, so no writer slips in between. It is held
    // for one read and one write, never while user code runs.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(write_error)?;
    if let Some(expected) = expected {
        let current: Option<String> = tx
            .query_row(table.select(), params![key], |row| row.get(0))
            .optional()
            .map_err(read_error)?;
        if current.as_deref() != expected {
            return Ok(false);
        }
    }
    match new {
        Some(value) => tx.execute(
            table.upsert(),
            params![key, value, to_millis(SystemTime::now())],
        ),
        None => tx.execute(table.delete(), params![key]),
    }
    .map_err(write_error)?;
    tx.commit().map_err(write_error)?;
    Ok(true)
}

const COLUMNS: &str = "seq, key, envelope_id, kind, raw, received_at, state, attempts, error";

fn row_to_output(row: &rusqlite::Row<'_>) -> rusqlite::Result<Output> {
    let state: i64 = row.get(6)?;
    let attempts: i64 = row.get(7)?;
    let attempted_at: Option<i64> = row.get(8)?;
    Ok(Output {
        id: row.get(0)?,
        key: row.get(1)?,
        lane: row.get(2)?,
        method: row.get(3)?,
        args: row.get(4)?,
        created_at: from_millis(row.get(5)?),
        // A state this version does not know is treated as pending, so the answer is looked
        // for and sent rather than forgotten.
        state: OutputState::from_code(state).unwrap_or(OutputState::Pending),
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        attempted_at: attempted_at.map(from_millis),
        result: row.get(9)?,
        error: row.get(10)?,
        workspace: row.get(11)?,
    })
}

/// Appends `outputs` and applies `marks` inside `tx`.
fn write_outputs(
    tx: &rusqlite::Transaction<'_>,
    outputs: &[NewOutput],
    marks: &[OutputMark],
    now: i64,
) -> Result<Vec<OutputAppended>, StoreError> {
    let mut out = Vec::with_capacity(outputs.len());
    if !outputs.is_empty() {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO outbox (key, lane, method, args, created_at, updated_at, attempted_at, workspace)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (key) DO NOTHING",
            )
            .map_err(write_error)?;
        for output in outputs {
            let inserted = insert
                .execute(params![
                    output.key,
                    output.lane,
                    output.method,
                    output.args,
                    to_millis(output.created_at),
                    now,
                    output.attempt_covered_until.map(to_millis),
                    output.workspace
                ])
                .map_err(write_error)?;
            if inserted == 1 {
                out.push(OutputAppended::Fresh {
                    id: tx.last_insert_rowid(),
                });
                continue;
            }
            let existing = tx
                .query_row(
                    &format!("SELECT {OUTPUT_COLUMNS} FROM outbox WHERE key = ?1"),
                    params![output.key],
                    row_to_output,
                )
                .map_err(write_error)?;
            out.push(OutputAppended::Existing(Box::new(existing)));
        }
    }
    for mark in marks {
        // Cached: a busy bot marks thousands of answers a second, and parsing each
        // statement again cost about a twentieth of its CPU.
        let statement = match mark {
            OutputMark::Attempt { id, at } => tx
                .prepare_cached(
                    "UPDATE outbox SET attempts = attempts + 1, attempted_at = ?2, updated_at = ?3
                     WHERE id = ?1",
                )
                .and_then(|mut s| s.execute(params![id, to_millis(*at), now])),
            OutputMark::NotPosted { id } => tx
                .prepare_cached(
                    "UPDATE outbox SET attempted_at = NULL, updated_at = ?2 WHERE id = ?1",
                )
                .and_then(|mut s| s.execute(params![id, now])),
            OutputMark::Sent { id, result } => tx
                .prepare_cached(
                    "UPDATE outbox SET state = ?2, result = ?3, updated_at = ?4 WHERE id = ?1",
                )
                .and_then(|mut s| s.execute(params![id, OutputState::Sent.code(), result, now])),
            OutputMark::Failed { id, error } => tx
                .prepare_cached(
                    "UPDATE outbox SET state = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
                )
                .and_then(|mut s| s.execute(params![id, OutputState::Failed.code(), error, now])),
        };
        statement.map_err(write_error)?;
    }
    Ok(out)
}

fn row_to_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let raw: String = row.get(4)?;
    let state: i64 = row.get(6)?;
    let attempts: i64 = row.get(7)?;
    Ok(Entry {
        seq: row.get(0)?,
        key: row.get(1)?,
        envelope_id: row.get(2)?,
        kind: row.get(3)?,
        raw: Arc::from(raw),
        received_at: from_millis(row.get(5)?),
        // A state this version does not know is treated as unfinished, so it is replayed
        // rather than forgotten.
        state: EntryState::from_code(state).unwrap_or(EntryState::Received),
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        error: row.get(8)?,
    })
}

/// The sequence number at and below which finished entries go so that at most `max_entries`
/// stay, unfinished ones counted among them: the newest `max_entries` less as many as there
/// are unfinished entries further back (which are never pruned). Found through the primary
/// key and the partial index of unfinished entries: counting all entries would read a whole
/// index at every prune step. Pruning deletes from the old end, so entries above the boundary
/// are contiguous; a gap there (age pruning around an unfinished entry) only means fewer stay.
fn size_boundary(tx: &rusqlite::Transaction<'_>, max_entries: u64) -> Result<i64, StoreError> {
    let newest: Option<i64> = tx
        .query_row("SELECT max(seq) FROM events", [], |row| row.get(0))
        .map_err(write_error)?;
    let base = newest
        .unwrap_or(0)
        .saturating_sub(i64::try_from(max_entries).unwrap_or(i64::MAX));
    // Moving the boundary up may pass more unfinished entries: repeat until it stays. Each
    // round passes at least one, so this ends; unfinished entries are few (in flight or
    // waiting for a handler).
    let mut boundary = base;
    loop {
        let unfinished: i64 = tx
            .query_row(UNFINISHED_UP_TO, params![boundary], |row| row.get(0))
            .map_err(write_error)?;
        let next = base.saturating_add(unfinished);
        if next <= boundary {
            return Ok(boundary);
        }
        boundary = next;
    }
}

/// Rows per state, from `sql` (`SELECT state, COUNT(*) … GROUP BY state`); states this version
/// does not know are left out.
fn count_by_state<S>(
    conn: &Connection,
    sql: &str,
    from_code: fn(i64) -> Option<S>,
) -> Result<Vec<(S, u64)>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(read_error)?;
    let rows = stmt
        .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))
        .map_err(read_error)?;
    let mut out = Vec::new();
    for row in rows {
        let (code, n) = row.map_err(read_error)?;
        if let Some(state) = from_code(code) {
            out.push((state, u64::try_from(n).unwrap_or(0)));
        }
    }
    Ok(out)
}

/// The bot recorded in the journal: none in a journal no bot claimed yet, nor in one made
/// before schema 3 (opened read only, not upgraded).
fn bot_of(conn: &Connection) -> Result<Option<String>, StoreError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(read_error)?;
    if version < 3 {
        return Ok(None);
    }
    conn.query_row("SELECT value FROM meta WHERE name = 'bot'", [], |row| {
        row.get(0)
    })
    .optional()
    .map_err(read_error)
}

impl LeaseStore for SqliteStore {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::NewEntry;

    /// A small received envelope with the key `key`.
    fn one_entry(key: &str) -> NewEntry {
        NewEntry {
            key: key.into(),
            envelope_id: format!("env-{key}"),
            kind: "events_api".into(),
            raw: Arc::from("{}"),
            received_at: SystemTime::now(),
            dispatched: false,
        }
    }

    #[test]
    fn passes_the_conformance_suite_in_memory_and_on_disk() {
        super::super::conformance::run(&SqliteStore::open_in_memory().unwrap());
        let (dir, path) = fresh_db("journal", "conformance");
        super::super::conformance::run(&SqliteStore::open(&path, Durability::Full).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn pruning_finds_its_entries_through_an_index_never_by_reading_the_table() {
        let store = SqliteStore::open_in_memory().unwrap();
        let conn = store.lock();
        for statement in [
            PRUNE_BY_AGE,
            PRUNE_BY_SIZE,
            UNFINISHED_UP_TO,
            PRUNE_OUTBOX_BY_AGE,
            PRUNE_OUTBOX_BY_SIZE,
        ] {
            let mut plan = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {statement}"))
                .unwrap();
            let arguments = rusqlite::params_from_iter([0; 2].iter().take(plan.parameter_count()));
            let steps: Vec<String> = plan
                .query_map(arguments, |row| row.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(
                steps.iter().all(|step| !step.starts_with("SCAN")),
                "{statement}\nreads a whole table or index: {steps:?}"
            );
        }
    }

    #[test]
    fn survives_reopen_and_refuses_a_newer_schema() {
        let (dir, path) = fresh_db("reopen", "reopen");
        {
            let store = SqliteStore::open(&path, Durability::Full).unwrap();
            store.commit(&[one_entry("Ev1")], &[]).unwrap();
        }
        let store = SqliteStore::open(&path, Durability::Full).unwrap();
        assert_eq!(store.unfinished(10).unwrap()[0].key, "Ev1");
        store
            .lock()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(store);
        let err = SqliteStore::open(&path, Durability::Full).unwrap_err();
        assert!(matches!(err, StoreError::Schema { .. }), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A journal of the version before (schema 2, no `meta`) is read as it is when opened
    /// read only, and upgraded when a bot opens it, its events kept; the bot's claim then
    /// outlives the process.
    #[test]
    fn a_schema_2_journal_is_upgraded_and_the_bots_claim_outlives_the_process() {
        let (dir, path) = fresh_db("v2", "v2");
        {
            let store = SqliteStore::open(&path, Durability::Full).unwrap();
            store.commit(&[one_entry("Ev1")], &[]).unwrap();
            store
                .lock()
                .execute_batch(
                    "DROP TABLE meta; DROP TABLE installations; DROP TABLE oauth_states;
                     DROP TABLE installation_locks;
                     ALTER TABLE outbox DROP COLUMN workspace;
                     PRAGMA user_version = 2;",
                )
                .unwrap();
        }
        let reader = SqliteStore::open_read_only(&path).unwrap();
        assert_eq!(reader.bot().unwrap(), None);
        drop(reader);
        {
            let store = SqliteStore::open(&path, Durability::Full).unwrap();
            assert_eq!(store.unfinished(10).unwrap()[0].key, "Ev1");
            store.claim_for_bot("T1/U1").unwrap();
        }
        let store = SqliteStore::open(&path, Durability::Full).unwrap();
        assert_eq!(store.bot().unwrap().as_deref(), Some("T1/U1"));
        let err = store.claim_for_bot("T2/U2").unwrap_err();
        assert!(matches!(err, StoreError::OtherBot { .. }), "{err}");
        assert!(err.to_string().contains("NONSTOP_DB"), "{err}");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A directory of this test's own and the path of a journal `<file>.db` in it that does
    /// not exist yet.
    fn fresh_db(dir: &str, file: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("nonstop-{dir}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{file}.db"));
        let _ = std::fs::remove_file(&path);
        (dir, path)
    }

    /// A database made by `setup` in a fresh file, its bytes, and the file.
    fn foreign_db(dir: &Path, name: &str, setup: &str) -> (std::path::PathBuf, Vec<u8>) {
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(setup).unwrap();
        drop(conn);
        let bytes = std::fs::read(&path).unwrap();
        (path, bytes)
    }

    #[test]
    fn another_programs_database_is_refused_before_anything_is_written_to_it() {
        let dir = std::env::temp_dir().join(format!("nonstop-foreign-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            // Another app's database, rollback journal, no version.
            (
                "app.db",
                "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);",
            ),
            // Given our tables and a version, but with its own beside them.
            (
                "mixed.db",
                "CREATE TABLE events (seq INTEGER); CREATE TABLE kv (key TEXT);
                 CREATE TABLE accounts (id INTEGER); PRAGMA user_version = 2;",
            ),
            // Another program's application_id.
            (
                "other-id.db",
                "CREATE TABLE t (x); PRAGMA application_id = 1234;",
            ),
            // Ours, from a future version: refused as such, still before any write.
            (
                "future.db",
                "CREATE TABLE events (seq INTEGER); PRAGMA application_id = 1852796531;
                 PRAGMA user_version = 99;",
            ),
        ];
        for (name, setup) in cases {
            let (path, before) = foreign_db(&dir, name, setup);
            let err = SqliteStore::open(&path, Durability::Full).unwrap_err();
            if name == "future.db" {
                assert!(
                    matches!(err, StoreError::Schema { found: 99, .. }),
                    "{name}: {err}"
                );
            } else {
                assert!(matches!(err, StoreError::Foreign { .. }), "{name}: {err}");
                assert!(err.to_string().contains("NONSTOP_DB"), "{err}");
            }
            assert_eq!(
                std::fs::read(&path).unwrap(),
                before,
                "{name} was written to"
            );
            assert!(!with_suffix(&path, "-wal").exists(), "{name} got a WAL");
        }
        // Not a database at all.
        let text = dir.join("notes.txt");
        std::fs::write(&text, "shopping list\n".repeat(200)).unwrap();
        let err = SqliteStore::open(&text, Durability::Full).unwrap_err();
        assert!(err.to_string().contains("not a SQLite database"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&text).unwrap(),
            "shopping list\n".repeat(200)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_journal_made_before_the_mark_is_still_ours_and_gets_it() {
        let (dir, path) = fresh_db("legacy", "legacy");
        {
            let store = SqliteStore::open(&path, Durability::Full).unwrap();
            store.commit(&[one_entry("Ev1")], &[]).unwrap();
            store
                .lock()
                .pragma_update(None, "application_id", 0)
                .unwrap();
        }
        let store = SqliteStore::open(&path, Durability::Full).unwrap();
        assert_eq!(store.unfinished(10).unwrap()[0].key, "Ev1");
        let id: i32 = store
            .lock()
            .query_row("PRAGMA application_id", [], |row| row.get(0))
            .unwrap();
        assert_eq!(id, APPLICATION_ID);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A journal planted by another user (here: one of ours, handed to uid 4242) is refused,
    /// its forged events never read. Needs root to hand a file to another user.
    #[cfg(unix)]
    #[test]
    fn a_journal_of_another_user_is_refused() {
        if rustix::process::geteuid().as_raw() != 0 {
            eprintln!("skipped: only root can give a file to another user");
            return;
        }
        let (dir, path) = fresh_db("planted", "planted");
        {
            let store = SqliteStore::open(&path, Durability::Full).unwrap();
            store.commit(&[one_entry("Forged")], &[]).unwrap();
        }
        std::os::unix::fs::chown(&path, Some(4242), Some(4242)).unwrap();
        let err = SqliteStore::open(&path, Durability::Full).unwrap_err();
        assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
        assert!(err.to_string().contains("uid 4242"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_database_is_a_write_error_and_recovers() {
        let store = SqliteStore::open_in_memory().unwrap();
        let pages: i64 = store
            .lock()
            .query_row("PRAGMA page_count", [], |row| row.get(0))
            .unwrap();
        store
            .lock()
            .pragma_update(None, "max_page_count", pages)
            .unwrap();
        let big = |i: usize| NewEntry {
            key: format!("Ev{i}"),
            envelope_id: format!("e{i}"),
            kind: "events_api".into(),
            raw: Arc::from("x".repeat(8192)),
            received_at: SystemTime::now(),
            dispatched: false,
        };
        let err = (0..100)
            .find_map(|i| store.commit(&[big(i)], &[]).err())
            .expect("the database filled up");
        assert!(matches!(err, StoreError::Write { .. }), "{err}");
        assert!(err.to_string().contains("full"), "{err}");
        assert!(err.to_string().contains("not acked"), "{err}");
        store
            .lock()
            .pragma_update(None, "max_page_count", 1_000_000)
            .unwrap();
        assert!(store.commit(&[big(1000)], &[]).is_ok(), "writes work again");
    }

    #[test]
    fn pruning_gives_pages_back() {
        let (dir, path) = fresh_db("vacuum", "vacuum");
        let store = SqliteStore::open(&path, Durability::Normal).unwrap();
        let entries: Vec<NewEntry> = (0..500)
            .map(|i| NewEntry {
                key: format!("Ev{i}"),
                envelope_id: format!("e{i}"),
                kind: "events_api".into(),
                raw: Arc::from("x".repeat(4096)),
                received_at: SystemTime::now() - std::time::Duration::from_secs(3600),
                dispatched: false,
            })
            .collect();
        let marks: Vec<Mark> = (0..500)
            .map(|i| Mark::Done {
                key: format!("Ev{i}"),
            })
            .collect();
        store.commit(&entries, &marks).unwrap();
        let pages = |store: &SqliteStore| -> i64 {
            store
                .lock()
                .query_row("PRAGMA page_count", [], |row| row.get(0))
                .unwrap()
        };
        let full = pages(&store);
        assert_eq!(
            store.prune(SystemTime::now(), 1_000_000, 10_000).unwrap(),
            500
        );
        let after = pages(&store);
        assert!(
            after * 10 < full,
            "pages {full} -> {after}: freed pages were kept"
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn the_journal_and_its_log_are_for_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("nonstop-mode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let path = dir.join("new.db");
        let store = SqliteStore::open(&path, Durability::Full).unwrap();
        store.commit(&[one_entry("Ev1")], &[]).unwrap();
        for file in ["new.db", "new.db-wal", "new.db-shm"] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }
        drop(store);
        // One left world-readable (an older nonstop, a careless copy) is narrowed.
        let old = dir.join("old");
        let old_log = dir.join("old-wal");
        std::fs::write(&old, b"").unwrap();
        std::fs::write(&old_log, b"").unwrap();
        for file in [&old, &old_log] {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let reopened = SqliteStore::open(&old, Durability::Full).unwrap();
        assert_eq!(mode(&old), 0o600);
        // (SQLite removes the log when the last connection closes.)
        assert_eq!(mode(&old_log), 0o600, "its log too");
        drop(reopened);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn one_process_writes_a_journal_others_are_refused_and_may_read() {
        let dir = std::env::temp_dir().join(format!("nonstop-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("locked.db");
        let owner = SqliteStore::open(&path, Durability::Normal).unwrap();
        owner.commit(&[one_entry("Ev1")], &[]).unwrap();
        let refused = SqliteStore::open(&path, Durability::Normal).unwrap_err();
        let shown = refused.to_string();
        assert!(matches!(refused, StoreError::InUse { .. }), "{shown}");
        assert!(shown.contains("locked.db"), "{shown}");
        assert!(
            shown.contains(&format!("pid {}", std::process::id())),
            "{shown}"
        );
        // Reading while the owner writes: `nonstop journal`.
        let reader = SqliteStore::open_read_only(&path).unwrap();
        assert_eq!(reader.unfinished(10).unwrap().len(), 1);
        assert!(
            reader.commit(&[one_entry("Ev2")], &[]).is_err(),
            "read only"
        );
        drop(owner);
        let next = SqliteStore::open(&path, Durability::Normal).unwrap();
        assert_eq!(next.unfinished(10).unwrap().len(), 1);
        drop((next, reader));
        // Reading never creates a journal.
        let missing = dir.join("missing.db");
        assert!(SqliteStore::open_read_only(&missing).is_err());
        assert!(!missing.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Issue 25: a second process reached the journal through a hard link and ran beside
    /// the first (169 of 1,500 answers doubled, then a corrupt file). The lock is on the file,
    /// not its name: every other name of it is refused while one process has it.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn another_name_of_the_same_file_is_refused_while_one_process_writes_it() {
        let dir = std::env::temp_dir().join(format!("nonstop-links-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("elsewhere")).unwrap();
        let path = dir.join("journal.db");
        let owner = SqliteStore::open(&path, Durability::Normal).unwrap();
        owner.commit(&[one_entry("Ev1")], &[]).unwrap();
        let hard = dir.join("elsewhere").join("linked.db");
        std::fs::hard_link(&path, &hard).unwrap();
        let soft = dir.join("symlinked.db");
        std::os::unix::fs::symlink(&path, &soft).unwrap();
        let dotted = dir.join("elsewhere").join("..").join("journal.db");
        for other in [&hard, &soft, &dotted] {
            let refused = SqliteStore::open(other, Durability::Normal).unwrap_err();
            let shown = refused.to_string();
            assert!(matches!(refused, StoreError::InUse { .. }), "{shown}");
        }
        drop(owner);
        // Once the first is gone, any name will do, and it is the same journal.
        let next = SqliteStore::open(&hard, Durability::Normal).unwrap();
        assert_eq!(next.unfinished(10).unwrap().len(), 1);
        drop(next);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unwritable_location_is_a_clear_open_error() {
        let err = SqliteStore::open("/nonexistent-dir/nonstop.db", Durability::Full).unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains("/nonexistent-dir/nonstop.db"), "{shown}");
        assert!(shown.contains("NONSTOP_DB"), "{shown}");
    }
}
