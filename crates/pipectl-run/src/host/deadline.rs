//! Time: the epoch ticker that keeps the engine in step with the clock,
//! and `wasi:io/poll` whose waits end at the call's deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::sync::io::poll as sync_poll;
use wasmtime_wasi_io::bindings::wasi::io::poll as async_poll;

use super::*;

/// Advances the engine's epoch every [`TICK`] until dropped, keeping it in
/// step with wall-clock time.
pub(crate) struct Ticker {
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) state: Arc<TickState>,
}

/// When ticking started and how many ticks the engine has seen.
pub(crate) struct TickState {
    pub(crate) start: std::time::Instant,
    pub(crate) applied: std::sync::atomic::AtomicU64,
}

impl TickState {
    /// Ticks that wall-clock time says are due by now.
    pub(crate) fn due(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros() / TICK.as_micros()).unwrap_or(u64::MAX)
    }
}

impl Ticker {
    pub(crate) fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(TickState {
            start: std::time::Instant::now(),
            applied: std::sync::atomic::AtomicU64::new(0),
        });
        let weak = engine.weak();
        let (flag, ticks) = (stop.clone(), state.clone());
        std::thread::Builder::new()
            .name("pipectl-epoch".into())
            .spawn(move || {
                // Sleeping overshoots: catch up on every tick that has
                // passed, not one per wake.
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    let Some(engine) = weak.upgrade() else { break };
                    let due = ticks.due();
                    while ticks.applied.load(Ordering::Relaxed) < due {
                        engine.increment_epoch();
                        ticks.applied.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
            .expect("the epoch thread starts");
        Self { stop, state }
    }

    /// The deadline, in ticks beyond the engine's current epoch, that
    /// expires `timeout` from now. The engine's epoch may lag wall-clock
    /// time (the ticker catches up in bursts), so the lag is added: a
    /// timeout never fires early.
    pub(crate) fn deadline(&self, timeout: Duration) -> u64 {
        let lag = self
            .state
            .due()
            .saturating_sub(self.state.applied.load(Ordering::Relaxed));
        let ticks =
            u64::try_from(timeout.as_micros().div_ceil(TICK.as_micros())).unwrap_or(u64::MAX / 4);
        lag.saturating_add(ticks)
            .saturating_add(1)
            .min(u64::MAX / 4)
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `wasi:io/poll` whose waits end at the current call's deadline with the
/// same interrupt the epoch raises. The epoch interrupts wasm code only, so
/// without this a plugin granted clocks could block in the host past its
/// timeout (Python's `time.sleep`, Rust's `std::thread::sleep`).
pub(crate) struct DeadlinePoll;

impl wasmtime::component::HasData for DeadlinePoll {
    type Data<'a> = DeadlineTable<'a>;
}

/// A store's resource table, and its call's deadline.
pub(crate) struct DeadlineTable<'a> {
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) deadline: Option<std::time::Instant>,
}

impl DeadlineTable<'_> {
    /// Runs `wait` to its end, or to the deadline: then the call is
    /// interrupted, as the epoch would have done.
    pub(crate) fn wait<T>(
        deadline: Option<std::time::Instant>,
        wait: impl std::future::Future<Output = wasmtime::Result<T>>,
    ) -> wasmtime::Result<T> {
        wasmtime_wasi::runtime::in_tokio(async move {
            match deadline {
                Some(deadline) => {
                    tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), wait)
                        .await
                        .map_err(|_| wasmtime::Error::from(wasmtime::Trap::Interrupt))?
                }
                None => wait.await,
            }
        })
    }
}

impl sync_poll::Host for DeadlineTable<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        Self::wait(self.deadline, async_poll::Host::poll(self.table, pollables))
    }
}

impl sync_poll::HostPollable for DeadlineTable<'_> {
    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        Self::wait(
            self.deadline,
            async_poll::HostPollable::block(self.table, pollable),
        )
    }

    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        sync_poll::HostPollable::ready(self.table, pollable)
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        sync_poll::HostPollable::drop(self.table, pollable)
    }
}
