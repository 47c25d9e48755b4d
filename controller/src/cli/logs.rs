//! How every long-running command logs: a level (RUST_LOG syntax) and a format.

#[derive(clap::Args)]
pub struct LogArgs {
    /// Log level or directives (RUST_LOG syntax).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,
    /// `text` for people, `json` (one object per line) for log collectors.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

impl LogArgs {
    /// Installs the log subscriber: tokens redacted from the output, twilight-http capped
    /// (see `kd_bot::logging`).
    pub fn init(&self) {
        let logs = tracing_subscriber::fmt()
            .with_env_filter(kd_bot::logging::filter(&self.log))
            .with_writer(kd_bot::logging::Redacted(std::io::stdout));
        if self.log_format == "json" {
            logs.json().init();
        } else {
            logs.init();
        }
    }
}
