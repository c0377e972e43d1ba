//! Stamps the binary with the commit it was built from, for `defender --version`: a bug
//! report, or a check that two machines run the same build, needs more than the crate version.

use std::process::Command;

fn main() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let commit = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(commit) => format!("commit {commit}"),
        // A source tarball, or `cargo install` from a copy without its history.
        None => "commit unknown".to_owned(),
    };
    println!("cargo:rustc-env=DEFENDER_BUILD_COMMIT={commit}");
    // Again when the checkout moves to another commit (not on every edit: `git status`
    // rewrites the index, and a rebuild for each would slow every test run).
    // Only paths that exist: cargo takes a missing one (a checkout without packed-refs, a
    // tarball) as changed on every build, and would rebuild the crate each time.
    for path in [".git/HEAD", ".git/refs", ".git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
