//! Notifications through the deployed processes under faults: `kaltura-discord serve` takes a
//! burst of Kaltura notifications (sent as the Kaltura sandbox sends them, one sender per
//! channel so each channel has an order), `kaltura-discord bot` replicas deliver them from a
//! PostgreSQL outbox of the test's own, and the Discord sandbox's channel histories must hold
//! every event exactly once, in order. The faults: a delivering process killed with SIGKILL and
//! restarted, Discord unreachable for a while, PostgreSQL restarted, two replicas at once.

use kd_core::config::{RuleRuntime, RuntimeConfig};
use kd_crds::LocalRef;
use kd_crds::notification::{Event, Filters, NotificationRuleSpec};
use kd_sandbox_discord::NewChannel;
use kd_sandbox_kaltura::webhook::{
    Algo, BodyStyle, Outgoing, PayloadFormat, WebhookSender, notification,
};
use kd_testing::outage::Outage;
use kd_testing::wait;
use kd_tests::postgres::PrivatePostgres;
use kd_tests::process::{Outside, Reach, WorkloadProcess};
use serde_json::json;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_kaltura-discord");
/// Delivery of a whole burst on 2 loaded cores, with Discord's 5 messages per 5 s per channel.
const DELIVERED_WITHIN: Duration = Duration::from_secs(240);

struct Burst {
    outside: Outside,
    config: RuntimeConfig,
    channels: Vec<u64>,
    postgres: PrivatePostgres,
    relay: Outage,
    serve: WorkloadProcess,
    per_channel: usize,
}

/// A fault played while the burst is delivered, once a third of it has arrived.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    KillAndRestart,
    DiscordUnreachable,
    PostgresRestart,
    None,
}

fn rule(k: usize, channel: u64) -> RuleRuntime {
    RuleRuntime {
        name: format!("kaltura/c{k}"),
        spec: NotificationRuleSpec {
            guild_config_ref: LocalRef {
                name: "physics-101".into(),
            },
            events: vec![Event::EntryReady],
            filters: Filters {
                tags: vec![format!("c{k}")],
                ..Filters::default()
            },
            channel: channel.to_string(),
            template: Some("{{ name }}".into()),
            mention_roles: vec![],
            max_per_minute: 600,
        },
    }
}

impl Burst {
    async fn start(channels: usize, per_channel: usize) -> Self {
        let outside = Outside::start().await;
        let ids: Vec<u64> = (0..channels)
            .map(|k| {
                outside
                    .discord
                    .create_channel(
                        outside.guild.id,
                        NewChannel {
                            name: format!("n{k}"),
                            kind: 0,
                        },
                    )
                    .unwrap()
                    .id
            })
            .collect();
        let mut config =
            kd_tests::runtime_config(&outside.discord, &outside.kaltura, outside.guild.id);
        for guild in config.guilds.values_mut() {
            guild.features.notifications = true;
            guild.notification_rules = ids.iter().enumerate().map(|(k, id)| rule(k, *id)).collect();
        }
        let config = RuntimeConfig::new(config.application, config.partners, config.guilds);
        let postgres = PrivatePostgres::start();
        let relay = Outage::start(outside.discord.http_authority()).await;
        let serve = WorkloadProcess::serve(
            BIN,
            &outside.discord,
            &outside.kaltura,
            &config,
            &["--store", &postgres.url()],
            Stdio::null(),
        );
        wait("serve ready")
            .timeout(Duration::from_secs(60))
            .until(async || serve.get("/readyz").filter(|r| r.contains("ready")))
            .await;
        Self {
            outside,
            config,
            channels: ids,
            postgres,
            relay,
            serve,
            per_channel,
        }
    }

    fn bot(&self) -> WorkloadProcess {
        WorkloadProcess::bot_with(
            BIN,
            &self.outside.discord,
            &self.outside.kaltura,
            &self.config,
            &["--shards", "1", "--store", &self.postgres.url()],
            Reach {
                rest: Some(self.relay.authority()),
                ..Reach::default()
            },
            Stdio::null(),
        )
    }

    fn expected(&self, k: usize) -> Vec<String> {
        (0..self.per_channel).map(|j| format!("e{k}-{j}")).collect()
    }

