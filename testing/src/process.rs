//! Child processes that die with the test that started them, panicking or not.

use std::io::Read;
use std::process::{Child, Command};

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

    fn kill(&mut self) {
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
