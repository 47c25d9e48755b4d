//! Child processes that die with the test that started them, panicking or not, and with
//! them whatever they started.

use std::io::Read;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

pub struct Running {
    pub child: Child,
}

impl Running {
    /// Starts `command`; a program that cannot start fails the test with its name.
    pub fn spawn(command: &mut Command) -> Self {
        let child = command
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

    /// Kills the process and its descendants: a wrapper's children (`unshare`, `setpriv`,
    /// `sh -c`) would outlive it, and `unshare --kill-child` cannot reach one that changed its
    /// user. (Not a process group of its own: then Ctrl-C on the test run would miss them.)
    fn kill(&mut self) {
        let mut tree = vec![self.child.id()];
        let mut next = 0;
        while let Some(&pid) = tree.get(next) {
            tree.extend(children(pid));
            next += 1;
        }
        for pid in tree.iter().skip(1) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(std::process::Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The children of process `pid` (Linux's `/proc/<pid>/task/<tid>/children`).
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
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

    #[test]
    fn drop_kills_what_the_child_started() {
        use std::io::BufRead;
        let mut wrapper = Running::spawn(
            Command::new("sh")
                .args(["-c", "sleep 30 & echo $!; wait"])
                .stdout(Stdio::piped()),
        );
        let mut line = String::new();
        std::io::BufReader::new(wrapper.child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let grandchild: u32 = line.trim().parse().unwrap();
        drop(wrapper);
        // Gone, or a zombie waiting for whoever inherited it.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{grandchild}/stat"));
            if stat.map_or(true, |s| s.contains(") Z ")) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "sleep {grandchild} outlived its wrapper"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
