//! scripts/install.sh, which the set-up runs: links to the four binaries in
//! the install folder, replaced on a rerun, and a clear error when one is
//! missing. The binaries here are stand-ins: the script only links.

use std::path::Path;
use std::process::Command;

fn install(bin: &Path, dest: &Path) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install.sh");
    Command::new("bash").arg(script).arg(bin).env("CNNZOO_INSTALL_DIR", dest).output().expect("bash runs")
}

#[test]
fn the_set_up_links_the_binaries_where_a_shell_finds_them() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (bin, dest) = (dir.path().join("release"), dir.path().join("cargo-bin"));
    std::fs::create_dir_all(&bin).expect("bin folder");
    let names = ["cnnzoo-train", "cnnzoo-export", "cnnzoo-infer", "cnnzoo-serve"];
    for (k, name) in names.iter().enumerate() {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\necho {name} {k}\n")).expect("stand-in written");
        Command::new("chmod").arg("+x").arg(&path).status().expect("chmod");
    }
    for round in 0..2 {
        let o = install(&bin, &dest);
        assert!(o.status.success(), "round {round}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("in {}", dest.display())));
        for (k, name) in names.iter().enumerate() {
            let out = Command::new(dest.join(name)).output().expect("the link runs");
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("{name} {k}"));
        }
    }
    std::fs::remove_file(bin.join("cnnzoo-serve")).expect("removed");
    let o = install(&bin, &dest);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cnnzoo-serve is missing: build first"));
}
