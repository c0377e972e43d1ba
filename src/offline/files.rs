//! Writing files so that a crash never leaves half of one: a temporary file in the same
//! directory, flushed to disk, then renamed over (or linked to) the final name. Without
//! permission to replace, an existing file is never touched.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Whether a write may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// The file must not exist (every command but `sign` writing its own output).
    Never,
    /// The file is this command's own output: replace it.
    Own,
}

/// The file exists and may not be replaced.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} already exists: defender never overwrites a file; choose another name, or move the old one away",
    .0.display()
)]
pub struct Exists(pub PathBuf);

/// Writes `contents` to `path` atomically.
pub fn write_atomic(path: &Path, contents: &[u8], replace: Replace) -> anyhow::Result<()> {
    if replace == Replace::Never && path.exists() {
        return Err(Exists(path.to_owned()).into());
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let result = write_then_move(&tmp, path, contents, replace);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    // Make the rename itself durable (best effort: not every file system syncs directories).
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn write_then_move(tmp: &Path, path: &Path, contents: &[u8], replace: Replace) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).open(tmp).with_context(|| {
            format!("cannot write in {}", tmp.parent().unwrap_or(Path::new(".")).display())
        })?;
    file.write_all(contents).with_context(|| format!("cannot write {}", tmp.display()))?;
    file.sync_all().with_context(|| format!("cannot flush {} to disk", tmp.display()))?;
    drop(file);
    match replace {
        Replace::Own => {
            std::fs::rename(tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
        }
        Replace::Never => {
            // A hard link fails if the name exists, closing the gap between check and write;
            // file systems without links (FAT on USB sticks) fall back to check-then-rename.
            match std::fs::hard_link(tmp, path) {
                Ok(()) => {
                    let _ = std::fs::remove_file(tmp);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(Exists(path.to_owned()).into());
                }
                Err(_) => {
                    if path.exists() {
                        return Err(Exists(path.to_owned()).into());
                    }
                    std::fs::rename(tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
                }
            }
        }
    }
    Ok(())
}

/// Whether two paths name the same file (both existing), or are spelled the same.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_replaces_unless_told_and_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("defender-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bundle.json");
        let _ = std::fs::remove_file(&path);
        write_atomic(&path, b"one", Replace::Never).unwrap();
        let err = write_atomic(&path, b"two", Replace::Never).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        write_atomic(&path, b"three", Replace::Own).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("bundle.json")], "no temporary file remains");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
