//! Example binaries as processes: built when missing, started with arguments, stopped with
//! SIGTERM (expecting a clean exit) or SIGKILL, and killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The example binary built by `cargo test --all-targets`, or built now when missing.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", name])
            .status()
            .unwrap();
        assert!(status.success(), "building example {name} failed");
    }
    assert!(path.exists(), "no example binary at {}", path.display());
    path
}

/// A running example process.
pub struct ExampleProcess {
    child: Child,
}

impl ExampleProcess {
    /// Starts `bin` with `args` (stdout discarded, stderr inherited, `RUST_LOG=warn`).
    pub fn start(bin: &PathBuf, args: &[String]) -> ExampleProcess {
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap();
        ExampleProcess { child }
    }

    /// SIGTERM, then waits (up to a minute) for a clean exit.
    pub fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "example exited with {status} after SIGTERM"
                );
                return;
            }
            assert!(Instant::now() < deadline, "example ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL: no chance to commit or close anything.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ExampleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
