//! `cargo xtask docs`: regenerates generated documentation.

/// Entry point for `cargo xtask docs`.
pub fn run() -> anyhow::Result<()> {
    anyhow::bail!("nothing to generate yet")
}
