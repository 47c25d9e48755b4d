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
/// share of it, all from one serialization of each guild. Kept from pass to pass, it is
/// brought up to date by [`Pieces::update`] with the guilds that changed: only their parts are
/// written again, so an edit costs its part, not the whole config.
#[derive(Clone, Debug, PartialEq)]
pub struct Pieces {
    pub index: Index,
    pub parts: Vec<PartText>,
    /// [`RuntimeConfig::guild_revision`] of every guild, those being cleared included.
    pub guild_revisions: BTreeMap<String, String>,
    /// Each part's guilds, by id, as their part's text holds them.
    entries: Vec<BTreeMap<String, Entry>>,
    /// The size of every entry, which sets the number of parts.
    total: usize,
}

/// One guild in its part: `"id":{...}`, and the partner it names.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    text: String,
    /// Where the guild's own JSON starts in `text`.
    at: usize,
    partner: String,
}

impl Entry {
    fn new(id: &str, guild: &GuildRuntime) -> Self {
        let mut text = serde_json::to_string(id).expect("strings serialize");
        text.push(':');
        let at = text.len();
        text.push_str(&serde_json::to_string(guild).expect("guilds serialize"));
        Self {
            text,
            at,
            partner: guild.partner.clone(),
        }
    }

    fn guild(&self) -> &str {
        &self.text[self.at..]
    }

    /// What it adds to its part's text (its comma included), as the part count counts it.
    fn size(&self) -> usize {
        self.text.len() + 1
    }
}

impl Pieces {
    pub fn of(config: &RuntimeConfig) -> Self {
        let mut pieces = Self {
            index: Index {
                revision: String::new(),
                application: config.application.clone(),
                partners: BTreeMap::new(),
                clearing: BTreeSet::new(),
                parts: Vec::new(),
            },
            parts: Vec::new(),
            guild_revisions: BTreeMap::new(),
            entries: Vec::new(),
            total: 0,
        };
        pieces.update(
            config.application.clone(),
            config.partners.clone(),
            config.clearing.clone(),
            config.guilds.iter().map(|(id, g)| (id.clone(), Some(g))),
        );
        pieces
    }

    /// Sets `guilds` (None removes one) and the rest of the config, then writes again the parts
    /// those guilds are in, the index and the revisions that moved. A change of the partners
    /// moves every guild's revision; anything else, only those given and those whose clearing
    /// changed.
    pub fn update<'g>(
        &mut self,
        application: ApplicationRuntime,
        partners: BTreeMap<String, PartnerRuntime>,
        clearing: BTreeSet<String>,
        guilds: impl IntoIterator<Item = (String, Option<&'g GuildRuntime>)>,
    ) {
        if self.entries.is_empty() {
            self.entries.push(BTreeMap::new());
        }
        let count = self.entries.len();
        let mut dirty = BTreeSet::new();
        let mut touched: BTreeSet<String> = self
            .index
            .clearing
            .symmetric_difference(&clearing)
            .cloned()
            .collect();
        for (id, guild) in guilds {
            let k = part_of(&id, count);
            if let Some(old) = self.entries[k].remove(&id) {
                self.total -= old.size();
            }
            if let Some(guild) = guild {
                let entry = Entry::new(&id, guild);
                self.total += entry.size();
                self.entries[k].insert(id.clone(), entry);
            }
            dirty.insert(k);
            touched.insert(id);
        }
        let wanted = self
            .total
            .div_ceil(PART_TARGET_BYTES)
            .max(1)
            .next_power_of_two();
        if wanted != count {
            // Past a size: every guild moves to its part among the new count.
            let all = std::mem::take(&mut self.entries);
            self.entries = vec![BTreeMap::new(); wanted];
            for (id, entry) in all.into_iter().flatten() {
                self.entries[part_of(&id, wanted)].insert(id, entry);
            }
            dirty = (0..wanted).collect();
        }
        // Every guild's revision reads the partners and the scope.
        if partners != self.index.partners
            || application.command_scope != self.index.application.command_scope
        {
            touched.extend(self.guild_revisions.keys().cloned());
            touched.extend(self.entries.iter().flat_map(|part| part.keys().cloned()));
        }
        self.revise(&partners, &clearing, application.command_scope, touched);
        dirty.extend(self.parts.len()..self.entries.len());
        self.parts
            .resize_with(self.entries.len(), || PartText::of(String::new()));
        for k in dirty {
            let mut text = String::from("{");
            for (n, entry) in self.entries[k].values().enumerate() {
                if n > 0 {
                    text.push(',');
                }
                text.push_str(&entry.text);
            }
            text.push('}');
            self.parts[k] = PartText::of(text);
        }
        let parts = self
            .parts
            .iter()
            .zip(&self.entries)
            .map(|(text, entries)| PartRef {
                digest: text.digest.clone(),
                guilds: entries.len(),
            })
            .collect();
        self.index = Index {
            revision: String::new(),
            application,
            partners,
            clearing,
            parts,
        }
        .seal();
    }

