//! Child processes that die with the test that started them, panicking or not, and with
//! them whatever they started (each runs in a process group of its own).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

pub struct Running {
    pub child: Child,
}

impl Running {
    /// Starts `command`; a program that cannot start fails the test with its name.
    pub fn spawn(command: &mut Command) -> Self {
        let child = command
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {:?}: {e}", command.get_program()));
        Self { child }
    }

    /// Sends SIGTERM, as Kubernetes does to a pod it stops, and waits up to `within` for the
    /// process to exit: its exit status, or `None` if it is still running.
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the child") {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the process and returns what it wrote to its (piped) stdout.
    pub fn stop(&mut self) -> String {
        self.kill();
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            stdout
                .read_to_string(&mut out)
                .expect("reading the child's stdout");
        }
        out
    }

    /// Kills the whole group: a wrapper's children (`unshare`, `setpriv`, `sh -c`) would
    /// outlive it, and `unshare --kill-child` cannot reach one that changed its user.
    fn kill(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    #[test]
    fn stop_returns_the_output_and_drop_kills() {
        let mut printer = Running::spawn(Command::new("echo").arg("ready").stdout(Stdio::piped()));
        printer.child.wait().unwrap();
        assert_eq!(printer.stop(), "ready\n");
        let id = {
            let sleeper = Running::spawn(Command::new("sleep").arg("30"));
            sleeper.child.id()
        };
        let alive = std::path::Path::new(&format!("/proc/{id}")).exists();
        assert!(!alive, "the dropped child was killed and reaped");
    }
}
