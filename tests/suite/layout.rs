//! The workspace's layout holds (issue 16's acceptance, kept true by the suite): imports
//! only go down between crates, no module of a crate imports in a circle, the binary's
//! `main.rs` is clap and exit codes only, no benchmark code is in the product, and the
//! detector and review crates build without DataFusion.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::common::root;

/// The workspace crates each crate's `Cargo.toml` depends on (normal and dev).
fn workspace_deps(manifest: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    let mut out = BTreeSet::new();
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(t) = doc.get(section).and_then(|v| v.as_table()) {
            out.extend(t.keys().filter(|k| k.starts_with("mirrorflow")).cloned());
        }
    }
    out
}

fn crate_dirs() -> BTreeMap<String, std::path::PathBuf> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(root().join("crates")).unwrap().flatten() {
        let manifest = e.path().join("Cargo.toml");
        if manifest.exists() {
            let doc: toml::Table = std::fs::read_to_string(&manifest).unwrap().parse().unwrap();
            let name = doc["package"]["name"].as_str().unwrap().to_string();
            out.insert(name, e.path());
        }
    }
    out
}

#[test]
fn crates_import_only_downward() {
    let crates = crate_dirs();
    let floor = |name: &str| match name {
        "mirrorflow-core" => 0,
        "mirrorflow-ingest" | "mirrorflow-detect" | "mirrorflow-rules" | "mirrorflow-review" | "mirrorflow-lab" => 1,
        "mirrorflow" => 2,
        "mirrorflow-bench" => 3,
        other => panic!("a crate this test does not place on a floor: {other} (add it to ARCHITECTURE.md and here)"),
    };
    assert!(crates.len() >= 7, "{crates:?}");
    let mut all: Vec<(String, std::path::PathBuf)> = crates.into_iter().collect();
    all.push(("mirrorflow".into(), root()));
    for (name, dir) in &all {
        for dep in workspace_deps(&dir.join("Cargo.toml")) {
            assert!(floor(&dep) < floor(name), "{name} imports {dep}, which is not on a floor below it");
        }
    }
}

#[test]
fn the_detector_and_review_crates_do_not_depend_on_datafusion() {
    for name in ["core", "ingest", "detect", "review", "lab"] {
        let text = std::fs::read_to_string(root().join("crates").join(name).join("Cargo.toml")).unwrap();
        assert!(!text.contains("datafusion"), "crates/{name} names datafusion");
        // and not through a workspace crate that does
        for dep in workspace_deps(&root().join("crates").join(name).join("Cargo.toml")) {
            assert_eq!(dep, "mirrorflow-core", "crates/{name} depends on {dep}");
        }
    }
}

/// Top-level modules of the crate at `src` and the other top-level modules each names
/// through `crate::`.
fn module_imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, files);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let deps = out.entry(top.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            // `mirrorflow_crate::` and the like are other paths, not this crate's root
            if text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let name: String = text[i + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && name != top {
                deps.insert(name);
            }
        }
    }
    out
}

/// A circle of imports in `g`, if any.
fn circle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        u: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(u.to_string(), 1);
        stack.push(u.to_string());
        for v in g.get(u).into_iter().flatten().filter(|v| g.contains_key(*v)) {
            match state.get(v) {
                Some(1) => {
                    let at = stack.iter().position(|s| s == v).unwrap();
                    let mut c = stack[at..].to_vec();
                    c.push(v.clone());
                    return Some(c);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(v, g, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(u.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for u in g.keys() {
        if !state.contains_key(u)
            && let Some(c) = visit(u, g, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_crate_has_an_import_circle_between_its_modules() {
    let mut srcs = vec![root().join("src")];
    srcs.extend(crate_dirs().into_values().map(|d| d.join("src")));
    for src in srcs {
        let g = module_imports(&src);
        assert!(!g.is_empty(), "{}: no modules found", src.display());
        if let Some(c) = circle(&g) {
            panic!("{}: modules import in a circle: {}", src.display(), c.join(" -> "));
        }
    }
}

#[test]
fn the_circle_check_finds_a_circle() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into();
    assert_eq!(circle(&g).unwrap(), ["a", "b", "c", "a"]);
}

#[test]
fn main_is_clap_and_exit_codes_and_the_product_holds_no_benchmark() {
    let main = std::fs::read_to_string(root().join("src/main.rs")).unwrap();
    assert!(main.lines().count() < 150, "src/main.rs has {} lines", main.lines().count());
    let doc: toml::Table = std::fs::read_to_string(root().join("Cargo.toml")).unwrap().parse().unwrap();
    let deps = doc["dependencies"].as_table().unwrap();
    assert!(!deps.contains_key("mirrorflow-bench"), "the product depends on the bench crate");
    for e in std::fs::read_dir(root().join("src")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        assert!(!name.starts_with("bench"), "src/{name}: benchmark code in the product");
    }
}
