//! `cargo xtask bench`: benchmarks that print ratios against a baseline
//! measured in the same run.

/// Entry point for `cargo xtask bench`.
pub fn run(_args: &[String]) -> anyhow::Result<()> {
    anyhow::bail!("no benchmarks are wired up yet")
}
