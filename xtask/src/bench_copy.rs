//! `cargo xtask bench copy`: what bulk memory costs the plugins. The same
//! plugin sources built twice, with wasm32-wasip2's default features (bulk
//! memory on: a variable-length copy is one `memory.copy`, which wasmtime
//! runs as a call into the host) and with `-C target-feature=-bulk-memory`
//! (copies are loops in Wasm; std, prebuilt, keeps its own `memory.copy`s).
//! Both sets are composed into the same pipeline and run alternately.

use std::time::Duration;

use anyhow::Context as _;

use crate::bench::{alternate, fmt, record, spread_text};
use crate::util::root;

/// Builds the plugins without bulk memory; counts bulk-memory instructions
/// in both builds; runs both compositions.
pub fn memory_copy() -> anyhow::Result<()> {
    println!("\n## copy: plugins with bulk memory (default) vs without");
    let root = root();
    let target_dir = root.join("target/bench-no-bulk-memory");
    crate::util::run(
        crate::util::cargo()
            .current_dir(&root)
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("RUSTFLAGS", "-C target-feature=-bulk-memory")
            .args([
                "build",
                "--quiet",
                "--manifest-path",
                "crates/plugins/Cargo.toml",
            ])
            .args(["--target", "wasm32-wasip2", "--release"]),
    )?;
    let release = target_dir.join("wasm32-wasip2/release");
    println!(
        "{:<12} {:>26} {:>26}",
        "plugin", "memory.copy/fill (bulk)", "memory.copy/fill (no bulk)"
    );
    let mut sets: [Vec<pipectl_compose::StageInput>; 2] = [Vec::new(), Vec::new()];
    for name in crate::PLUGINS {
        let bulk = fs_err::read(root.join(format!("target/plugins/{name}.wasm")))
            .context("run `cargo xtask plugins` first")?;
        let lib = release.join(format!("{}.wasm", name.replace('-', "_")));
        let plain = fs_err::read(lib)?;
        println!(
            "{name:<12} {:>26} {:>26}",
            bulk_ops(&bulk)?,
            bulk_ops(&plain)?
        );
        for (set, bytes) in sets.iter_mut().zip([bulk, plain]) {
            set.push(pipectl_compose::StageInput {
                name: name.to_string(),
                bytes,
                origin: name.to_string(),
                allow_imports: vec![],
            });
        }
    }
    let wit = pipectl_wit::WitSet::load(&root.join("wit/text-transform/0.2.0"))?;
    let host = crate::bench::bench_host()?;
    let [bulk, plain] = sets.map(|stages| -> anyhow::Result<_> {
        let composed = pipectl_compose::compose(pipectl_compose::ComposePlan {
            name: "copy",
            version: &semver::Version::new(0, 1, 0),
            wit: &wit,
            world: "example:text-transform/plugin@0.2.0",
            stages,
            adapter: None,
        })?;
        crate::bench::one_stage(&host, &composed.bytes)
    });
    let (bulk, plain) = (bulk?, plain?);
    let (mut with, mut without) = (bulk.session(), plain.session());
    println!(
        "{:<8} {:>12} {:>12} {:>26}",
        "input", "bulk", "no bulk", "no bulk / bulk throughput"
    );
    for (label, len) in [("10 KB", 10usize << 10), ("1 MB", 1 << 20)] {
        let text = crate::bench::sample_text(len);
        let a = with.run(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
        let b = without.run(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
        anyhow::ensure!(a == b, "the two builds disagree at {label}");
        let spread = alternate(
            Duration::from_millis(2100),
            || without.run(&text).expect("runs"),
            || with.run(&text).expect("runs"),
        );
        let speedups = spread.speedups();
        record(
            "copy",
            &format!("composed without bulk memory / with, throughput, {label}"),
            &speedups,
            None,
        );
        println!(
            "{label:<8} {:>12} {:>12} {:>26}",
            fmt(spread.b()),
            fmt(spread.a()),
            spread_text(&speedups)
        );
    }
    Ok(())
}

/// `memory.copy` and `memory.fill` instructions in every function body.
fn bulk_ops(bytes: &[u8]) -> anyhow::Result<String> {
    let (mut copy, mut fill) = (0usize, 0usize);
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let wasmparser::Payload::CodeSectionEntry(body) = payload? {
            let mut ops = body.get_operators_reader()?;
            while !ops.eof() {
                match ops.read()? {
                    wasmparser::Operator::MemoryCopy { .. } => copy += 1,
                    wasmparser::Operator::MemoryFill { .. } => fill += 1,
                    _ => {}
                }
            }
        }
    }
    Ok(format!("{copy}/{fill}"))
}
