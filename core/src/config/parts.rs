//! The runtime config in pieces the Kubernetes API can hold: one ConfigMap may carry 1 MiB, and
//! at about 0.7 KB per guild an application passes that near 1,400 guilds. So the guilds go
//! into parts (each a ConfigMap of its own) and a small index names them with their digests.
//!
//! A guild's part is fixed by a hash of its id, and the number of parts is a power of two
//! chosen from the total size, so an edit rewrites only the part of the guilds it touches and
//! growing past a size doubles the parts (each old part splits in two) rather than reshuffling.
//! The revision is the hash of the index, which holds every part's digest: the same content
//! gives the same revision whether it was read from one file or from the parts.

use super::{ApplicationRuntime, GuildRuntime, PartnerRuntime, RuntimeConfig};
use kd_crds::application::CommandScope;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Average size a part is kept under; parts vary around it with the hash, and the API's limit
/// (1 MiB per ConfigMap) leaves room for four times as much.
pub const PART_TARGET_BYTES: usize = 256 * 1024;

/// What the index ConfigMap holds: everything but the guilds, and where the guilds are.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// The hash of everything below (see [`Index::seal`]).
    pub revision: String,
    pub application: ApplicationRuntime,
    pub partners: BTreeMap<String, PartnerRuntime>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub clearing: BTreeSet<String>,
    /// One entry per part, in part order; part `k` holds the guilds whose id hashes to `k`.
    pub parts: Vec<PartRef>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PartRef {
    /// Digest of the part's text, so a reader can tell a part of another revision.
    pub digest: String,
    pub guilds: usize,
}

/// The guilds of one part, by guild id.
pub type Part = BTreeMap<String, GuildRuntime>;

/// A part as written: its guilds' JSON text (compact) and that text's digest.
#[derive(Clone, Debug, PartialEq)]
pub struct PartText {
    pub text: String,
    pub digest: String,
}

impl PartText {
    /// Reads a part, refusing one that is not what `expected` names.
    pub fn parse(text: &str, expected: &PartRef) -> Result<Part, String> {
        let seen = digest(text);
        if seen != expected.digest {
            return Err(format!(
                "part digest {seen} is not the index's {} (a part of another revision)",
                expected.digest
            ));
        }
        serde_json::from_str(text).map_err(|e| format!("part is not valid: {e}"))
    }
}

