//! The docs' room: what the README and the other documents say is checked against the
//! repository (the sans-IO loop quoted from its example, the feature tables against Cargo.toml,
//! every cited file and section followed).

mod doc_citations;
mod feature_tables;
mod readme_quotes_examples;
