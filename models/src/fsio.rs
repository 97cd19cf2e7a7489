//! Files in and out. Inputs: only regular files are opened (a FIFO would
//! block, a device never end), and reads are bounded. Outputs are written
//! whole or not at all: into a temporary file beside them, synced, then
//! renamed over them, and only over a regular file or nothing (a FIFO or
//! `/dev/null` at the path is refused, not replaced). A crash or a failed run
//! leaves the previous file as it was; a failed write removes its temporary,
//! and temporaries left by dead cnnzoo processes (named `.NAME.cnnzoo-PID.tmp`,
//! so no one else's file matches) are swept on the next write beside them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The set-up's cache (`$CNNZOO_CACHE`, else `$XDG_CACHE_HOME/cnnzoo`, else
/// `~/.cache/cnnzoo`), where scripts/env.sh installs libtorch, ONNX Runtime
/// and the CUDA libraries, and downloads Fashion-MNIST. scripts/env.sh follows
/// the same rule.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("CNNZOO_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("cnnzoo")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/cnnzoo")))
        .unwrap_or_default()
}

/// Checks that `path` is a regular file (following symlinks) before anything
/// opens it; its size on success.
pub fn check_regular(path: &Path) -> std::io::Result<u64> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        return Ok(meta.len());
    }
    let what = if meta.is_dir() { "a directory" } else { "not a regular file (a FIFO, socket or device)" };
    Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("is {what}")))
}

/// Reads a regular file of at most `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let len = check_regular(path)?;
    if len > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{len} bytes, more than the {limit} this reader accepts"),
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // `take` bounds it even if the file grows while it is read.
    std::fs::File::open(path)?.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("grew past the {limit} bytes this reader accepts")));
    }
    Ok(bytes)
}

/// The marker in our temporaries' names: `.NAME.cnnzoo-PID.tmp`.
const TEMP_TAG: &str = ".cnnzoo-";

/// Checks that `path` may be replaced: nothing is there, or a regular file
/// (not a FIFO, device, socket, folder or symlink, which renaming over would
/// destroy). The error says what is there.
pub fn check_output(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(meta) => {
            let what = if meta.is_dir() {
                "a directory"
            } else if meta.file_type().is_symlink() {
                "a symbolic link"
            } else {
                "not a regular file (a FIFO, socket or device)"
            };
            Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("is {what}; only a regular file, or nothing, is replaced by an output"),
            ))
        }
    }
}