    /// The revisions of `touched` from their entries.
    fn revise(
        &mut self,
        partners: &BTreeMap<String, PartnerRuntime>,
        clearing: &BTreeSet<String>,
        scope: CommandScope,
        touched: BTreeSet<String>,
    ) {
        let texts: BTreeMap<&String, String> = partners
            .iter()
            .map(|(name, p)| (name, serde_json::to_string(p).expect("partners serialize")))
            .collect();
        let count = self.entries.len();
        for id in touched {
            let cleared = clearing.contains(&id);
            let revision = match self.entries[part_of(&id, count)].get(&id) {
                Some(entry) => {
                    let partner = texts.get(&entry.partner).map_or("null", String::as_str);
                    Some(share_revision(entry.guild(), partner, cleared, scope))
                }
                None => cleared.then(|| share_revision("null", "null", true, scope)),
            };
            match revision {
                Some(revision) => self.guild_revisions.insert(id, revision),
                None => self.guild_revisions.remove(&id),
            };
        }
    }
}

impl PartText {
    fn of(text: String) -> Self {
        Self {
            digest: digest(&text),
            text,
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
    fn pieces_brought_up_to_date_equal_pieces_made_afresh() {
        let mut config = config(2_000);
        config.partners.insert("p".into(), partner());
        let mut pieces = Pieces::of(&config);
        let ids: Vec<String> = config.guilds.keys().cloned().collect();
        // Edits, removals, additions past a part count, a partner change and clearing.
        // Each edits the config and names the guilds it changed.
        type Step<'a> = Box<dyn Fn(&mut RuntimeConfig) -> Vec<String> + 'a>;
        let steps: Vec<Step> = vec![
            Box::new(|c| {
                let id = ids[7].clone();
                c.guilds.get_mut(&id).unwrap().roles.default = "host".into();
                vec![id]
            }),
            Box::new(|c| {
                let gone = ids[11..40].to_vec();
                for id in &gone {
                    c.guilds.remove(id);
                }
                c.clearing = gone[..3].iter().cloned().collect();
                gone
            }),
            Box::new(|c| {
                let new: Vec<String> = (0..3_000).map(|n| format!("9{n:017}")).collect();
                for (n, id) in new.iter().enumerate() {
                    c.guilds.insert(id.clone(), guild(n));
                }
                new
            }),
            Box::new(|c| {
                c.partners.get_mut("p").unwrap().partner_id = 2;
                c.clearing.clear();
                vec![]
            }),
            Box::new(|c| {
                c.application.command_scope = CommandScope::Global;
                vec![]
            }),
        ];
        for (n, step) in steps.iter().enumerate() {
            let changed = step(&mut config);
            pieces.update(
                config.application.clone(),
                config.partners.clone(),
                config.clearing.clone(),
                changed.iter().map(|id| (id.clone(), config.guilds.get(id))),
            );
            let fresh = Pieces::of(&config);
            assert_eq!(pieces.index, fresh.index, "step {n}");
            assert_eq!(pieces.parts, fresh.parts, "step {n}");
            assert_eq!(pieces.guild_revisions, fresh.guild_revisions, "step {n}");
        }
        assert!(pieces.parts.len() >= 8, "{} parts", pieces.parts.len());
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
