//! Test support shared by every crate's tests: free ports, child processes that die with the
//! test, waiting for a condition, kubectl, a relay that plays an outage, and builders of the custom resources (fixtures).

pub mod bench;
pub mod fixtures;
pub mod http;
pub mod kubectl;
pub mod outage;
pub mod process;
pub mod wait;

pub use wait::wait;

/// A TCP port on 127.0.0.1 that was free a moment ago, for a child process to listen on.
/// (In-process servers bind port 0 themselves and ask the listener.)
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a port on 127.0.0.1")
        .port()
}