fn digest(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

/// A config as it is written (its index and its parts' texts) and the revision of each guild's
/// share of it, all from one serialization of each guild.
#[derive(Clone, Debug, PartialEq)]
pub struct Pieces {
    pub index: Index,
    pub parts: Vec<PartText>,
    /// [`RuntimeConfig::guild_revision`] of every guild, those being cleared included.
    pub guild_revisions: BTreeMap<String, String>,
}

impl Pieces {
    pub fn of(config: &RuntimeConfig) -> Self {
        // Each guild is serialized once: its text sizes the parts and goes into its part as
        // it is (the part's text is what serializing the part as a map would give).
        let partners: BTreeMap<&String, String> = config
            .partners
            .iter()
            .map(|(name, p)| (name, serde_json::to_string(p).expect("partners serialize")))
            .collect();
        let entries: Vec<(String, String)> = config
            .guilds
            .iter()
            .map(|(id, guild)| {
                let key = serde_json::to_string(id).expect("strings serialize");
                (key, serde_json::to_string(guild).expect("guilds serialize"))
            })
            .collect();
        let total: usize = entries.iter().map(|(k, t)| k.len() + t.len() + 2).sum();
        let count = total.div_ceil(PART_TARGET_BYTES).max(1).next_power_of_two();
        let mut texts = vec![String::from("{"); count];
        let mut sizes = vec![0; count];
        let mut guild_revisions = BTreeMap::new();
        let scope = config.application.command_scope;
        // In id order, so each part's keys come in the order a map's would.
        for ((id, guild), (key, text)) in config.guilds.iter().zip(entries) {
            let partner = partners.get(&guild.partner).map_or("null", String::as_str);
            let share = share_revision(&text, partner, config.clearing.contains(id), scope);
            guild_revisions.insert(id.clone(), share);
            let k = part_of(id, count);
            if sizes[k] > 0 {
                texts[k].push(',');
            }
            texts[k].push_str(&key);
            texts[k].push(':');
            texts[k].push_str(&text);
            sizes[k] += 1;
        }
        let texts: Vec<PartText> = texts
            .into_iter()
            .map(|mut text| {
                text.push('}');
                PartText {
                    digest: digest(&text),
                    text,
                }
            })
            .collect();
        let parts = texts
            .iter()
            .zip(sizes)
            .map(|(text, guilds)| PartRef {
                digest: text.digest.clone(),
                guilds,
            })
            .collect();
        let index = Index {
            revision: String::new(),
            application: config.application.clone(),
            partners: config.partners.clone(),
            clearing: config.clearing.clone(),
            parts,
        };
        for id in &config.clearing {
            guild_revisions
                .entry(id.clone())
                .or_insert_with(|| share_revision("null", "null", true, scope));
        }
        Self {
            index: index.seal(),
            parts: texts,
            guild_revisions,
        }
    }
}

/// The revision of a guild's share from the JSON of its parts ([`RuntimeConfig::guild_revision`]):
/// the bytes serde writes for the tuple `(guild, partner, clearing)`, with the scope as a fourth
/// element when it is `Global`, so revisions of the `Guild` scope stay what they were before
/// scopes existed.
pub(crate) fn share_revision(
    guild: &str,
    partner: &str,
    clearing: bool,
    scope: CommandScope,
) -> String {
    let mut hash = Sha256::new();
    for piece in [
        "[",
        guild,
        ",",
        partner,
        ",",
        if clearing { "true" } else { "false" },
        if scope.is_guild() { "" } else { ",\"Global\"" },
        "]",
    ] {
        hash.update(piece.as_bytes());
    }
    hex::encode(&hash.finalize()[..6])
}

/// The part a guild goes to among `count` (a power of two).
pub fn part_of(guild_id: &str, count: usize) -> usize {
    let hash = Sha256::digest(guild_id.as_bytes());
    let head = u64::from_be_bytes(hash[..8].try_into().expect("8 bytes"));
    (head % count as u64) as usize
}

impl Index {
    /// The index of `config` and its parts' texts.
    pub fn of(config: &RuntimeConfig) -> (Index, Vec<PartText>) {
        let pieces = Pieces::of(config);
        (pieces.index, pieces.parts)
    }

    /// The same index with its revision set to the hash of its content.
    fn seal(mut self) -> Self {
        self.revision = self.content_hash();
        self
    }

    fn content_hash(&self) -> String {
        let unsealed = Self {
            revision: String::new(),
            ..self.clone()
        };
        let bytes = serde_json::to_vec(&unsealed).expect("index serializes");
        hex::encode(&Sha256::digest(&bytes)[..6])
    }

    /// Reads an index, refusing one whose revision does not match its content.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let index: Self =
            serde_json::from_str(text).map_err(|e| format!("config index is not valid: {e}"))?;
        let expected = index.content_hash();
        if index.revision != expected {
            return Err(format!(
                "config index revision {} does not match its content ({expected})",
                index.revision
            ));
        }
        Ok(index)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("index serializes")
    }

    /// The whole config from this index and its parts (in part order, each checked against
    /// its digest by [`PartText::parse`]).
    pub fn assemble(&self, parts: &[Arc<Part>]) -> Result<RuntimeConfig, String> {
        if parts.len() != self.parts.len() {
            return Err(format!(
                "{} parts given for an index of {}",
                parts.len(),
                self.parts.len()
            ));
        }
        let mut guilds = BTreeMap::new();
        for (k, part) in parts.iter().enumerate() {
            for (id, guild) in part.iter() {
                if part_of(id, parts.len()) != k {
                    return Err(format!(
                        "guild {id} is in part {k}, where it does not belong"
                    ));
                }
                guilds.insert(id.clone(), guild.clone());
            }
        }
        Ok(RuntimeConfig {
            revision: self.revision.clone(),
            application: self.application.clone(),
            partners: self.partners.clone(),
            guilds,
            clearing: self.clearing.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ApplicationRuntime, GuildRuntime};

    fn application() -> ApplicationRuntime {
        ApplicationRuntime {
            name: "campus".into(),
            namespace: "ns".into(),
            application_id: "1".into(),
            bot_token_ref: kd_crds::SecretKeyRef {
                name: "s".into(),
                key: "k".into(),
            },
            client_secret_ref: None,
            public_url: None,
            activity_enabled: false,
            intents: vec![],
            command_scope: Default::default(),
            deleting: false,
        }
    }

    fn partner() -> PartnerRuntime {
        PartnerRuntime {
            partner_id: 1,
            service_url: "https://kaltura.example".into(),
            admin_secret_ref: kd_crds::SecretKeyRef {
                name: "s".into(),
                key: "k".into(),
            },
            sessions: Default::default(),
            player_ui_conf_id: None,
            webhook_secret_ref: None,
        }
    }

    fn guild(n: usize) -> GuildRuntime {
        GuildRuntime {
            config_name: format!("guild-{n}-with-a-longer-name-to-weigh-like-a-real-one"),
            partner: "p".into(),
            features: Default::default(),
            permissions: BTreeMap::from([(
                crate::command::Command::Start.name().to_string(),
                vec!["Teacher".to_string(), "Teaching assistant".to_string()],
            )]),
            channels: Default::default(),
            templates: Default::default(),
            overridable: vec![],
            roles: Default::default(),
            notification_rules: vec![],
        }
    }

    fn config(guilds: usize) -> RuntimeConfig {
        RuntimeConfig::new(
            application(),
            BTreeMap::new(),
            (0..guilds)
                .map(|n| ((1_000_000_000_000_000 + n).to_string(), guild(n)))
                .collect(),
        )
    }

    fn parse_all(index: &Index, texts: &[PartText]) -> Vec<Arc<Part>> {
        texts
            .iter()
            .zip(&index.parts)
            .map(|(t, r)| Arc::new(PartText::parse(&t.text, r).unwrap()))
            .collect()
    }

    #[test]
    fn parts_assemble_into_the_same_config_and_revision() {
        for guilds in [0, 1, 3_000] {
            let config = config(guilds);
            let (index, texts) = Index::of(&config);
            assert_eq!(index.revision, config.revision, "{guilds} guilds");
            let back = index.assemble(&parse_all(&index, &texts)).unwrap();
            assert_eq!(back, config);
            let read = Index::from_json(&index.to_json()).unwrap();
            assert_eq!(read, index);
        }
    }

    #[test]
    fn a_parts_text_is_its_guilds_serialized_as_a_map() {
        let config = config(3000);
        let (index, texts) = Index::of(&config);
        assert!(texts.len() > 1, "{} parts", texts.len());
        for (part, text) in parse_all(&index, &texts).iter().zip(&texts) {
            assert_eq!(serde_json::to_string(&**part).unwrap(), text.text);
        }
        let empty = Index::of(&RuntimeConfig::new(
            application(),
            BTreeMap::new(),
            BTreeMap::new(),
        ));
        assert_eq!(empty.1[0].text, "{}");
    }

    #[test]
    fn pieces_give_each_guild_the_revision_the_config_gives_it() {
        for scope in [CommandScope::Guild, CommandScope::Global] {
            let mut config = config(50);
            config.partners.insert("p".into(), partner());
            config.application.command_scope = scope;
            let config = config.with_clearing(["4".to_string()].into());
            let pieces = Pieces::of(&config);
            assert_eq!(pieces.guild_revisions.len(), 51);
            for (id, revision) in &pieces.guild_revisions {
                assert_eq!(
                    *revision,
                    config.guild_revision(id),
                    "guild {id} in {scope:?}"
                );
            }
            assert_eq!(pieces.index.revision, config.revision);
        }
    }

    #[test]
    fn a_scope_switch_moves_every_guild_and_the_global_set_and_guild_scope_writes_nothing_new() {
        let guild_scope = config(3);
        assert!(
            !guild_scope.to_json().contains("commandScope"),
            "configs of the Guild scope keep the revisions they had before scopes"
        );
        let mut global = guild_scope.clone();
        global.application.command_scope = CommandScope::Global;
        let global = global.with_clearing(BTreeSet::new());
        assert_ne!(global.revision, guild_scope.revision);
        assert_ne!(global.global_revision(), guild_scope.global_revision());
        for id in guild_scope.guilds.keys() {
            assert!(global.guild_differs(&guild_scope, id));
            assert_ne!(global.guild_revision(id), guild_scope.guild_revision(id));
        }
        assert!(global.global_commands_wanted() && !guild_scope.global_commands_wanted());
        let mut deleting = global.clone();
        deleting.application.deleting = true;
        assert!(!deleting.global_commands_wanted());
        assert_ne!(deleting.global_revision(), global.global_revision());
        let id = guild_scope.guilds.keys().next().unwrap();
        assert!(
            !deleting.guild_differs(&global, id),
            "deleting the application leaves its guilds as they are"
        );
        let read = RuntimeConfig::from_json(&global.to_json()).unwrap();
        assert_eq!(read.application.command_scope, CommandScope::Global);
    }

    #[test]
    fn parts_stay_well_under_a_config_maps_limit() {
        let (index, texts) = Index::of(&config(6_000));
        assert!(index.parts.len() > 1 && index.parts.len().is_power_of_two());
        let largest = texts.iter().map(|t| t.text.len()).max().unwrap();
        assert!(largest < 2 * PART_TARGET_BYTES, "largest part {largest} B");
        assert!(index.to_json().len() < 64 * 1024);
    }

    #[test]
    fn an_edit_rewrites_only_its_guilds_part() {
        let mut config = config(6_000);
        let (before, _) = Index::of(&config);
        let id = config.guilds.keys().nth(17).unwrap().clone();
        config.guilds.get_mut(&id).unwrap().roles.default = "host".into();
        let (after, _) = Index::of(&config);
        let changed: Vec<usize> = (0..before.parts.len())
            .filter(|&k| before.parts[k] != after.parts[k])
            .collect();
        assert_eq!(changed, vec![part_of(&id, before.parts.len())]);
        assert_ne!(before.revision, after.revision);
    }

    #[test]
    fn doubling_the_parts_splits_each_in_two() {
        for n in 0..200 {
            let id = (1_000_000_000_000_000usize + n).to_string();
            assert_eq!(part_of(&id, 8) % 4, part_of(&id, 4));
        }
    }

    #[test]
    fn a_part_of_another_revision_or_out_of_place_is_refused() {
        let (index, texts) = Index::of(&config(3_000));
        assert!(index.parts.len() >= 2);
        let err = PartText::parse(&texts[1].text, &index.parts[0]).unwrap_err();
        assert!(err.contains("another revision"), "{err}");
        let mut parts = parse_all(&index, &texts);
        parts.swap(0, 1);
        let err = index.assemble(&parts).unwrap_err();
        assert!(err.contains("does not belong"), "{err}");
        let tampered = index.to_json().replace("\"campus\"", "\"other\"");
        assert!(Index::from_json(&tampered).is_err());
    }
}
