//! Every citation in the repository can be followed: each Markdown file a source, test, script
//! or document names is in the repository, and each section of `docs/passport.md` it cites
//! (by its `#anchor`) is a heading of that file. The places that rely on Passport's behaviour cite it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const PASSPORT_DOC: &str = "docs/passport.md";

/// Files that rely on Passport's behaviour and must say where it is written down.
const MUST_CITE: &[&str] = &[
    "tests/support/mod.rs",
    "emulator/src/config.rs",
    "emulator/src/passport.rs",
    "fuzz/make_seeds.py",
    "fuzz/README.md",
    "fuzz/fuzz_targets/session.rs",
    "src/response.rs",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every text file of the repository, skipping build output, VCS data and fuzzer corpora.
fn text_files() -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut pending = vec![root().to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|error| panic!("{dir:?}: {error}"));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("");
            if matches!(name, ".git" | "target" | "corpus" | "artifacts") {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                found.push((path, text));
            }
        }
    }
    found
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The `*.md` paths named in `text`, URLs left out (they point outside the repository).
fn markdown_names(text: &str) -> Vec<&str> {
    let is_path_byte = |byte: u8| byte.is_ascii_alphanumeric() || b"_./-".contains(&byte);
    let bytes = text.as_bytes();
    let mut names = Vec::new();
    for (at, _) in text.match_indices(".md") {
        let end = at + 3;
        if bytes
            .get(end)
            .is_some_and(|&byte| byte.is_ascii_alphanumeric())
        {
            continue; // `.mdx`, `.mdown`: not a Markdown file name we write
        }
        let mut start = at;
        while start > 0 && is_path_byte(bytes[start - 1]) {
            start -= 1;
        }
        let name = &text[start..end];
        let in_url = start > 0 && bytes[start - 1] == b':' || name.starts_with("//");
        if start < at && !in_url {
            names.push(name);
        }
    }
    names
}

/// The anchors cited in `text`: what follows each `docs/passport.md` and a `#`.
fn cited_anchors(text: &str) -> Vec<&str> {
    let marker = format!("{PASSPORT_DOC}#");
    text.match_indices(&marker)
        .map(|(at, _)| {
            let rest = &text[at + marker.len()..];
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(rest.len());
            &rest[..len]
        })
        .collect()
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of `markdown`'s headings (outside code blocks).
fn heading_anchors(markdown: &str) -> Vec<String> {
    let mut in_code = false;
    let mut anchors = Vec::new();
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            anchors.push(slug(line.trim_start_matches('#')));
        }
    }
    anchors
}

#[test]
fn every_markdown_file_named_in_the_repository_is_in_it() {
    let mut missing = Vec::new();
    for (path, text) in text_files() {
        let dir = path.parent().unwrap_or(root());
        for name in markdown_names(&text) {
            if !root().join(name).is_file() && !dir.join(name).is_file() {
                missing.push(format!("{} names {name}", relative(&path)));
            }
        }
    }
    assert!(missing.is_empty(), "not in the repository: {missing:#?}");
}

#[test]
fn every_passport_citation_names_a_section_of_the_doc() {
    let doc = std::fs::read_to_string(root().join(PASSPORT_DOC)).expect("docs/passport.md");
    let anchors = heading_anchors(&doc);
    let unique: BTreeSet<&String> = anchors.iter().collect();
    assert_eq!(unique.len(), anchors.len(), "two headings share an anchor");
    let mut cited = 0;
    let mut broken = Vec::new();
    for (path, text) in text_files() {
        for anchor in cited_anchors(&text) {
            cited += 1;
            if !anchors.iter().any(|known| known == anchor) {
                broken.push(format!("{} cites #{anchor}", relative(&path)));
            }
        }
    }
    assert!(broken.is_empty(), "no such section: {broken:#?}");
    assert!(cited > 0, "nothing cites {PASSPORT_DOC}");
}

#[test]
fn the_places_relying_on_passport_cite_the_doc() {
    let silent: Vec<&&str> = MUST_CITE
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(root().join(path)).unwrap_or_default();
            cited_anchors(&text).is_empty()
        })
        .collect();
    assert!(
        silent.is_empty(),
        "these cite no section of {PASSPORT_DOC}: {silent:?}"
    );
}

#[test]
fn the_scanners_find_names_and_anchors_and_skip_urls() {
    // Spelled with `{md}` so the scan of this very file finds no missing name.
    let md = ".md";
    let text = format!(
        "see NOTES{md}, ../x/y{md} and docs/passport{md}#rotation; \
         https://github.com/o/r/blob/main/CHANGELOG{md} and page{md}x"
    );
    assert_eq!(
        markdown_names(&text),
        [
            format!("NOTES{md}"),
            format!("../x/y{md}"),
            format!("docs/passport{md}")
        ]
    );
    assert_eq!(cited_anchors(&text), ["rotation"]);
    assert_eq!(
        slug(" Error shapes, by version "),
        "error-shapes-by-version"
    );
    assert_eq!(
        heading_anchors("# Title\n```\n# not a heading\n```\n## The 401 body\n"),
        ["title", "the-401-body"]
    );
}
