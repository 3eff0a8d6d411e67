//! A plugin's exports called by name, outside any pipeline: a fresh
//! instance per use, every call under limits. pipectl's hooks and command
//! plugins run this way.

use pipectl_manifest::{Grants, Limits};
use wasmtime::Store;
use wasmtime::component::{Component, Instance, Val};

use crate::host::{Host, Plugin, StageState};
use crate::invoke::{arm, call, describe, find};

/// A fresh instance of a plugin loaded with [`Host::load_exports`], whose
/// exported functions are called by name, each call under the limits.
pub struct Exports<'h> {
    host: &'h Host,
    component: Component,
    store: Store<StageState>,
    instance: Instance,
    limits: Limits,
}

impl<'h> Exports<'h> {
    /// Instantiates `plugin` with its grants, under `limits`. `Err` is
    /// what went wrong, in words (`trap: …`).
    pub fn new(host: &'h Host, plugin: &Plugin, limits: Limits) -> Result<Self, String> {
        let state = StageState::new(
            &plugin.name,
            &plugin.grants,
            limits.max_memory,
            host.plugin_output(),
        )?;
        Self::start(host, plugin, state, limits)
    }

    fn start(
        host: &'h Host,
        plugin: &Plugin,
        state: StageState,
        limits: Limits,
    ) -> Result<Self, String> {
        let mut store = Store::new(host.engine(), state);
        store.limiter(|s| &mut s.limiter);
        arm(&mut store, host, limits);
        let instance = plugin
            .pre
            .instantiate(&mut store)
            .map_err(|e| describe(&e, &store, limits))?;
        Ok(Self {
            host,
            component: plugin.pre.component().clone(),
            store,
            instance,
            limits,
        })
    }

    /// Calls `name`, exported by `interface` (matched with or without its
    /// `@version`) or by the component itself when `None`, with `args`.
    /// Returns its result (`None` for a function without one), or what
    /// went wrong in words: a missing export, a trap, a limit.
    pub fn call(
        &mut self,
        interface: Option<&str>,
        name: &str,
        args: &[Val],
    ) -> Result<Option<Val>, String> {
        let found =
            find(self.host.engine(), &self.component, interface, name)?.ok_or_else(|| {
                match interface {
                    Some(i) => format!("the component exports no function `{i}#{name}`"),
                    None => format!("the component exports no function `{name}`"),
                }
            })?;
        let results = found.ty.results().len();
        let mut out = vec![Val::Bool(false); results];
        arm(&mut self.store, self.host, self.limits);
        call(&mut self.store, &self.instance, &found, args, &mut out)
            .map_err(|e| describe(&e, &self.store, self.limits))?;
        Ok(out.into_iter().next())
    }
}

/// How a command plugin ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandExit {
    /// `wasi:cli/run` returned, or the command called `exit`: its status.
    Status(i32),
    /// It trapped or hit a limit, in words.
    Trap(String),
}

/// Runs a `wasi:cli/command` component loaded with [`Host::load_exports`]:
/// `args` (the first is the program name), the terminal's stdio, `grants`
/// (its directories and environment), under `limits`.
pub fn run_command(
    host: &Host,
    plugin: &Plugin,
    grants: &Grants,
    args: &[String],
    limits: Limits,
) -> CommandExit {
    let state = match StageState::command(grants, args, limits.max_memory) {
        Ok(s) => s,
        Err(e) => return CommandExit::Trap(e),
    };
    let mut exports = match Exports::start(host, plugin, state, limits) {
        Ok(e) => e,
        Err(e) => return CommandExit::Trap(e),
    };
    let found = match find(
        host.engine(),
        &exports.component,
        Some("wasi:cli/run"),
        "run",
    ) {
        Ok(Some(f)) => f,
        Ok(None) => return CommandExit::Trap("it exports no `wasi:cli/run#run`".into()),
        Err(e) => return CommandExit::Trap(e),
    };
    let mut out = [Val::Bool(false)];
    arm(&mut exports.store, host, limits);
    match call(&mut exports.store, &exports.instance, &found, &[], &mut out) {
        Ok(()) => match &out[0] {
            Val::Result(Ok(_)) => CommandExit::Status(0),
            _ => CommandExit::Status(1),
        },
        Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => CommandExit::Status(exit.0),
            None => CommandExit::Trap(describe(&e, &exports.store, limits)),
        },
    }
}
