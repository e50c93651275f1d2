//! Rebuilds the control plane when the browser editor's assets change:
//! rust-embed (http/editor.rs) tracks the files it embedded, not new ones,
//! and Vite names every build's files anew.
fn main() {
    let dist = std::path::Path::new("../web-editor/dist");
    if dist.is_dir() {
        println!("cargo:rerun-if-changed=../web-editor/dist");
    } else {
        // Not built yet: rerun once `scripts/editor.sh` creates dist/ (the
        // folder's contents change then).
        println!("cargo:rerun-if-changed=../web-editor");
    }
}
