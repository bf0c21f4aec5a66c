//! Builds the list of the web UI's templates (`templates/web/` and the vendored
//! `templates/govuk_frontend_jinja/`) into the binary, so that `serve` reads no template at
//! run time and finds them whatever its working directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "html") {
            out.push(path);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("templates");
    let mut found = Vec::new();
    for dir in ["web", "govuk_frontend_jinja"] {
        files(&root.join(dir), &mut found);
    }
    let mut list = String::from("&[\n");
    for path in &found {
        let name = path.strip_prefix(&root).unwrap().to_str().unwrap();
        writeln!(
            list,
            "    ({name:?}, include_str!({:?})),",
            path.to_str().unwrap()
        )
        .unwrap();
    }
    list.push_str("]\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("web_templates.rs");
    std::fs::write(out, list).unwrap();
    println!("cargo:rerun-if-changed=templates/web");
    println!("cargo:rerun-if-changed=templates/govuk_frontend_jinja");
}
