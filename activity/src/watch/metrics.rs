//! Watch Together usage as Prometheus metrics, per guild: rooms open and participants
//! connected on this replica, sessions started, minutes watched; and connections closed by code.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GuildLabel {
    pub guild: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloseLabel {
    pub code: u16,
}

#[derive(Clone, Default)]
pub struct WatchMetrics {
    rooms: Family<GuildLabel, Gauge>,
    participants: Family<GuildLabel, Gauge>,
    sessions: Family<GuildLabel, Counter>,
    minutes: Family<GuildLabel, Counter<f64, AtomicU64>>,
    closes: Family<CloseLabel, Counter>,
}

fn guild(guild: &str) -> GuildLabel {
    GuildLabel {
        guild: guild.to_string(),
    }
}

impl WatchMetrics {
    pub fn register(&self, registry: &mut Registry) {
        let registry = registry.sub_registry_with_prefix("watch");
        registry.register(
            "rooms",
            "Watch Together rooms with participants on this replica, by guild",
            self.rooms.clone(),
        );
        registry.register(
            "participants",
            "Watch Together participants connected to this replica, by guild",
            self.participants.clone(),
        );
        registry.register(
            "sessions",
            "Watch Together rooms started, by guild",
            self.sessions.clone(),
        );
        registry.register(
            "minutes_watched",
            "Participant-minutes of playback, by guild",
            self.minutes.clone(),
        );
        registry.register(
            "closes",
            "Watch Together connections closed, by close code",
            self.closes.clone(),
        );
    }

    pub fn session_started(&self, guild_id: &str) {
        self.sessions.get_or_create(&guild(guild_id)).inc();
    }

    pub fn participant_joined(&self, guild_id: &str) {
        self.participants.get_or_create(&guild(guild_id)).inc();
    }

    pub fn participant_left(&self, guild_id: &str) {
        self.participants.get_or_create(&guild(guild_id)).dec();
    }

    pub fn watched(&self, guild_id: &str, minutes: f64) {
        if minutes > 0.0 {
            self.minutes.get_or_create(&guild(guild_id)).inc_by(minutes);
        }
    }

    pub fn closed(&self, code: u16) {
        self.closes.get_or_create(&CloseLabel { code }).inc();
    }

    /// The guilds of the rooms open now, one per room.
    pub fn rooms(&self, guilds: &[String]) {
        let mut counts: HashMap<&str, i64> = HashMap::new();
        for g in guilds {
            *counts.entry(g).or_default() += 1;
        }
        self.rooms.clear();
        for (g, n) in counts {
            self.rooms.get_or_create(&guild(g)).set(n);
        }
    }
}
