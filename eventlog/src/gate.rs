//! One writer at a time per SQLite file in this process, in arrival order.
//!
//! SQLite lets one transaction write a file at a time; a connection that
//! finds the lock taken sleeps in growing steps (up to 100 ms) before it
//! tries again, which turned a busy embedded node's read-model lag into
//! hundreds of milliseconds. Every writer of this process (the log's
//! committer and the read-model runners) queues on the file's gate
//! instead, and takes the file's lock only when it is its turn, so the
//! lock is handed on the moment it is released. Writers in other
//! processes still meet SQLite's own lock and busy timeout.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The gate of one database file.
pub type Gate = Arc<tokio::sync::Mutex<()>>;

/// The gate of the file at `path` (the same gate for every spelling of
/// the path).
pub fn for_file(path: &Path) -> Gate {
    static GATES: OnceLock<Mutex<HashMap<PathBuf, Gate>>> = OnceLock::new();
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let mut gates = GATES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    gates.entry(key).or_default().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_spellings_of_one_file_share_a_gate() {
        let folder = std::env::temp_dir().join(format!("gate-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(folder.join("sub")).unwrap();
        let file = folder.join("db");
        std::fs::write(&file, b"").unwrap();
        let a = for_file(&file);
        let b = for_file(&folder.join("sub/../db"));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &for_file(&folder.join("other"))));
        std::fs::remove_dir_all(folder).unwrap();
    }
}
