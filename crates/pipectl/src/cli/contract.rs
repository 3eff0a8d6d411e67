//! A case file's `[contract]`: when it names a `wit` folder and a `world`,
//! every component under test must satisfy that world (`pipectl check`'s
//! rules; WASI imports are left to the host's grants).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use pipectl_run::CaseFile;
use pipectl_wit::{ImportPolicy, Target, WitSet};

/// `wit` as written: relative to the case file's folder when it exists
/// there, else to the working folder.
fn wit_path(file: &CaseFile, wit: &str) -> PathBuf {
    let beside = file.path.parent().unwrap_or(Path::new(".")).join(wit);
    if beside.exists() {
        beside
    } else {
        PathBuf::from(wit)
    }
}

/// Checks `component` (named `shown`) against `file`'s contract, if it
/// names one; `Err` says why the cases cannot run against it.
pub fn check(file: &CaseFile, shown: &str, component: &[u8]) -> anyhow::Result<()> {
    let Some(contract) = &file.contract else {
        return Ok(());
    };
    let (Some(wit), Some(world)) = (&contract.wit, &contract.world) else {
        return Ok(());
    };
    let at = || format!("{}: `[contract]`", file.path.display());
    let set = WitSet::load(&wit_path(file, wit)).with_context(at)?;
    let worlds = [set.find_world(world).with_context(at)?];
    let policy = ImportPolicy::allow(["wasi:*"])?;
    let target = Target::new(&set.resolve, &worlds, &policy);
    let bytes = pipectl_wit::ComponentBytes::from_bytes(Path::new(shown), component.to_vec())?;
    let report = target.check_bytes(&bytes)?;
    if let Some(finding) = report.findings.first() {
        anyhow::bail!(
            "{}: component {shown} does not implement the contract's world `{world}`: {}: {}",
            file.path.display(),
            finding.item,
            finding.message
        );
    }
    Ok(())
}
