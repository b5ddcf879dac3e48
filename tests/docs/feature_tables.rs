//! The README's and the crate docs' feature tables list every feature Cargo.toml declares, and
//! nothing else.

use std::collections::BTreeSet;
use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The features declared in Cargo.toml, but `default`.
fn declared() -> BTreeSet<String> {
    let manifest = read("Cargo.toml");
    let section = manifest
        .split("\n[features]\n")
        .nth(1)
        .expect("a [features] section");
    let section = section.split("\n[").next().expect("its lines");
    section
        .lines()
        .filter_map(|line| line.split_once(" = ").map(|(name, _)| name.trim()))
        .filter(|name| !name.starts_with('#') && *name != "default")
        .map(str::to_owned)
        .collect()
}

/// The features a markdown table names in its first column (`| \`name\` | … |`).
fn tabled(text: &str, line_prefix: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix(line_prefix)?.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once("` |").map(|(name, _)| name.to_owned()))
        .collect()
}

#[test]
fn the_readme_lists_every_feature() {
    assert_eq!(tabled(&read("README.md"), ""), declared());
}

#[test]
fn the_crate_docs_list_every_feature() {
    assert_eq!(tabled(&read("src/lib.rs"), "//! "), declared());
}
