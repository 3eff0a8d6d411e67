//! `pipectl test --runtime node`: a component transpiled to JavaScript by
//! jco (`jco transpile`), ready for Node.js to import.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// jco: `--jco`, else `$PIPECTL_JCO`, else `jco` on the PATH.
pub fn jco(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("PIPECTL_JCO").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("jco"))
}

/// Transpiles `bytes` (the component shown as `shown`) into
/// `scratch/c<index>/` and returns the ES module to import.
pub fn transpile(
    jco: &Path,
    bytes: &[u8],
    shown: &str,
    scratch: &Path,
    index: usize,
) -> anyhow::Result<PathBuf> {
    let input = scratch.join(format!("c{index}.wasm"));
    let out = scratch.join(format!("c{index}"));
    // WAT text becomes a binary first: jco reads binaries.
    let binary = pipectl_wit::ComponentBytes::from_bytes(Path::new(shown), bytes.to_vec())?.bytes;
    std::fs::write(&input, binary)
        .with_context(|| format!("failed to write {}", input.display()))?;
    let run = std::process::Command::new(jco)
        .arg("transpile")
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args(["--name", "component", "--quiet"])
        .output()
        .with_context(|| {
            format!(
                "failed to run `{}` (install jco: `npm install @bytecodealliance/jco`, then pass --jco or set PIPECTL_JCO)",
                jco.display()
            )
        })?;
    anyhow::ensure!(
        run.status.success(),
        "jco could not transpile {shown}: {}",
        pipectl_io::text::clean(String::from_utf8_lossy(&run.stderr).trim(), 1000)
    );
    // An ES module without a warning from Node.js.
    std::fs::write(out.join("package.json"), "{\"type\":\"module\"}\n")?;
    Ok(out.join("component.js"))
}
