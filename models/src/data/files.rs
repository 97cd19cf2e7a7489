//! Which files a command line's inputs name: files as given, folders walked
//! recursively for image files in sorted order, hidden entries skipped. Each
//! real folder is walked once and each real file listed once, so symlink
//! cycles end and a file reached twice is classified once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The extensions a folder walk picks up (files named explicitly are tried whatever their name).
pub const IMAGE_EXTENSIONS: [&str; 9] = ["png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp", "pgm"];

/// Explicit files as given; folders walked recursively for image files, sorted.
pub fn collect_images(inputs: &[PathBuf]) -> Vec<PathBuf> {
    let mut walk = Walk::default();
    for p in inputs {
        if p.is_dir() {
            walk.dir(p);
        } else {
            walk.out.push(p.clone());
        }
    }
    walk.out
}

/// Folders and files seen so far, by their canonical paths.
#[derive(Default)]
struct Walk {
    dirs: HashSet<PathBuf>,
    files: HashSet<PathBuf>,
    out: Vec<PathBuf>,
}

impl Walk {
    fn dir(&mut self, dir: &Path) {
        // A folder seen before (a symlink cycle, or two links to one folder) is not walked again.
        if !self.dirs.insert(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())) {
            return;
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                continue;
            }
            if p.is_dir() {
                self.dir(&p);
            } else if p.extension().is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_string_lossy().to_lowercase().as_str()))
                && self.files.insert(std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone()))
            {
                // Non-regular files (a FIFO named x.png) are listed too: opening them is refused, with a message.
                self.out.push(p);
            }
        }
    }
}

/// The classes of an image-folder split (`train/` or `test/`): its subfolders'
/// names, sorted, hidden ones skipped.
pub fn class_folders(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut classes: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| !n.starts_with('.'))
        .collect();
    classes.sort();
    Ok(classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_end_and_each_file_comes_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::fs::write(d.join("a/one.png"), b"x").unwrap();
        std::fs::write(d.join("a/b/two.jpg"), b"x").unwrap();
        std::fs::write(d.join("a/notes.txt"), b"x").unwrap();
        std::fs::write(d.join("a/.hidden.png"), b"x").unwrap();
        std::os::unix::fs::symlink(d.join("a"), d.join("a/b/up")).unwrap(); // a cycle
        std::os::unix::fs::symlink(d.join("a/b"), d.join("a/again")).unwrap(); // a second way in
        std::os::unix::fs::symlink(d.join("a/one.png"), d.join("a/b/link.png")).unwrap(); // a file twice
        let got = collect_images(&[d.join("a")]);
        let names: Vec<String> = got.iter().map(|p| p.strip_prefix(d).unwrap().display().to_string()).collect();
        // Sorted order reaches b/ first through `again`, and one.png first as link.png.
        assert_eq!(names, ["a/again/link.png", "a/again/two.jpg"]);
    }
}
