//! `jco serve` of a `wasi:http` component on a free loopback port, for the
//! tests and the bench that compare pipectl with an engine it did not write.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `jco serve`, killed (with its worker threads) when dropped.
pub struct JcoServe {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
}

impl JcoServe {
    /// Serves `component` with `jco serve ARGS`, and waits until the port
    /// accepts connections (jco transpiles the component first).
    pub fn start(component: &Path, args: &[&str]) -> Self {
        let port = crate::registry::free_port();
        let child = Command::new(crate::jco())
            .arg("serve")
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(args)
            .arg(component)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("jco starts");
        let addr = format!("127.0.0.1:{port}");
        let server = Self { child, addr };
        let start = Instant::now();
        while TcpStream::connect(&server.addr).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "jco serve did not listen on {} within 60 s",
                server.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Whether the server process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for JcoServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
