//! The HTTP server options every serving subcommand (`serve`, `bot`, `operator`) takes.

use kd_server::Limits;

#[derive(clap::Args)]
pub struct HttpArgs {
    /// Time for a request's header to arrive; idle keep-alive connections close after it too.
    #[arg(long, value_name = "DURATION", default_value_t = Limits::default().header_read_timeout.into())]
    header_read_timeout: humantime::Duration,
    /// Longest wait for the next piece of a request body.
    #[arg(long, value_name = "DURATION", default_value_t = Limits::default().body_read_timeout.into())]
    body_read_timeout: humantime::Duration,
    /// Longest a request may take, body included (408 after); websockets only until upgraded.
    #[arg(long, value_name = "DURATION", default_value_t = Limits::default().request_timeout.into())]
    request_timeout: humantime::Duration,
    /// Open connections at most (websockets included); more are answered 503 and closed.
    /// Keep it below the process's open-file limit (`ulimit -n`).
    #[arg(long, default_value_t = Limits::default().max_connections)]
    max_connections: usize,
}

impl HttpArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            header_read_timeout: self.header_read_timeout.into(),
            body_read_timeout: self.body_read_timeout.into(),
            request_timeout: self.request_timeout.into(),
            max_connections: self.max_connections,
        }
    }
}
