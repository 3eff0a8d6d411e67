//! Capabilities: the WASI context a stage's grants give, which imports
//! each grant covers, and `wasi:http` linked with every request refused.

use pipectl_manifest::Grants;
use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};
use wasmtime_wasi_http::WasiHttpHooks;

use crate::output::{OutputSink, PluginStream, StdStream};

use super::*;

/// `wasi:http` hooks that refuse every outgoing request: the `http` grant
/// links the interfaces so a component that imports them loads, never so
/// that it reaches the network.
pub(crate) struct RefuseRequests;

/// A response future, as [`WasiHttpHooks::send_request`] returns it.
pub(crate) type SendRequestFuture = Box<
    dyn std::future::Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<wasmtime_wasi_http::WasiBody>,
                Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for RefuseRequests {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendRequestFuture {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

pub(crate) fn wasi_ctx(
    stage: &str,
    grants: &Grants,
    output: Option<&OutputSink>,
) -> Result<WasiCtx, String> {
    let mut b = WasiCtxBuilder::new();
    // No network, whatever is linked: no TCP, UDP or name lookups, and the
    // default address check refuses every address.
    b.allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    if grants.stdio
        && let Some(sink) = output
    {
        // Never the terminal itself: the caller's sink decides what of it
        // to show, and how (a plugin's stdout must not mix with the
        // pipeline's output either). Without a sink it is discarded.
        b.stdout(PluginStream::new(stage, StdStream::Stdout, sink))
            .stderr(PluginStream::new(stage, StdStream::Stderr, sink));
    }
    for (k, v) in &grants.env {
        b.env(k, v);
    }
    for dir in &grants.dirs {
        let perms = if dir.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        b.preopened_dir(&dir.host, &dir.guest, perms)
            .map_err(|e| format!("cannot preopen `{}`: {e:#}", dir.host.display()))?;
    }
    Ok(b.build())
}

/// The capability an import needs, with a hint on granting it.
pub(crate) fn capability(
    import: &str,
    grants: &Grants,
) -> Result<(), (&'static str, &'static str)> {
    let name = pipectl_io::wit_name::unversioned(import);
    let io_granted = grants.stdio
        || grants.clocks
        || grants.filesystem
        || grants.sockets
        || grants.http
        || !grants.dirs.is_empty();
    let (cap, granted, hint) = match name {
        n if n.starts_with("wasi:clocks/") => (
            "clocks",
            grants.clocks,
            "grant it with `grants = { clocks = true }` (`--grant clocks`)",
        ),
        n if n.starts_with("wasi:random/") => (
            "random",
            grants.random,
            "grant it with `grants = { random = true }` (`--grant random`)",
        ),
        n if n.starts_with("wasi:filesystem/") => (
            "filesystem",
            grants.filesystem || !grants.dirs.is_empty(),
            "grant a directory with `grants = { dirs = [{ host = \"data\", guest = \"/data\" }] }` \
             (`--dir data::/data`), or `grants = { filesystem = true }` (`--grant filesystem`) for \
             the interfaces with no directory",
        ),
        "wasi:cli/environment" => (
            "environment",
            grants.stdio || !grants.env.is_empty(),
            "grant variables with `grants = { env = { NAME = \"value\" } }` (`--env NAME=value`); \
             `stdio = true` gives an empty environment",
        ),
        n if n.starts_with("wasi:cli/") => (
            "stdio",
            grants.stdio,
            "grant it with `grants = { stdio = true }` (`--grant stdio`)",
        ),
        n if n.starts_with("wasi:io/") => (
            "io",
            io_granted,
            "it comes with any stdio, clocks, filesystem, sockets or http grant",
        ),
        n if n.starts_with("wasi:sockets/") => (
            "sockets",
            grants.sockets,
            "pipectl never gives plugins network access; `grants = { sockets = true }` \
             (`--grant sockets`) links the interfaces with every address refused, for toolchains (componentize-py, jco) that \
             import them regardless; `--grant runtime` gives all such toolchains import",
        ),
        n if n.starts_with("wasi:http/") => (
            "http",
            grants.http,
            "pipectl never gives plugins network access; `grants = { http = true }` (`--grant \
             http`) links the interfaces with every request refused, for toolchains (jco) that \
             import them regardless; `--grant runtime` gives all such toolchains import",
        ),
        _ => return Err(("", "")),
    };
    if granted { Ok(()) } else { Err((cap, hint)) }
}

/// An import whose capability was not granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// The import, e.g. `wasi:clocks/wall-clock@0.2.0`.
    pub import: String,
    /// The capability it needs: `clocks`, `random`, `filesystem`,
    /// `environment`, `stdio`, `io`, `sockets` or `http`.
    pub capability: &'static str,
}

/// The grant (a `--grant` value, a manifest `grants` key) that covers a
/// capability.
fn grant_for(capability: &str) -> &'static str {
    match capability {
        "clocks" => "clocks",
        "random" => "random",
        "filesystem" => "filesystem",
        "sockets" => "sockets",
        "http" => "http",
        // environment, stdio and io come with stdio.
        _ => "stdio",
    }
}

