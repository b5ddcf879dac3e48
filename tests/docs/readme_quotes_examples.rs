//! The README quotes its sans-IO loop from `examples/sans_io.rs`, verbatim: CI compiles and runs
//! the example against the emulator, so what the README shows is code that builds, runs and
//! stays warning-free.

use std::path::Path;

const BEGIN: &str = "// README: begin";
const END: &str = "// README: end";

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The lines strictly between the example's one `BEGIN` and one `END` marker line.
fn marked_excerpt(source: &str) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let only = |marker: &str| {
        let found: Vec<usize> = (0..lines.len())
            .filter(|&at| lines[at].trim() == marker)
            .collect();
        assert_eq!(found.len(), 1, "exactly one `{marker}` line: {found:?}");
        found[0]
    };
    let (begin, end) = (only(BEGIN), only(END));
    assert!(begin < end, "`{BEGIN}` comes before `{END}`");
    lines[begin + 1..end].join("\n")
}

/// The section under `heading`, up to the next heading of the same or a higher level.
fn section<'a>(markdown: &'a str, heading: &str) -> &'a str {
    let start = markdown
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("the README has a `{heading}` section"));
    let body = &markdown[start + heading.len() + 2..];
    let end = body.find("\n## ").unwrap_or(body.len());
    &body[..end]
}

/// The contents of the first fenced ```rust block of `markdown`.
fn first_rust_block(markdown: &str) -> String {
    let mut lines = markdown.lines();
    lines
        .by_ref()
        .find(|line| line.starts_with("```rust"))
        .expect("a ```rust block");
    lines
        .take_while(|line| *line != "```")
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_sans_io_loop_section_quotes_the_example_verbatim() {
    let excerpt = marked_excerpt(&read("examples/sans_io.rs"));
    assert!(
        excerpt.contains("session.poll(") && excerpt.contains("Action::Store =>"),
        "the marked excerpt is the loop:\n{excerpt}"
    );
    let readme = read("README.md");
    let loop_section = section(&readme, "## The sans-IO loop");
    assert!(
        loop_section.contains("examples/sans_io.rs"),
        "the section names the example it quotes"
    );
    let quoted = first_rust_block(loop_section);
    assert!(
        quoted == excerpt,
        "README.md's sans-IO loop is not examples/sans_io.rs between `{BEGIN}` and `{END}`.\n\
         --- README:\n{quoted}\n--- example:\n{excerpt}"
    );
}

#[test]
fn excerpt_and_block_readers_take_exactly_the_marked_lines() {
    let source =
        "fn a() {}\n// README: begin\nfn b() {\n    c();\n}\n    // README: end\nfn d() {}\n";
    assert_eq!(marked_excerpt(source), "fn b() {\n    c();\n}");
    let markdown = "intro\n\n## The sans-IO loop\n\ntext\n\n```rust,ignore\nfn b() {}\n```\n\nmore\n\n## Next\n\n```rust\nfn z() {}\n```\n";
    let loop_section = section(markdown, "## The sans-IO loop");
    assert!(!loop_section.contains("Next"));
    assert_eq!(first_rust_block(loop_section), "fn b() {}");
}
