//! The runtime config in pieces the Kubernetes API can hold: one ConfigMap may carry 1 MiB, and
//! at about 0.7 KB per guild an application passes that near 1,400 guilds. So the guilds go
//! into parts (each a ConfigMap of its own) and a small index names them with their digests.
//!
//! A guild's part is fixed by a hash of its id, and the number of parts is a power of two
//! chosen from the total size, so an edit rewrites only the part of the guilds it touches and
//! growing past a size doubles the parts (each old part splits in two) rather than reshuffling.
//! The revision is the hash of the index, which holds every part's digest: the same content
//! gives the same revision whether it was read from one file or from the parts.

use super::{ApplicationRuntime, GuildRuntime, PartnerRuntime, RuntimeConfig, Served, rates_of};
use kd_crds::application::CommandScope;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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

/// What a reader keeps of one part: the guilds it serves, and the rates of every rule the
/// part's guilds have (see [`RuntimeConfig::rule_rate`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Kept {
    pub guilds: Part,
    pub rule_rates: BTreeMap<String, i32>,
}

/// A part as written: its guilds' JSON text (compact) and that text's digest.
#[derive(Clone, Debug, PartialEq)]
pub struct PartText {
    pub text: String,
    pub digest: String,
}

impl PartText {
    /// Reads a part, keeping the guilds `served` names; refuses one that is not what
    /// `expected` names.
    pub fn parse(text: &str, expected: &PartRef, served: &Served) -> Result<Kept, String> {
        let seen = digest(text);
        if seen != expected.digest {
            return Err(format!(
                "part digest {seen} is not the index's {} (a part of another revision)",
                expected.digest
            ));
        }
        let raws: BTreeMap<String, &RawValue> =
            serde_json::from_str(text).map_err(|e| format!("part is not valid: {e}"))?;
        keep(&raws, served, |id, e| {
            format!("part is not valid: guild {id}: {e}")
        })
    }
}

/// The guilds of `raws` that `served` names, read whole, and the rates of every guild's
/// rules, the other guilds read for their rules alone.
fn keep(
    raws: &BTreeMap<String, &RawValue>,
    served: &Served,
    invalid: impl Fn(&str, serde_json::Error) -> String,
) -> Result<Kept, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Rules {
        #[serde(default)]
        notification_rules: Vec<super::RuleRuntime>,
    }
    let mut kept = Kept::default();
    for (id, raw) in raws {
        if served.contains(id) {
            let guild: GuildRuntime =
                serde_json::from_str(raw.get()).map_err(|e| invalid(id, e))?;
            kept.rule_rates.extend(rates_of([&guild]));
            kept.guilds.insert(id.clone(), guild);
        } else {
            let rules: Rules = serde_json::from_str(raw.get()).map_err(|e| invalid(id, e))?;
            let rates = rules.notification_rules.into_iter();
            kept.rule_rates
                .extend(rates.map(|r| (r.name, r.spec.max_per_minute)));
        }
    }
    Ok(kept)
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
        let wanted = part_count(self.total);
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

/// How many parts hold guilds whose entries add up to `total` bytes: a power of two.
fn part_count(total: usize) -> usize {
    total.div_ceil(PART_TARGET_BYTES).max(1).next_power_of_two()
}

/// The digests of the parts, from the guilds given in id order (as a part's text lists them),
/// without holding the texts.
struct Digests(Vec<(Sha256, usize)>);

impl Digests {
    /// For guilds whose entries add up to `total` bytes.
    fn new(total: usize) -> Self {
        Self(
            (0..part_count(total))
                .map(|_| (Sha256::new_with_prefix(b"{"), 0))
                .collect(),
        )
    }

    fn add(&mut self, id: &str, entry: &Entry) {
        let count = self.0.len();
        let (hash, guilds) = &mut self.0[part_of(id, count)];
        if *guilds > 0 {
            hash.update(b",");
        }
        hash.update(entry.text.as_bytes());
        *guilds += 1;
    }

