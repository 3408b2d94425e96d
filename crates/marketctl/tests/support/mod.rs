//! What marketctl's integration tests share: the workspace and its binaries.

use std::path::{Path, PathBuf};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A workspace binary, built if this test run has not built it yet.
pub fn binary(package: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or(workspace().join("target"));
    let path = target.join("debug").join(package);
    if !path.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", package, "--bin", package])
            .current_dir(workspace())
            .status()
            .unwrap();
        assert!(status.success(), "building {package}");
    }
    path
}
