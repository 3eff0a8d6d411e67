//! A real OCI registry for tests: Debian's `docker-registry` (CNCF
//! distribution), started on a free loopback port with its storage in a
//! temporary folder, stopped when dropped.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server binary the harness starts (`apt-get install docker-registry`).
pub const SERVER: &str = "/usr/bin/docker-registry";

/// A running registry.
pub struct RegistryServer {
    child: Option<Child>,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    dir: tempfile::TempDir,
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl RegistryServer {
    /// Starts a registry without authentication.
    pub fn start() -> Self {
        Self::spawn(None)
    }

    /// Starts a registry that requires HTTP basic authentication (htpasswd,
    /// bcrypt) for `user` with `password`.
    pub fn start_with_auth(user: &str, password: &str) -> Self {
        Self::spawn(Some((user, password)))
    }

    fn spawn(auth: Option<(&str, &str)>) -> Self {
        assert!(
            Path::new(SERVER).exists(),
            "{SERVER} is missing: install Debian's docker-registry (`cargo xtask test` does)"
        );
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {addr}\n  secret: pipectl-test-secret\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = auth {
            let hash = bcrypt::hash(password, 4).expect("bcrypt");
            std::fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: pipectl-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(SERVER)
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        let mut server = RegistryServer {
            child: Some(child),
            addr,
            dir,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(&self.addr) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let request = format!(
                    "GET /v2/ HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                    self.addr
                );
                let mut response = String::new();
                if s.write_all(request.as_bytes()).is_ok()
                    && s.read_to_string(&mut response).is_ok()
                    && (response.starts_with("HTTP/1.1 200")
                        || response.starts_with("HTTP/1.1 401"))
                {
                    return;
                }
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("docker-registry exited ({status}): {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not become ready: {}", self.log());
    }

    /// The registry's storage root (CNCF distribution's filesystem driver
    /// layout: `docker/registry/v2/blobs/sha256/<xx>/<hex>/data`).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The file that holds the blob with `digest` on the registry's disk.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The server's log so far (one access-log line per request).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// How many requests the registry has answered so far (from the access
    /// log).
    pub fn total_requests(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("msg=\"response completed"))
            .count()
    }

    /// How many requests so far were `method` on a path containing `part`
    /// (from the access log).
    pub fn requests(&self, method: &str, part: &str) -> usize {
        self.log()
            .lines()
            .filter(|l| {
                l.contains("msg=\"response completed")
                    && l.contains(&format!("http.request.method={method} "))
                    && l.split("http.request.uri=").nth(1).is_some_and(|uri| {
                        uri.split_whitespace()
                            .next()
                            .is_some_and(|u| u.contains(part))
                    })
            })
            .count()
    }

    /// Stops the server (it can be started again with [`Self::restart`]).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("registry.log"))
            .unwrap();
        let child = Command::new(SERVER)
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        self.child = Some(child);
        self.wait_ready();
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        self.stop();
    }
}