/// Whether `a` and `b` name the same file (both exist, same device and inode).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// A temporary name beside `path`, unique to this process, once `path` is
/// known to be replaceable.
fn temp_beside(path: &Path) -> std::io::Result<PathBuf> {
    check_output(path)?;
    sweep_stale(path);
    Ok(path.with_file_name(format!(".{}{TEMP_TAG}{}.tmp", file_name(path), std::process::id())))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Removes the `.NAME.cnnzoo-PID.tmp` regular files in `path`'s folder whose
/// process is gone: what a killed cnnzoo run leaves (hundreds of MB for
/// AlexNet), whatever it was writing. A live process's temporary, and any
/// file not named as ours (a user's `.draft.99999.tmp`), are left alone.
fn sweep_stale(path: &Path) {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix('.')
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .and_then(|rest| rest.rsplit_once(TEMP_TAG))
            .and_then(|(target, pid)| (!target.is_empty()).then_some(pid))
            .and_then(|pid| pid.parse::<u32>().ok());
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if let (Some(pid), true) = (pid, regular) {
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Runs `write` on a temporary file beside `path`, then renames it over `path`.
/// `E` is the caller's error type; renaming failures are I/O errors on `path`.
pub fn replace_with<E: From<(PathBuf, std::io::Error)>>(path: &Path, write: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), E> {
    let tmp = temp_beside(path).map_err(|e| E::from((path.to_path_buf(), e)))?;
    let result = write(&tmp).and_then(|()| rename_over(&tmp, path).map_err(|e| E::from((path.to_path_buf(), e))));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Renames `tmp` over `path`, checking again that what is there (if
/// anything) is a regular file: something may have appeared since the start.
fn rename_over(tmp: &Path, path: &Path) -> std::io::Result<()> {
    check_output(path).and_then(|()| std::fs::rename(tmp, path)).inspect_err(|_| {
        let _ = std::fs::remove_file(tmp);
    })
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename). An
/// error names `path`, the file the user asked for, never the temporary.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), (PathBuf, std::io::Error)> {
    replace_with(path, |tmp| {
        let mut f = std::fs::File::create(tmp).map_err(|e| (path.to_path_buf(), e))?;
        f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| (path.to_path_buf(), e))
    })
}

/// A file streamed into a temporary beside its path, which becomes the file
/// only on [`AtomicFile::commit`]; dropped uncommitted, it is removed.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> std::io::Result<AtomicFile> {
        let tmp = temp_beside(path)?;
        let file = std::fs::File::create(&tmp)?;
        Ok(AtomicFile { path: path.to_path_buf(), tmp, file: Some(std::io::BufWriter::new(file)) })
    }

    /// Flushes, syncs and renames the temporary over the path.
    pub fn commit(mut self) -> std::io::Result<()> {
        let file = self.file.take().ok_or_else(|| std::io::Error::other("already committed"))?;
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        rename_over(&self.tmp, &self.path)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.as_mut().ok_or_else(|| std::io::Error::other("already committed"))?.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_keeps_the_old_file_and_leaves_no_temporary() {
        let (dir, path) = cnnzoo_test_support::scratch("out.bin");
        write_atomic(&path, b"first").unwrap();
        let failed: Result<(), (PathBuf, std::io::Error)> = replace_with(&path, |tmp| {
            std::fs::write(tmp, b"half").unwrap();
            Err((tmp.to_path_buf(), std::io::Error::other("disk full")))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the temporary was left behind");
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
    }

    #[test]
    fn only_regular_files_are_read_and_only_within_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(read_bounded(&file, 5).unwrap(), b"12345");
        assert!(read_bounded(&file, 4).unwrap_err().to_string().contains("more than the 4"));
        assert!(check_regular(dir.path()).unwrap_err().to_string().contains("directory"));
        let fifo = dir.path().join("fifo.png");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(check_regular(&fifo).unwrap_err().to_string().contains("FIFO"));
    }

    #[test]
    fn temporaries_of_dead_processes_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.onnx");
        // pid_max is at most 2^22 on Linux: this process cannot exist.
        let stale = dir.path().join(".model.onnx.cnnzoo-4194305.tmp");
        let other = dir.path().join(".other.onnx.cnnzoo-4194305.tmp");
        let live = dir.path().join(".other.onnx.cnnzoo-1.tmp"); // init never dies
        let not_ours = dir.path().join(".notes.tmp");
        let users = dir.path().join(".draft.4194305.tmp"); // a dead PID, but not our name
        for p in [&stale, &other, &live, &not_ours, &users] {
            std::fs::write(p, b"half").unwrap();
        }
        write_atomic(&path, b"whole").unwrap();
        // Every dead cnnzoo process's temporary in the folder is gone; the rest stays.
        assert!(!stale.exists() && !other.exists() && live.exists() && not_ours.exists() && users.exists());
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
    }

    #[test]
    fn only_a_regular_file_or_nothing_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("out.onnx");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let (path, e) = write_atomic(&fifo, b"x").unwrap_err();
        assert_eq!(path, fifo);
        assert!(e.to_string().contains("FIFO") && e.to_string().contains("only a regular file"), "{e}");
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&std::fs::symlink_metadata(&fifo).unwrap().file_type()));
        let e = AtomicFile::create(Path::new("/dev/null")).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let link = dir.path().join("link.onnx");
        std::os::unix::fs::symlink("elsewhere", &link).unwrap();
        assert!(write_atomic(&link, b"x").unwrap_err().1.to_string().contains("symbolic link"));
        assert!(write_atomic(dir.path(), b"x").unwrap_err().1.to_string().contains("directory"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "a temporary was left behind");
    }

    #[test]
    fn a_streamed_file_appears_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines.jsonl");
        std::fs::write(&path, b"old").unwrap();
        let mut f = AtomicFile::create(&path).unwrap();
        writeln!(f, "new").unwrap();
        drop(f);
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let mut f = AtomicFile::create(&path).unwrap();
        writeln!(f, "new").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
