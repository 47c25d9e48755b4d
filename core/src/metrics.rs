//! The Prometheus text of a registry, as `/metrics` of the bot, the HTTP server and the
//! operator serve it.

use prometheus_client::registry::Registry;

pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).expect("writing to a String");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;

    #[test]
    fn counters_come_out_in_the_text_format() {
        let mut registry = Registry::with_prefix("kd");
        let counter = Counter::<u64>::default();
        registry.register("things", "Things done", counter.clone());
        counter.inc();
        let text = encode(&registry);
        assert!(text.contains("# HELP kd_things Things done."), "{text}");
        assert!(text.contains("kd_things_total 1"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
