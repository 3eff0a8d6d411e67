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
    let mut b = granted(grants)?;
    if grants.stdio
        && let Some(sink) = output
    {
        // Never the terminal itself: the caller's sink decides what of it
        // to show, and how (a plugin's stdout must not mix with the
        // pipeline's output either). Without a sink it is discarded.
        b.stdout(PluginStream::new(stage, StdStream::Stdout, sink))
            .stderr(PluginStream::new(stage, StdStream::Stderr, sink));
    }
    Ok(b.build())
}

/// The WASI context of a command plugin (`wasi:cli/run`): `args`, the
/// terminal's stdin, stdout and stderr, and what `grants` give.
pub(crate) fn command_ctx(grants: &Grants, args: &[String]) -> Result<WasiCtx, String> {
    let mut b = granted(grants)?;
    b.inherit_stdio().args(args);
    Ok(b.build())
}

/// A WASI context builder with no network, and the environment and
/// directories of `grants`.
fn granted(grants: &Grants) -> Result<WasiCtxBuilder, String> {
    let mut b = WasiCtxBuilder::new();
    // No network, whatever is linked: no TCP, UDP or name lookups, and the
    // default address check refuses every address.
    b.allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
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
    Ok(b)
}

/// Whether an import's capability is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Capability {
    /// A WASI interface whose capability the grants cover.
    Granted,
    /// A WASI interface whose capability (`clocks`, `random`,
    /// `filesystem`, `environment`, `stdio`, `io`, `sockets`, `http`) is
    /// not granted.
    Denied(&'static str),
    /// Not a WASI interface: decided once the import's type is known.
    NotWasi,
}

/// The capability an import needs, and whether `grants` give it.
pub(crate) fn capability(import: &str, grants: &Grants) -> Capability {
    let name = pipectl_io::wit_name::unversioned(import);
    let io_granted = grants.stdio
        || grants.clocks
        || grants.filesystem
        || grants.sockets
        || grants.http
        || !grants.dirs.is_empty();
    let (cap, granted) = match name {
        n if n.starts_with("wasi:clocks/") => ("clocks", grants.clocks),
        n if n.starts_with("wasi:random/") => ("random", grants.random),
        n if n.starts_with("wasi:filesystem/") => {
            ("filesystem", grants.filesystem || !grants.dirs.is_empty())
        }
        "wasi:cli/environment" => ("environment", grants.stdio || !grants.env.is_empty()),
        n if n.starts_with("wasi:cli/") => ("stdio", grants.stdio),
        // `io` comes with any stdio, clocks, filesystem, sockets or http
        // grant.
        n if n.starts_with("wasi:io/") => ("io", io_granted),
        // Network interfaces are only ever linked with everything refused.
        n if n.starts_with("wasi:sockets/") => ("sockets", grants.sockets),
        n if n.starts_with("wasi:http/") => ("http", grants.http),
        _ => return Capability::NotWasi,
    };
    if granted {
        Capability::Granted
    } else {
        Capability::Denied(cap)
    }
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

/// The grants that cover every denied capability, as a [`Hint`].
///
/// [`Hint`]: pipectl_io::Hint
pub(crate) fn grant_hint(denied: &[Denied]) -> pipectl_io::Hint {
    let mut grants: Vec<&'static str> = Vec::new();
    for d in denied {
        let grant = grant_for(d.capability);
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    let has = |cap: &str| denied.iter().any(|d| d.capability == cap);
    pipectl_io::Hint::Grant {
        grants,
        dir: has("filesystem"),
        env: has("environment"),
        network: has("sockets") || has("http"),
    }
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
            Capability::Granted | Capability::NotWasi => {}
            Capability::Denied(capability) => {
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