    fn finish(self) -> Vec<PartRef> {
        self.0
            .into_iter()
            .map(|(mut hash, guilds)| {
                hash.update(b"}");
                PartRef {
                    digest: hex::encode(&hash.finalize()[..8]),
                    guilds,
                }
            })
            .collect()
    }
}

/// Reads a config written as one document ([`RuntimeConfig::to_json`]), keeping the guilds
/// `served` names. Its revision is checked as the parts would give it, unless `checked` (the
/// same text was read and checked before): each guild is read once for the sizes (which set
/// the part count) and once for the digests, and only the guilds kept stay, so a replica's
/// memory follows its share rather than the config's size.
pub(super) fn read(text: &str, served: &Served, checked: bool) -> Result<RuntimeConfig, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Document<'a> {
        revision: String,
        application: ApplicationRuntime,
        partners: BTreeMap<String, PartnerRuntime>,
        #[serde(borrow)]
        guilds: BTreeMap<String, &'a RawValue>,
        #[serde(default)]
        clearing: BTreeSet<String>,
    }
    let document: Document =
        serde_json::from_str(text).map_err(|e| format!("runtime config is not valid: {e}"))?;
    if checked {
        let invalid = |id: &str, e| format!("runtime config is not valid: guild {id}: {e}");
        let kept = keep(&document.guilds, served, invalid)?;
        let index = Index {
            revision: document.revision,
            application: document.application,
            partners: document.partners,
            clearing: document.clearing,
            parts: Vec::new(),
        };
        return Ok(index.config(kept.guilds, served, kept.rule_rates));
    }
    let entry = |id: &str, raw: &RawValue| {
        serde_json::from_str::<GuildRuntime>(raw.get())
            .map(|guild| (Entry::new(id, &guild), guild))
            .map_err(|e| format!("runtime config is not valid: guild {id}: {e}"))
    };
    let (mut total, mut guilds, mut rule_rates) = (0, BTreeMap::new(), BTreeMap::new());
    for (id, raw) in &document.guilds {
        let (entry, guild) = entry(id, raw)?;
        total += entry.size();
        rule_rates.extend(rates_of([&guild]));
        if served.contains(id) {
            guilds.insert(id.clone(), guild);
        }
    }
    let mut digests = Digests::new(total);
    for (id, raw) in &document.guilds {
        digests.add(id, &entry(id, raw)?.0);
    }
    let index = Index {
        revision: String::new(),
        application: document.application,
        partners: document.partners,
        clearing: document.clearing,
        parts: digests.finish(),
    }
    .seal();
    if document.revision != index.revision {
        return Err(format!(
            "runtime config revision {} does not match its content ({})",
            document.revision, index.revision
        ));
    }
    Ok(index.config(guilds, served, rule_rates))
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

    /// The config from this index and what was kept of its parts (in part order, each
    /// checked against its digest by [`PartText::parse`] for `served`).
    pub fn assemble(&self, parts: &[Arc<Kept>], served: &Served) -> Result<RuntimeConfig, String> {
        if parts.len() != self.parts.len() {
            return Err(format!(
                "{} parts given for an index of {}",
                parts.len(),
                self.parts.len()
            ));
        }
        let (mut guilds, mut rule_rates) = (BTreeMap::new(), BTreeMap::new());
        for (k, part) in parts.iter().enumerate() {
            for (id, guild) in &part.guilds {
                if part_of(id, parts.len()) != k {
                    return Err(format!(
                        "guild {id} is in part {k}, where it does not belong"
                    ));
                }
                guilds.insert(id.clone(), guild.clone());
            }
            rule_rates.extend(part.rule_rates.iter().map(|(r, n)| (r.clone(), *n)));
        }
        Ok(self.clone().config(guilds, served, rule_rates))
    }

    /// The config of this index with `guilds`, those of `served`.
    fn config(
        self,
        guilds: BTreeMap<String, GuildRuntime>,
        served: &Served,
        rule_rates: BTreeMap<String, i32>,
    ) -> RuntimeConfig {
        RuntimeConfig {
            revision: self.revision,
            application: self.application,
            partners: self.partners,
            guilds,
            clearing: self
                .clearing
                .into_iter()
                .filter(|id| served.contains(id))
                .collect(),
            // A whole config's guilds hold every rule themselves.
            rule_rates: match served {
                Served::All => BTreeMap::new(),
                Served::Shards { .. } => rule_rates,
            },
            served: served.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ApplicationRuntime, GuildRuntime, Served};

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

    fn parse_all(index: &Index, texts: &[PartText]) -> Vec<Arc<Kept>> {
        texts
            .iter()
            .zip(&index.parts)
            .map(|(t, r)| Arc::new(PartText::parse(&t.text, r, &Served::All).unwrap()))
            .collect()
    }

    #[test]
    fn parts_assemble_into_the_same_config_and_revision() {
        for guilds in [0, 1, 3_000] {
            let config = config(guilds);
            let (index, texts) = Index::of(&config);
            assert_eq!(index.revision, config.revision, "{guilds} guilds");
            let back = index
                .assemble(&parse_all(&index, &texts), &Served::All)
                .unwrap();
            assert_eq!(back, config);
            let read = Index::from_json(&index.to_json()).unwrap();
            assert_eq!(read, index);
        }
    }

    /// `guilds` guilds spread over the shards (one per shard in turn, as snowflakes made a
    /// millisecond apart are), every fifth with a NotificationRule, two being cleared.
    fn spread(guilds: u64) -> RuntimeConfig {
        let guilds = (0..guilds).map(|n| {
            let mut guild = guild(n as usize);
            if n % 5 == 0 {
                guild.notification_rules.push(crate::config::RuleRuntime {
                    name: format!("ns/rule-{n}"),
                    spec: serde_json::from_value(serde_json::json!({
                        "guildConfigRef": {"name": "g"},
                        "events": ["entryReady"],
                        "channel": "1",
                        "maxPerMinute": n as i32 + 1,
                    }))
                    .unwrap(),
                });
            }
            (((1000 + n) << 22).to_string(), guild)
        });
        let partners = BTreeMap::from([("p".to_string(), partner())]);
        let config = RuntimeConfig::new(application(), partners, guilds.collect());
        // One cleared guild on shard 1 of 4, one on shard 0.
        config.with_clearing([(1001u64 << 22).to_string(), "42".to_string()].into())
    }

    #[test]
    fn a_config_read_for_some_shards_keeps_their_guilds_and_checks_the_whole() {
        let config = spread(2_000);
        let text = config.to_json();
        let whole = RuntimeConfig::from_json(&text).unwrap();
        assert!(whole == config);
        assert_eq!(whole.rule_rate("ns/rule-0"), Some(1));
        let served = Served::Shards {
            total: 4,
            held: [1, 2].into(),
        };
        let kept = RuntimeConfig::from_json_served(&text, &served).unwrap();
        assert_eq!(kept.revision, config.revision);
        assert_eq!(kept.served, served);
        let expected: Vec<&String> = config
            .guilds
            .keys()
            .filter(|id| matches!(crate::config::shard_of(id, 4), Some(1 | 2)))
            .collect();
        assert_eq!(kept.guilds.keys().collect::<Vec<_>>(), expected);
        assert_eq!(kept.guilds.len(), 1_000);
        assert_eq!(kept.clearing.len(), 1, "{:?}", kept.clearing);
        // Rules of every guild, kept (5 is on shard 1) or not (0 is on shard 0).
        assert_eq!(kept.rule_rates.len(), 400);
        assert_eq!(kept.rule_rate("ns/rule-5"), Some(6));
        assert_eq!(kept.rule_rate("ns/rule-0"), Some(1));
        assert_eq!(kept.rule_rate("ns/none"), None);
        let narrower = Served::Shards {
            total: 4,
            held: [2].into(),
        };
        let narrowed = kept.narrowed(&narrower).unwrap();
        assert_eq!(narrowed.guilds.len(), 500);
        assert_eq!(narrowed.rule_rate("ns/rule-5"), Some(6));
        assert!(narrowed == RuntimeConfig::from_json_served(&text, &narrower).unwrap());
        let again = RuntimeConfig::from_json_again(&text, &served).unwrap();
        assert!(again == kept, "read again unchecked, the same");
        assert!(whole.narrowed(&narrower).unwrap() == narrowed);
        assert!(
            kept.narrowed(&Served::All).is_none(),
            "what it did not keep is not there"
        );
        let none = Served::Shards {
            total: 4,
            held: BTreeSet::new(),
        };
        let nothing = RuntimeConfig::from_json_served(&text, &none).unwrap();
        assert!(nothing.guilds.is_empty() && nothing.clearing.is_empty());
        // A guild this reader would not keep is still part of what the revision covers.
        let id = (1000u64 << 22).to_string();
        assert!(config.guilds.contains_key(&id) && !served.contains(&id));
        let tampered = text.replacen(
            &format!("\"{id}\": {{\n      \"configName\": \"guild-0"),
            &format!("\"{id}\": {{\n      \"configName\": \"guild-X"),
            1,
        );
        assert_ne!(tampered, text);
        let err = RuntimeConfig::from_json_served(&tampered, &served).unwrap_err();
        assert!(err.contains("does not match its content"), "{err}");
    }

    #[test]
    fn parts_read_for_some_shards_assemble_into_what_the_file_gives() {
        let config = spread(3_000);
        let (index, texts) = Index::of(&config);
        assert!(index.parts.len() > 1);
        let served = Served::Shards {
            total: 3,
            held: [0].into(),
        };
        let kept: Vec<Arc<Kept>> = texts
            .iter()
            .zip(&index.parts)
            .map(|(t, r)| Arc::new(PartText::parse(&t.text, r, &served).unwrap()))
            .collect();
        let assembled = index.assemble(&kept, &served).unwrap();
        let read = RuntimeConfig::from_json_served(&config.to_json(), &served).unwrap();
        assert!(assembled == read);
        assert_eq!(assembled.guilds.len(), 1_000);
    }

    #[test]
    fn served_shards_contain_their_guilds_and_cover_their_subsets() {
        let shards = |total, held: &[u32]| Served::Shards {
            total,
            held: held.iter().copied().collect(),
        };
        let id = ((7u64 << 22) | 12345).to_string();
        assert_eq!(crate::config::shard_of(&id, 4), Some(3));
        assert!(shards(4, &[3]).contains(&id) && !shards(4, &[0, 1, 2]).contains(&id));
        assert!(Served::All.contains(&id) && !shards(4, &[3]).contains("not-an-id"));
        assert!(shards(4, &[1, 2]).covers(&shards(4, &[2])));
        assert!(!shards(4, &[1]).covers(&shards(4, &[1, 2])));
        assert!(!shards(4, &[1]).covers(&shards(8, &[1])), "another layout");
        assert!(
            shards(4, &[]).covers(&shards(8, &[])),
            "nothing is covered by anything"
        );
        assert!(
            Served::All.covers(&shards(4, &[1])) && !shards(4, &[0, 1, 2, 3]).covers(&Served::All)
        );
    }

    #[test]
    fn a_parts_text_is_its_guilds_serialized_as_a_map() {
        let config = config(3000);
        let (index, texts) = Index::of(&config);
        assert!(texts.len() > 1, "{} parts", texts.len());
        for (part, text) in parse_all(&index, &texts).iter().zip(&texts) {
            assert_eq!(serde_json::to_string(&part.guilds).unwrap(), text.text);
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
        let err = PartText::parse(&texts[1].text, &index.parts[0], &Served::All).unwrap_err();
        assert!(err.contains("another revision"), "{err}");
        let mut parts = parse_all(&index, &texts);
        parts.swap(0, 1);
        let err = index.assemble(&parts, &Served::All).unwrap_err();
        assert!(err.contains("does not belong"), "{err}");
        let tampered = index.to_json().replace("\"campus\"", "\"other\"");
        assert!(Index::from_json(&tampered).is_err());
    }
}
