//! Which files a command line's inputs name: files as given, folders walked
//! recursively for image files in sorted order, hidden entries skipped.

use std::path::{Path, PathBuf};

/// The extensions a folder walk picks up (files named explicitly are tried whatever their name).
pub const IMAGE_EXTENSIONS: [&str; 9] = ["png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp", "pgm"];

/// Explicit files as given; folders walked recursively for image files, sorted.
pub fn collect_images(inputs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = vec![];
    for p in inputs {
        if p.is_dir() {
            walk(p, &mut out);
        } else {
            out.push(p.clone());
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_string_lossy().to_lowercase().as_str())) {
            out.push(p);
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
