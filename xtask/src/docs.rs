//! `cargo xtask docs`: regenerates `docs/wit-diff-rules.md` from the rule
//! catalog and the rule fixtures.

use crate::util::root;

/// Entry point for `cargo xtask docs`.
pub fn run() -> anyhow::Result<()> {
    let root = root();
    let example = |id: &str| -> Option<(String, String)> {
        let dir = root.join("tests/diff").join(id);
        let old = std::fs::read_to_string(dir.join("old.wit")).ok()?;
        let new = std::fs::read_to_string(dir.join("new.wit")).ok()?;
        Some((old, new))
    };
    let markdown = pipectl_diff::catalog::docs_markdown(&example);
    let path = root.join("docs/wit-diff-rules.md");
    fs_err::create_dir_all(path.parent().expect("docs/ has a parent"))?;
    fs_err::write(&path, markdown)?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}