    /// Sends the burst: one sender per channel, each in order, as Kaltura retries (patiently:
    /// the intake answers 503 while PostgreSQL is down).
    fn send(&self) -> tokio::task::JoinSet<()> {
        let sender = Arc::new(
            WebhookSender::new(120, Duration::from_millis(250), Duration::from_secs(5)).unwrap(),
        );
        let url = format!("{}/webhooks/kaltura", self.serve.base_url());
        let partner = self.outside.kaltura.partner_id();
        let secret = self.outside.kaltura.admin_secret().to_string();
        let mut senders = tokio::task::JoinSet::new();
        for k in 0..self.channels.len() {
            let (sender, url, secret) = (sender.clone(), url.clone(), secret.clone());
            let per_channel = self.per_channel;
            senders.spawn(async move {
                for j in 0..per_channel {
                    let entry = json!({"objectType": "KalturaMediaEntry", "id": format!("0_{k}_{j}"),
                        "name": format!("e{k}-{j}"), "status": "2", "tags": format!("c{k}")});
                    let out = Outgoing {
                        url: url.clone(),
                        notification: notification(
                            "3",
                            "1",
                            entry,
                            (12, "Entry Ready", "HTTP_ENTRY_READY"),
                            (k * 100_000 + j) as i64,
                            partner,
                        ),
                        style: if j % 2 == 0 { BodyStyle::Form } else { BodyStyle::Raw },
                        format: if j % 3 == 0 { PayloadFormat::Xml } else { PayloadFormat::Json },
                        secret: Some(secret.clone()),
                        algo: Algo::LegacySha1,
                    };
                    let delivery = sender.send(&out).await;
                    assert!(delivery.delivered, "event {k}-{j}: {delivery:?}");
                }
            });
        }
        senders
    }

    fn delivered(&self) -> usize {
        self.channels
            .iter()
            .map(|c| self.outside.discord.messages(*c).map_or(0, |m| m.len()))
            .sum()
    }

    /// Every channel's history holds its events exactly once, in order, and the outbox has
    /// nothing left to send.
    async fn assert_exactly_once_in_order(&self) {
        let total = self.channels.len() * self.per_channel;
        let store = kd_store::Store::open(&self.postgres.url()).await.unwrap();
        wait("the whole burst delivered")
            .timeout(DELIVERED_WITHIN)
            .explain(|| format!("{} of {total} messages in the channels", self.delivered()))
            .until(async || {
                let counts = store.rule_counts().await.ok()?;
                let delivered: i64 = counts.iter().map(|c| c.delivered).sum();
                let pending: i64 = counts.iter().map(|c| c.pending).sum();
                (delivered as usize == total && pending == 0).then_some(())
            })
            .await;
        let counts = store.rule_counts().await.unwrap();
        assert_eq!(counts.iter().map(|c| c.failed).sum::<i64>(), 0);
        for (k, channel) in self.channels.iter().enumerate() {
            let mut history = self.outside.discord.messages(*channel).unwrap();
            history.sort_by_key(|m| m["id"].as_str().unwrap().parse::<u64>().unwrap());
            let contents: Vec<String> = history
                .iter()
                .map(|m| m["content"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(contents, self.expected(k), "channel n{k}");
        }
    }
}

/// The burst with `bots` delivering replicas and `fault` played a third of the way in.
async fn burst(channels: usize, per_channel: usize, bots: usize, fault: Fault) {
    let burst = Burst::start(channels, per_channel).await;
    let mut replicas: Vec<WorkloadProcess> = (0..bots).map(|_| burst.bot()).collect();
    let mut senders = burst.send();
    let total = channels * per_channel;
    wait("a third delivered")
        .timeout(DELIVERED_WITHIN)
        .explain(|| format!("{} of {total}", burst.delivered()))
        .until(async || (burst.delivered() * 3 >= total).then_some(()))
        .await;
    match fault {
        Fault::KillAndRestart => {
            replicas[0].process.stop();
            replicas[0] = burst.bot();
        }
        Fault::DiscordUnreachable => {
            burst.relay.begin();
            tokio::time::sleep(Duration::from_secs(3)).await;
            burst.relay.end();
        }
        Fault::PostgresRestart => {
            burst.postgres.stop();
            tokio::time::sleep(Duration::from_secs(1)).await;
            burst.postgres.resume();
        }
        Fault::None => {}
    }
    while let Some(sent) = senders.join_next().await {
        sent.expect("every notification is accepted");
    }
    burst.assert_exactly_once_in_order().await;
    drop(replicas);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivering_process_killed_mid_burst_loses_and_doubles_nothing() {
    burst(100, 10, 1, Fault::KillAndRestart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_unreachable_for_a_while_then_everything_is_delivered_in_order() {
    burst(20, 10, 1, Fault::DiscordUnreachable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_burst_loses_and_doubles_nothing() {
    burst(20, 10, 1, Fault::PostgresRestart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_each_message_once_in_order() {
    burst(20, 10, 2, Fault::None).await;
}
