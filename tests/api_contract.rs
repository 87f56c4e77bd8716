//! The served OpenAPI document against the server, from outside, over the local stack
//! (`cargo lambda watch` and the emulator): schemathesis generates requests for every operation
//! (examples, coverage of each schema's edges, random fuzzing) and checks every answer: no 5xx,
//! documented status codes and content types, responses that match their schemas, schema-valid
//! requests accepted and schema-violating ones refused, 405 for undocumented methods.
//!
//! It runs with an organization of its own whose key holds every scope, so nothing it creates,
//! changes or revokes touches another test. `tests/contract/` holds its configuration (with the
//! few cross-field rules a schema cannot state) and its hooks.

use std::process::Command;

use harness::{LocalStack, repo_root, venv_bin};

/// Test cases per operation and phase: bounded, so the run takes minutes, and seeded, so a
/// failure replays.
const EXAMPLES_PER_OPERATION: &str = "10";
const SEED: &str = "20261204";

#[tokio::test]
async fn every_operation_answers_as_the_document_says() {
    let stack = LocalStack::start(&[], false).await;
    let key = stack.new_organization("Contract", 10_000);
    let contract = repo_root().join("tests/contract");
    let report = repo_root().join("target/test-logs/api-contract.xml");
    let output = Command::new(venv_bin("schemathesis"))
        .arg("--config-file")
        .arg(contract.join("schemathesis.toml"))
        .args(["run", &format!("{}/api/openapi", stack.base)])
        .args(["--header", &format!("x-api-key: {key}")])
        .args(["--max-examples", EXAMPLES_PER_OPERATION, "--seed", SEED])
        .args(["--phases", "examples,coverage,fuzzing", "--checks", "all"])
        // The first request to each function builds it under `cargo lambda watch`.
        .args(["--request-timeout", "300", "--wait-for-schema", "300"])
        .args(["--no-color", "--report", "junit", "--report-junit-path"])
        .arg(&report)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", &contract)
        .output()
        .expect("running schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the server and its OpenAPI document disagree (the failures above replay with curl; \
         the JUnit report is {}):\n{}",
        report.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}
