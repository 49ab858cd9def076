//! The repository and the Python tools `make test` installs into `.venv`
//! (`infra/local/requirements.txt`), for the tests that run them.

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The tool `name` from the project's `.venv` (or from PATH when there is no `.venv`).
pub fn venv_tool(name: &str) -> PathBuf {
    let venv = repo_root().join(".venv/bin").join(name);
    if venv.exists() {
        return venv;
    }
    PathBuf::from(name)
}
