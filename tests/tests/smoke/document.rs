//! The OpenAPI document as a client generator gets it from the stack, checked by the Python tools
//! `make test` installs into `.venv` (`infra/local/requirements.txt`): `openapi-spec-validator`,
//! and schemathesis through `infra/scripts/fuzz-api.sh` (`make fuzz-api` runs a deeper budget).

use std::process::Command;

use e2e::{repo_root, venv_tool};

use crate::Smoke;

/// Examples per operation here, unless `FUZZ_EXAMPLES` says otherwise: a short, fixed budget.
const FUZZ_EXAMPLES: &str = "10";
/// The fixed seed, so a failure replays.
const FUZZ_SEED: &str = "20261121";

/// `GET /openapi.json` through the stack, accepted by a standard validator.
pub(crate) async fn the_served_document_passes_openapi_spec_validator(s: Smoke) {
    let reply = s.http.get(&s.url("/openapi.json"), &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let file = std::env::temp_dir().join(format!("smoke-openapi-{}.json", e2e::unique()));
    std::fs::write(&file, &reply.body).expect("write the document");

    let out = Command::new(venv_tool("openapi-spec-validator"))
        .arg(&file)
        .output()
        .expect("openapi-spec-validator (infra/local/requirements.txt; make test installs it)");
    drop(std::fs::remove_file(&file));

    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// schemathesis driven by the served document: zero 5xx, every answer as documented. Its own
/// output shows as it runs (it is the long check).
pub(crate) async fn schemathesis_finds_no_5xx_and_nothing_undocumented(s: Smoke) {
    let examples = std::env::var("FUZZ_EXAMPLES").unwrap_or_else(|_| FUZZ_EXAMPLES.to_owned());
    let status = Command::new("bash")
        .arg(repo_root().join("infra/scripts/fuzz-api.sh"))
        .args([s.base.as_str(), &examples, FUZZ_SEED])
        .current_dir(repo_root())
        .status()
        .expect("run infra/scripts/fuzz-api.sh");

    assert!(
        status.success(),
        "schemathesis found a 5xx or an answer the document does not describe ({status}); \
         its report is above"
    );
}
