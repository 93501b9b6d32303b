//! The layering of docs/ARCHITECTURE.md, checked over the source: what each layer's code
//! (tests left out) may name.
//!
//! - The protocol and media cores (amf, rtmp, flv, ts, codec, http, hls) are sans-IO: no
//!   glommio, no sockets, no files, nothing of the hub, the server or the API.
//! - The hub (stream) knows nothing of HTTP, the API or the server.
//! - Only the server, the socket layer it is built on (net) and the binary's `main.rs` run
//!   glommio. The load generator is no part of src/: it is a workspace member of its own
//!   (benches/livego-bench).

use std::fs;
use std::path::{Path, PathBuf};

/// Modules whose code must stay sans-IO.
const SANS_IO: &[&str] = &["amf", "rtmp", "flv", "ts", "codec", "http", "hls"];

/// What the sans-IO cores must not name.
const NOT_IN_SANS_IO: &[&str] = &[
    "glommio",
    "socket2",
    "std::net::TcpStream",
    "std::net::TcpListener",
    "std::net::UdpSocket",
    "std::fs",
    "File::",
    "crate::stream",
    "crate::server",
    "crate::api",
];

/// What the hub must not name.
const NOT_IN_HUB: &[&str] = &["glommio", "crate::http", "crate::api", "crate::server"];

/// Modules that may run glommio.
const MAY_RUN_GLOMMIO: &[&str] = &["server", "net", "main.rs"];

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The lines of `text` that are code: comments and `#[cfg(test)]` items left out.
fn code_lines(text: &str) -> Vec<&str> {
    let mut code = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed.starts_with("//") {
            continue;
        }
        if trimmed == "#[cfg(test)]" {
            skip_item(&mut lines);
            continue;
        }
        code.push(line.split("//").next().unwrap_or(line));
    }
    code
}

/// Skips the item that follows an attribute: one line ending with `;`, or up to the brace
/// that closes the one it opens.
fn skip_item<'a>(lines: &mut impl Iterator<Item = &'a str>) {
    let mut depth = 0i32;
    for line in lines {
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
        if depth == 0 && (line.trim_end().ends_with(';') || line.trim_end().ends_with('}')) {
            return;
        }
    }
}

/// The module a source file belongs to: `src/amf/amf0.rs` -> `amf`, `src/main.rs` -> `main.rs`.
fn module_of(relative: &Path) -> String {
    let mut parts = relative.components().skip(1);
    let first = parts.next().expect("a file under src");
    first.as_os_str().to_string_lossy().into_owned()
}

#[test]
fn each_layer_names_only_what_it_may() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    files.sort();
    assert!(files.len() > 50, "only {} source files found", files.len());
    let mut found = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(root).expect("under the root");
        let module = module_of(relative);
        let mut forbidden: Vec<&str> = Vec::new();
        if SANS_IO.contains(&module.as_str()) {
            forbidden.extend(NOT_IN_SANS_IO);
        }
        if module == "stream" {
            forbidden.extend(NOT_IN_HUB);
        }
        if !MAY_RUN_GLOMMIO.contains(&module.as_str()) && !forbidden.contains(&"glommio") {
            forbidden.push("glommio");
        }
        let text = fs::read_to_string(file).expect("read a source file");
        let code = code_lines(&text);
        for name in forbidden {
            if code.iter().any(|line| line.contains(name)) {
                found.push((relative.to_string_lossy().into_owned(), name));
            }
        }
    }
    assert!(
        found.is_empty(),
        "layering broken (docs/ARCHITECTURE.md): {found:?}"
    );
}

#[test]
fn the_check_sees_a_violation_and_skips_tests_and_comments() {
    let text = "use crate::amf::Value;\n\
                // glommio in a comment\n\
                fn f() {} // std::fs here too\n\
                #[cfg(test)]\n\
                mod tests {\n    use std::fs;\n    fn g() { if true { } }\n}\n\
                use glommio::Task;\n";
    let code = code_lines(text);
    assert_eq!(
        code.iter().filter(|l| l.contains("glommio")).count(),
        1,
        "{code:?}"
    );
    assert!(!code.iter().any(|l| l.contains("std::fs")), "{code:?}");
    assert_eq!(module_of(Path::new("src/amf/amf0.rs")), "amf");
    assert_eq!(module_of(Path::new("src/main.rs")), "main.rs");
}
