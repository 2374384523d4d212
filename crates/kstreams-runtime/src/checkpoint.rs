//! The checkpoint file of a task: the changelog offsets its local stores reflect, written on
//! clean close (and, under at-least-once, after every commit) and consumed (deleted) when the
//! task opens, so a crash under exactly-once leaves no checkpoint and the state is wiped and
//! restored from the changelog.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// The checkpoint file's name inside a task directory.
pub const CHECKPOINT_FILE: &str = ".checkpoint";

/// Changelog offsets: (topic, partition) → next offset to restore from.
pub type Offsets = BTreeMap<(String, i32), i64>;

fn path(task_dir: &Path) -> PathBuf {
    task_dir.join(CHECKPOINT_FILE)
}

/// Writes the checkpoint atomically (temporary file, then rename).
pub fn write(task_dir: &Path, offsets: &Offsets) -> io::Result<()> {
    std::fs::create_dir_all(task_dir)?;
    let mut s = String::from("0\n");
    for ((t, p), o) in offsets {
        s.push_str(&format!("{t} {p} {o}\n"));
    }
    let tmp = task_dir.join(".checkpoint.tmp");
    std::fs::write(&tmp, s)?;
    std::fs::rename(tmp, path(task_dir))
}

/// Reads a checkpoint; `None` when there is none or it is malformed.
pub fn read(task_dir: &Path) -> Option<Offsets> {
    let s = std::fs::read_to_string(path(task_dir)).ok()?;
    parse(&s)
}

fn parse(s: &str) -> Option<Offsets> {
    let mut lines = s.lines();
    if lines.next()? != "0" {
        return None;
    }
    let mut out = Offsets::new();
    for line in lines {
        let mut parts = line.rsplitn(3, ' ');
        let o: i64 = parts.next()?.parse().ok()?;
        let p: i32 = parts.next()?.parse().ok()?;
        let t = parts.next()?;
        out.insert((t.to_string(), p), o);
    }
    Some(out)
}

/// Prepares a task directory before its stores open: with a valid checkpoint the local state
/// is kept and the checkpoint is returned (and deleted, so a later crash means a wipe);
/// without one the directory is wiped.
pub fn take_or_wipe(task_dir: &Path) -> io::Result<Option<Offsets>> {
    match read(task_dir) {
        Some(o) => {
            std::fs::remove_file(path(task_dir))?;
            Ok(Some(o))
        }
        None => {
            if task_dir.exists() {
                tracing::info!(dir = %task_dir.display(), "no valid checkpoint: wiping local state");
                std::fs::remove_dir_all(task_dir)?;
            }
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_take_and_wipe() {
        let d = tempfile::tempdir().unwrap();
        let task = d.path().join("1_0");
        let mut o = Offsets::new();
        o.insert(("app-store-changelog".into(), 0), 42);
        write(&task, &o).unwrap();
        std::fs::write(task.join("data"), b"x").unwrap();
        assert_eq!(take_or_wipe(&task).unwrap(), Some(o));
        assert!(task.join("data").exists());
        // Taken: the next open (a crash in between) wipes.
        assert_eq!(take_or_wipe(&task).unwrap(), None);
        assert!(!task.exists());
        assert_eq!(parse("1\nx 0 1\n"), None);
        assert_eq!(parse("0\nx 0 nope\n"), None);
    }
}
