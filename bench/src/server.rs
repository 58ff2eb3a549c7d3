//! The server under test: a release `rollcall serve` in its own process.

use anyhow::Context;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    /// Where the server writes mail; removed with the server.
    outbox: PathBuf,
    pub addr: String,
    /// From spawn to the first `/healthz` 200.
    pub startup: Duration,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Server {
    pub fn start(binary: &PathBuf, database: &str, pool_size: u32) -> anyhow::Result<Self> {
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let outbox = std::env::temp_dir().join(format!("rollcall-bench-outbox-{port}"));
        let began = Instant::now();
        let child = Command::new(binary)
            .args(["serve", "--bind", &addr, "--database", database])
            .arg("--pool-size")
            .arg(pool_size.to_string())
            .arg("--outbox")
            .arg(&outbox)
            .env("ROLLCALL_LOG", "warn")
            .env("ROLLCALL_METRICS_TOKEN", crate::hub_metrics::METRICS_TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut server = Self {
            child,
            outbox,
            addr,
            startup: Duration::ZERO,
        };
        loop {
            if let Some(status) = server.child.try_wait()? {
                anyhow::bail!("the server exited during start-up: {status}");
            }
            if healthz(&server.addr) {
                server.startup = began.elapsed();
                return Ok(server);
            }
            if began.elapsed() > Duration::from_secs(60) {
                anyhow::bail!("the server did not answer /healthz within 60 s");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The server's `/metrics` text (Prometheus').
    pub fn metrics(&self) -> anyhow::Result<String> {
        use std::io::Read;
        let bearer = format!(
            "Authorization: Bearer {}\r\n",
            crate::hub_metrics::METRICS_TOKEN
        );
        let mut answer = String::new();
        get(&self.addr, "/metrics", &bearer, Duration::from_secs(10))?
            .read_to_string(&mut answer)?;
        let (head, body) = answer
            .split_once("\r\n\r\n")
            .context("no end to the headers of /metrics")?;
        anyhow::ensure!(
            head.starts_with("HTTP/1.1 200"),
            "/metrics answered {}",
            head.lines().next().unwrap_or_default()
        );
        Ok(body.to_string())
    }

    /// Resident memory now and at its peak, in MiB (Linux /proc).
    pub fn rss_mib(&self) -> (f64, f64) {
        let status = i32::try_from(self.child.id())
            .ok()
            .and_then(|pid| procfs::process::Process::new(pid).ok())
            .and_then(|process| process.status().ok());
        let mib = |kb: Option<u64>| kb.map_or(0.0, |kb| kb as f64 / 1024.0);
        match status {
            Some(status) => (mib(status.vmrss), mib(status.vmhwm)),
            None => (0.0, 0.0),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Each start had its own, by port: without this a day of runs
        // left hundreds of empty directories in the temporary directory.
        let _ = std::fs::remove_dir_all(&self.outbox);
    }
}

/// A blocking GET with a short timeout and the connection closed after.
fn get(
    addr: &str,
    path: &str,
    headers: &str,
    timeout: Duration,
) -> std::io::Result<std::net::TcpStream> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n")
            .as_bytes(),
    )?;
    Ok(stream)
}

/// Is the server up?
fn healthz(addr: &str) -> bool {
    use std::io::Read;
    let Ok(mut stream) = get(addr, "/healthz", "", Duration::from_millis(500)) else {
        return false;
    };
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).is_ok() && answer.ends_with(b"200")
}
