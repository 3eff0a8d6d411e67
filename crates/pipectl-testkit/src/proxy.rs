//! A TCP proxy that injects faults between a client and a real server: it
//! forwards bytes both ways and, when told, cuts a connection after a
//! number of bytes, as a registry that dies mid-transfer would.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// What to break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    None,
    /// Close a connection once the server has sent this many bytes on it
    /// (a download broken off).
    CutResponseAfter(usize),
    /// Close a connection once the client has sent this many bytes on it
    /// (an upload broken off).
    CutRequestAfter(usize),
    /// Like `CutResponseAfter`, but only the first time: a transient fault
    /// that a retry gets past.
    CutResponseOnceAfter(usize),
    /// Forward this many bytes of a response, then forward nothing more and
    /// keep the connection open until the server goes away (then close it):
    /// a transfer caught in flight, for a test to stop the server during
    /// it ([`FaultProxy::holding`] says when).
    HoldResponseAfter(usize),
    /// The same for a request: an upload caught in flight.
    HoldRequestAfter(usize),
}

/// A running proxy.
pub struct FaultProxy {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    stop: Arc<AtomicBool>,
    cuts: Arc<AtomicUsize>,
    holds: Arc<AtomicUsize>,
}

impl FaultProxy {
    /// Proxies to `upstream` (`host:port`), breaking connections per `fault`.
    pub fn start(upstream: &str, fault: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let cuts = Arc::new(AtomicUsize::new(0));
        let holds = Arc::new(AtomicUsize::new(0));
        let upstream = upstream.to_string();
        let (stop2, cuts2, holds2) = (stop.clone(), cuts.clone(), holds.clone());
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(&upstream) else {
                            continue;
                        };
                        let (up_budget, down_budget) = match fault {
                            Fault::None => (usize::MAX, usize::MAX),
                            Fault::CutResponseAfter(n) | Fault::CutResponseOnceAfter(n) => {
                                (usize::MAX, n)
                            }
                            Fault::CutRequestAfter(n) | Fault::HoldRequestAfter(n) => {
                                (n, usize::MAX)
                            }
                            Fault::HoldResponseAfter(n) => (usize::MAX, n),
                        };
                        let once = matches!(fault, Fault::CutResponseOnceAfter(_));
                        let hold = matches!(
                            fault,
                            Fault::HoldResponseAfter(_) | Fault::HoldRequestAfter(_)
                        );
                        pump(
                            client.try_clone().unwrap(),
                            server.try_clone().unwrap(),
                            Budget {
                                bytes: up_budget,
                                once,
                                hold: hold.then(|| holds2.clone()),
                            },
                            cuts2.clone(),
                        );
                        pump(
                            server,
                            client,
                            Budget {
                                bytes: down_budget,
                                once,
                                hold: hold.then(|| holds2.clone()),
                            },
                            cuts2.clone(),
                        );
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        FaultProxy {
            addr,
            stop,
            cuts,
            holds,
        }
    }

    /// How many transfers are (or were) held in flight.
    pub fn holding(&self) -> usize {
        self.holds.load(Ordering::Relaxed)
    }

    /// How many connections were cut.
    pub fn cuts(&self) -> usize {
        self.cuts.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// How many bytes a connection may carry one way before it is cut.
struct Budget {
    bytes: usize,
    /// Cut only while no connection has been cut yet.
    once: bool,
    /// Hold instead of cutting, counting holds here.
    hold: Option<Arc<AtomicUsize>>,
}

/// Copies `from` → `to` until EOF or until the budget has passed, then
/// closes both.
fn pump(mut from: TcpStream, mut to: TcpStream, budget: Budget, cuts: Arc<AtomicUsize>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        let mut sent = 0usize;
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let limit = if budget.once && cuts.load(Ordering::Relaxed) > 0 {
                usize::MAX
            } else {
                budget.bytes
            };
            let allowed = n.min(limit.saturating_sub(sent));
            if allowed > 0 && to.write_all(&buf[..allowed]).is_err() {
                break;
            }
            sent += allowed;
            if allowed < n {
                if let Some(holds) = &budget.hold {
                    // Held: nothing more goes through, and the connection
                    // stays open until its sender goes away.
                    holds.fetch_add(1, Ordering::Relaxed);
                    while let Ok(1..) = from.read(&mut buf) {}
                    break;
                }
                cuts.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
