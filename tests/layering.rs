//! The shared crate's layers hold: entry modules (`api`, `inbound`, `worker`) never import one
//! another, nothing below them imports them, the store imports nothing above it, and the
//! crate's top-level modules import one another without cycles; and nothing but the tests links
//! the AWS SDK.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ENTRY_MODULES: [&str; 3] = ["api", "inbound", "worker"];
/// What the store may use: it sits below everything else.
const STORE_MAY_USE: [&str; 5] = ["store", "aws", "error", "clock", "ids"];
/// The OpenAPI document describes every function, the provider webhooks included: the one
/// reference across entry modules, and it reads only their documentation.
const DOCUMENTS_INBOUND: &str = "api/openapi/";

fn shared_src() -> PathBuf {
    harness::repo_root().join("shared/src")
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The top-level module a file belongs to: `api` for `api/webhook_sends/mod.rs`, `http` for `http.rs`.
fn top_module(relative: &str) -> String {
    let first = relative.split('/').next().unwrap();
    first.trim_end_matches(".rs").to_string()
}

/// The top-level modules a file refers to through `crate::` paths (in `use` lists too), comments left out.
fn referenced_modules(source: &str) -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                modules.insert(name);
            }
        }
        assert!(
            !code.contains("super::super::super"),
            "reach other modules through crate:: paths, not super chains: {line}"
        );
    }
    modules
}

/// Every file's top module and what it refers to.
fn graph() -> Vec<(String, String, BTreeSet<String>)> {
    let root = shared_src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|path| path.file_name().is_some_and(|name| name != "lib.rs"))
        .map(|path| {
            let relative = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
            let source = std::fs::read_to_string(&path).unwrap();
            (relative.clone(), top_module(&relative), referenced_modules(&source))
        })
        .collect()
}

#[test]
fn entry_modules_never_import_one_another_and_nothing_below_imports_them() {
    let mut violations = Vec::new();
    for (file, module, references) in graph() {
        for reference in references.iter().filter(|r| **r != module) {
            let into_entry = ENTRY_MODULES.contains(&reference.as_str());
            let from_entry = ENTRY_MODULES.contains(&module.as_str());
            let allowed = file.starts_with(DOCUMENTS_INBOUND) && reference == "inbound";
            if into_entry && !allowed {
                let what = if from_entry { "entry module" } else { "lower layer" };
                violations.push(format!("{file} ({what} `{module}`) imports `{reference}`"));
            }
        }
    }
    assert!(violations.is_empty(), "layering broken:\n{}", violations.join("\n"));
}

#[test]
fn the_store_imports_nothing_above_it() {
    let mut violations = Vec::new();
    for (file, module, references) in graph() {
        if module != "store" {
            continue;
        }
        for reference in references.iter().filter(|r| !STORE_MAY_USE.contains(&r.as_str())) {
            violations.push(format!("{file} imports `{reference}`"));
        }
    }
    assert!(
        violations.is_empty(),
        "the store reaches above itself:\n{}",
        violations.join("\n")
    );
}

#[test]
fn top_level_modules_import_one_another_without_cycles() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, module, references) in graph() {
        let targets = edges.entry(module.clone()).or_default();
        for reference in references.into_iter().filter(|r| *r != module) {
            let allowed = file.starts_with(DOCUMENTS_INBOUND) && reference == "inbound";
            if !allowed {
                targets.insert(reference);
            }
        }
    }
    // Depth-first search for a back edge, reporting the cycle it closes.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, &edges, &mut Vec::new(), &mut done) {
            panic!("top-level modules import each other in a cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn every_function_has_its_module_named_after_it() {
    let functions = harness::repo_root().join("functions");
    for entry in std::fs::read_dir(&functions).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        let module = name.replace('-', "_");
        let main = std::fs::read_to_string(functions.join(&name).join("src/main.rs")).unwrap();
        let source = module.trim_end_matches("_webhooks").trim_end_matches("_notifications");
        let candidates = [
            format!("api/{module}/mod.rs"),
            format!("inbound/{source}.rs"),
            format!("inbound/{source}/mod.rs"),
            format!("worker/{}/mod.rs", module.trim_end_matches("_worker")),
        ];
        let home = candidates.iter().find(|path| shared_src().join(path).exists());
        let home = home.unwrap_or_else(|| panic!("functions/{name} has no module: looked for {candidates:?}"));
        let module_path = home
            .trim_end_matches("/mod.rs")
            .trim_end_matches(".rs")
            .replace('/', "::");
        assert!(
            main.contains(&format!("shared::{module_path}"))
                || main.contains(&format!("shared::{}::{{", module_path.rsplit_once("::").unwrap().0)),
            "functions/{name}/src/main.rs should serve shared::{module_path}"
        );
    }
}

/// The crates of the AWS SDK: its configuration, service clients and runtime.
fn is_aws_sdk(package: &str) -> bool {
    [
        "aws-config",
        "aws-sdk-",
        "aws-smithy-",
        "aws-runtime",
        "aws-types",
        "aws-sigv4",
        "aws-credential-types",
    ]
    .iter()
    .any(|prefix| package.starts_with(prefix))
}

/// What a function or `hookgate-admin` links: the closure of its normal and build dependencies
/// (not dev-dependencies), by package name, as `cargo metadata` resolves them.
fn linked_packages(metadata: &serde_json::Value, root: &str) -> BTreeSet<String> {
    let packages = metadata["packages"].as_array().unwrap();
    let name_of = |id: &str| -> String {
        let package = packages.iter().find(|p| p["id"] == id).unwrap();
        package["name"].as_str().unwrap().to_string()
    };
    let nodes = metadata["resolve"]["nodes"].as_array().unwrap();
    let root_id = packages.iter().find(|p| p["name"] == root).unwrap()["id"]
        .as_str()
        .unwrap();
    let (mut linked, mut queue) = (BTreeSet::new(), vec![root_id.to_string()]);
    while let Some(id) = queue.pop() {
        let node = nodes.iter().find(|n| n["id"] == id.as_str()).unwrap();
        for dep in node["deps"].as_array().unwrap() {
            let linked_kind = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|kind| kind["kind"].as_str() != Some("dev"));
            let dep_id = dep["pkg"].as_str().unwrap();
            if linked_kind && linked.insert(name_of(dep_id)) {
                queue.push(dep_id.to_string());
            }
        }
    }
    linked
}

/// The functions and the admin tool speak to AWS through `shared::aws`; only the tests link the
/// SDK, as an independent reader. Linking it again would double each deployed zip and put its
/// service crates back into `make dev`'s build (see the README's Build time).
#[test]
fn nothing_but_the_tests_links_the_aws_sdk() {
    let root = harness::repo_root();
    let output = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(&root)
        .output()
        .expect("cargo metadata");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut roots = vec!["hookgate-shared".to_string(), "hookgate-admin".to_string()];
    for entry in std::fs::read_dir(root.join("functions")).unwrap() {
        roots.push(entry.unwrap().file_name().to_string_lossy().into_owned());
    }
    for package in &roots {
        let sdk: Vec<String> = linked_packages(&metadata, package)
            .into_iter()
            .filter(|name| is_aws_sdk(name))
            .collect();
        assert!(sdk.is_empty(), "{package} links the AWS SDK: {sdk:?}");
    }
    // The check can fail: the tests' harness does link it.
    assert!(
        linked_packages(&metadata, "hookgate-tests")
            .iter()
            .any(|name| is_aws_sdk(name))
    );
}
