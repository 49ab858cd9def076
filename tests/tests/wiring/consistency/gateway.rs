//! The local API Gateway's route table, as `infra/local/gateway.py --routes` prints it: the
//! routes `make dev` and `make test` serve, read from `template.yaml` by the gateway itself (with
//! cfn-lint's loader, in `.venv`). The check compares it with the template's `Api` events as
//! this crate reads them, so the two readers cannot drift apart.

use std::collections::BTreeMap;
use std::process::Command;

use super::{Route, axum_path};
use crate::repo;

/// The gateway's routes: function -> `(method, path)`, paths as axum writes them. Panics when the
/// gateway cannot be run: `make test` creates `.venv` before the wiring checks run.
pub(super) fn routes() -> BTreeMap<String, Vec<Route>> {
    let python = repo::root().join(".venv/bin/python");
    let gateway = "infra/local/gateway.py";
    let out = Command::new(&python)
        .current_dir(repo::root())
        // The route table does not depend on the key setting: every route is listed either way.
        .args([gateway, "--routes", "--parameter", "RequireApiKey=false"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running {} {gateway} --routes: {e}; the local toolchain is in .venv: run \
                 `make test`, or `source infra/scripts/lib.sh && ensure_venv`",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "{gateway} --routes failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let table: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{gateway} --routes printed no JSON list: {e}"));
    let mut routes = BTreeMap::<String, Vec<Route>>::new();
    for row in &table {
        let field = |name: &str| {
            let value = row[name].as_str();
            value.unwrap_or_else(|| panic!("{gateway} --routes: a row without {name}: {row}"))
        };
        let route = (field("method").to_owned(), axum_path(field("path"), &[]));
        routes
            .entry(field("function").to_owned())
            .or_default()
            .push(route);
    }
    routes
}