/// The denied imports, by capability: `clocks: `wasi:clocks/…``, at most
/// three imports named per capability.
pub(crate) fn describe_denied(denied: &[Denied]) -> String {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for d in denied {
        match groups.iter_mut().find(|(cap, _)| *cap == d.capability) {
            Some((_, imports)) => imports.push(&d.import),
            None => groups.push((d.capability, vec![&d.import])),
        }
    }
    let described: Vec<String> = groups
        .iter()
        .map(|(cap, imports)| {
            let named: Vec<String> = imports.iter().take(3).map(|i| format!("`{i}`")).collect();
            let more = match imports.len() {
                n if n > 3 => format!(" and {} more", n - 3),
                _ => String::new(),
            };
            format!("{cap} ({}{more})", named.join(", "))
        })
        .collect();
    described.join("; ")
}

/// How to grant every denied capability at once.
pub(crate) fn how_to_grant(denied: &[Denied]) -> String {
    let mut flags: Vec<&str> = Vec::new();
    for d in denied {
        let grant = grant_for(d.capability);
        if !flags.contains(&grant) {
            flags.push(grant);
        }
    }
    let keys: Vec<String> = flags.iter().map(|f| format!("{f} = true")).collect();
    let mut how = format!(
        "grant them with `--grant {}` (in a manifest: `grants = {{ {} }}`), or `--grant runtime` \
         for a language runtime (componentize-py, jco) that imports them all",
        flags.join(","),
        keys.join(", ")
    );
    let has = |cap: &str| denied.iter().any(|d| d.capability == cap);
    if has("filesystem") {
        how.push_str("; a directory: `--dir HOST::GUEST` (`grants = { dirs = [...] }`)");
    }
    if has("environment") {
        how.push_str("; variables: `--env NAME=VALUE` (`grants = { env = { ... } }`)");
    }
    if has("sockets") || has("http") {
        how.push_str(
            "; pipectl never gives plugins network access: sockets and http are linked \
             with every address and request refused",
        );
    }
    how
}

/// Refuses a stage whose imports `grants` does not cover, naming every
/// such import at once, the capability that matters most first.
pub(crate) fn check_capabilities<'a>(
    stage: &str,
    imports: impl Iterator<Item = &'a str>,
    grants: &Grants,
) -> Result<(), LoadError> {
    let mut denied: Vec<Denied> = Vec::new();
    for import in imports {
        match capability(import, grants) {
            // Not WASI: decided once the import's type is known.
            Ok(()) | Err(("", _)) => {}
            Err((capability, _)) => {
                if !denied.iter().any(|d| d.import == import) {
                    denied.push(Denied {
                        import: import.to_string(),
                        capability,
                    });
                }
            }
        }
    }
    // A plugin built with std imports stdio and io whatever it does, but
    // its filesystem or network imports are what it is about.
    let rank = |cap: &str| {
        [
            "http",
            "sockets",
            "filesystem",
            "environment",
            "clocks",
            "random",
            "stdio",
            "io",
        ]
        .iter()
        .position(|c| *c == cap)
        .unwrap_or(usize::MAX)
    };
    denied.sort_by_key(|d| rank(d.capability));
    if denied.is_empty() {
        return Ok(());
    }
    Err(LoadError::Capability {
        stage: stage.to_string(),
        denied,
    })
}

/// Whether `item` is an instance that exports types only (no functions,
/// no resources): nothing the host has to define.
pub(crate) fn types_only(engine: &Engine, item: &ComponentItem) -> bool {
    match item {
        ComponentItem::ComponentInstance(instance) => instance
            .exports(engine)
            .all(|(_, export)| matches!(export.ty, ComponentItem::Type(_))),
        _ => false,
    }
}
