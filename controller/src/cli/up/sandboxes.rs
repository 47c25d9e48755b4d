//! The Discord and Kaltura sandboxes `up` runs in sandbox mode, in-process: started with the
//! folder's application and partner ids, seeded with the guilds, channels and roles the
//! manifests name (and one member per role), and the resources pointed at them.

use anyhow::Context;
use kd_controller::manifests::SecretValues;
use kd_crds::references::Catalog;
use kd_sandbox_discord::{
    Config, DiscordSandbox, MemberSpec, NewChannel, NewGuild, NewRole, NewUser, UrlMapping,
};
use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Discord's MANAGE_GUILD bit: the seeded `Admins` role may run `/kaltura-config set`.
const MANAGE_GUILD: u64 = 1 << 5;
/// The role every seeded guild gets for its administrators.
const ADMINS: &str = "Admins";

pub struct Sandboxes {
    pub discord: DiscordSandbox,
    pub kaltura: KalturaSandbox,
    /// Admin secrets of the folder's other partners (the first is the sandbox's own).
    other_partners: Vec<(i64, String)>,
}

/// The MP4 every sandbox entry plays, when the test tools are installed.
fn media_clip() -> Option<PathBuf> {
    let tools = std::env::var_os("KD_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/tools"));
    Some(tools.join("media/clip.mp4")).filter(|p| p.exists())
}

impl Sandboxes {
    /// Starts both; the Activity's URL mapping `/` goes to `activity` (`host:port`).
    pub async fn start(catalog: &Catalog, activity: &str) -> anyhow::Result<Self> {
        let defaults = SandboxConfig::default();
        let mut ids: Vec<i64> = catalog.partners.iter().map(|p| p.spec.partner_id).collect();
        ids.dedup();
        let partner_id = ids.first().copied().unwrap_or(defaults.partner_id);
        // Made-up secrets for made-up accounts, derived so they need no random source here.
        let other_partners: Vec<(i64, String)> = ids
            .iter()
            .skip(1)
            .map(|id| {
                let seed = format!("{}/{id}", defaults.admin_secret);
                (*id, hex::encode(&Sha256::digest(seed)[..16]))
            })
            .collect();
        let kaltura = KalturaSandbox::start(SandboxConfig {
            partner_id,
            other_partners: other_partners.clone(),
            media_clip: media_clip(),
            ..defaults
        })
        .await
        .context("starting the Kaltura sandbox")?;
        let application_id = catalog
            .applications
            .first()
            .and_then(|a| a.spec.application_id.parse().ok());
        // As in the Developer Portal: `/` is the Activity, `/kaltura` the partner's service
        // (the player's API calls and media go through the Discord proxy).
        let kaltura_host = kaltura.local_addr().to_string();
        let discord = DiscordSandbox::start(Config {
            application_id,
            url_mappings: vec![
                UrlMapping {
                    prefix: "/".into(),
                    target: activity.to_string(),
                },
                UrlMapping {
                    prefix: "/kaltura".into(),
                    target: kaltura_host,
                },
            ],
            ..Config::default()
        })
        .await
        .context("starting the Discord sandbox")?;
        Ok(Self {
            discord,
            kaltura,
            other_partners,
        })
    }

    /// Points the resources at the sandboxes: every partner's service URL, the Activity's
    /// public URL (`up`'s own server).
    pub fn overlay(&self, catalog: &mut Catalog, public_url: &str) {
        for partner in &mut catalog.partners {
            std::sync::Arc::make_mut(partner).spec.service_url =
                self.kaltura.base_url().to_string();
        }
        for app in &mut catalog.applications {
            std::sync::Arc::make_mut(app).spec.activity.public_url = Some(public_url.to_string());
        }
    }

    /// The credentials the sandboxes accept, in place of what the Secrets hold.
    pub fn credentials(&self, catalog: &Catalog, values: &mut SecretValues) {
        let mut set = |namespace: Option<&String>, r: &kd_crds::SecretKeyRef, value: String| {
            let namespace = namespace.cloned().unwrap_or_else(|| "default".into());
            values
                .0
                .insert((namespace, r.name.clone(), r.key.clone()), value);
        };
        for app in &catalog.applications {
            let ns = app.metadata.namespace.as_ref();
            set(ns, &app.spec.bot_token_ref, self.discord.bot_token());
            if let Some(r) = &app.spec.client_secret_ref {
                set(ns, r, self.discord.client_secret());
            }
        }
        for partner in &catalog.partners {
            let id = partner.spec.partner_id;
            let ns = partner.metadata.namespace.as_ref();
            set(ns, &partner.spec.admin_secret_ref, self.admin_secret(id));
            if let Some(r) = &partner.spec.webhook_secret_ref {
                set(ns, r, self.webhook_secret(id));
            }
        }
    }

    fn admin_secret(&self, partner_id: i64) -> String {
        self.other_partners
            .iter()
            .find(|(other, _)| *other == partner_id)
            .map_or_else(
                || self.kaltura.admin_secret().to_string(),
                |(_, s)| s.clone(),
            )
    }

    /// The secret the partner's notification template signs with, made up like the others.
    fn webhook_secret(&self, partner_id: i64) -> String {
        let seed = format!("{}/webhook", self.admin_secret(partner_id));
        hex::encode(&Sha256::digest(seed)[..16])
    }

    /// Points each partner's event notifications at `intake`, as its admin would in the KMC:
    /// active HTTP templates for entries added and changed (ready is a change of status),
    /// JSON, signed with SHA-256 and the partner's webhook secret. Through the Kaltura API,
    /// with an admin session.
    pub async fn subscribe(&self, catalog: &Catalog, intake: &str) -> anyhow::Result<()> {
        use kd_kaltura::Idempotency::NotIdempotent;
        let service = "eventnotification_eventnotificationtemplate";
        let ids: BTreeSet<i64> = catalog.partners.iter().map(|p| p.spec.partner_id).collect();
        for id in ids {
            let client = kd_kaltura::Client::new(kd_kaltura::ClientConfig::new(
                self.kaltura.base_url(),
                id,
            ))?;
            let secret = kd_kaltura::Secret::new(self.admin_secret(id));
            let privileges = kd_kaltura::Privileges::default();
            let ks = client
                .session_start(
                    &secret,
                    "",
                    kd_kaltura::SessionType::Admin,
                    3600,
                    &privileges,
                )
                .await
                .with_context(|| format!("an admin session of partner {id}"))?;
            let admin = client.with_ks(ks);
            for (event, name) in [("2", "Entry Added"), ("3", "Entry Changed")] {
                let template = json!({"eventNotificationTemplate": {
                    "objectType": "KalturaHttpNotificationTemplate", "name": format!("kaltura-discord: {name}"),
                    "systemName": format!("KALTURA_DISCORD_{}", name.to_uppercase().replace(' ', "_")),
                    "eventType": event, "eventObjectType": "1", "url": intake, "method": 2,
                    "contentType": "application/json", "secureHashingAlgo": 2,
                    "signSecret": self.webhook_secret(id),
                    "data": {"objectType": "KalturaHttpNotificationObjectData",
                             "apiObjectType": "KalturaMediaEntry", "format": 1},
                }});
                let added = admin.call(service, "add", template, NotIdempotent).await?;
                let status = json!({"id": added["id"], "status": 2});
                admin
                    .call(service, "updateStatus", status, NotIdempotent)
                    .await?;
            }
        }
        Ok(())
    }

    /// Creates what the manifests name and the Discord sandbox lacks: each guild with its id,
    /// its channels by name, the roles its rules and permissions name plus `Admins`, and one
    /// member per role (named after it) and one without any. Safe to call after every edit.
    pub fn seed(&self, catalog: &Catalog) -> anyhow::Result<()> {
        for wanted in wanted(catalog) {
            self.seed_guild(&wanted)?;
        }
        Ok(())
    }

    fn seed_guild(&self, wanted: &Wanted) -> anyhow::Result<()> {
        let discord = &self.discord;
        let id = wanted.id.to_string();
        let find = || {
            discord
                .guilds()
                .into_iter()
                .find(|g| g["id"] == id.as_str())
        };
        let guild = match find() {
            Some(guild) => guild,
            None => {
                discord
                    .create_guild(NewGuild {
                        name: wanted.title.clone(),
                        id: Some(wanted.id),
                        ..NewGuild::default()
                    })
                    .map_err(|e| anyhow::anyhow!("seeding guild {}: {e:?}", wanted.id))?;
                find().context("the seeded guild is listed")?
            }
        };
        let names = |field: &str| -> BTreeSet<String> {
            guild[field]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["name"].as_str().map(String::from))
                .collect()
        };
        let channels = names("channels");
        for name in wanted.channels.difference(&channels) {
            discord
                .create_channel(
                    wanted.id,
                    NewChannel {
                        name: name.clone(),
                        kind: 0,
                    },
                )
                .map_err(|e| anyhow::anyhow!("seeding channel {name}: {e:?}"))?;
        }
        let mut roles = role_ids(&guild);
        let missing: Vec<&String> = wanted
            .roles
            .iter()
            .filter(|r| !roles.iter().any(|(n, _)| n == *r))
            .collect();
        for name in missing {
            let permissions = if name == ADMINS { MANAGE_GUILD } else { 0 };
            let role = discord
                .create_role(
                    wanted.id,
                    NewRole {
                        name: name.clone(),
                        permissions,
                        mentionable: true,
                        ..NewRole::default()
                    },
                )
                .map_err(|e| anyhow::anyhow!("seeding role {name}: {e:?}"))?;
            roles.push((name.clone(), role.id));
        }
        let members: BTreeSet<String> = guild["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["user"]["username"].as_str().map(String::from))
            .collect();
        let people = wanted
            .roles
            .iter()
            .map(|role| (username(role), Some(role)))
            .chain([("member".to_string(), None)]);
        for (name, role) in people {
            if members.contains(&name) {
                continue;
            }
            let user = self.user(&name)?;
            let roles = role
                .and_then(|r| roles.iter().find(|(n, _)| n == r))
                .map(|(_, id)| vec![*id])
                .unwrap_or_default();
            discord
                .put_member(wanted.id, user, MemberSpec { roles, nick: None })
                .map_err(|e| anyhow::anyhow!("seeding member {name}: {e:?}"))?;
        }
        Ok(())
    }

    /// The user called `name`, made when there is none.
    fn user(&self, name: &str) -> anyhow::Result<u64> {
        let existing = self
            .discord
            .users()
            .into_iter()
            .find(|u| u["username"] == name)
            .and_then(|u| u["id"].as_str().and_then(|id| id.parse().ok()));
        if let Some(id) = existing {
            return Ok(id);
        }
        let user = self
            .discord
            .create_user(NewUser {
                username: name.to_string(),
                ..NewUser::default()
            })
            .map_err(|e| anyhow::anyhow!("seeding user {name}: {e:?}"))?;
        Ok(user.id)
    }
}

fn role_ids(guild: &Value) -> Vec<(String, u64)> {
    guild["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let id = r["id"].as_str()?.parse().ok()?;
            Some((r["name"].as_str()?.to_string(), id))
        })
        .collect()
}

/// A seeded member's name: the role's, lower case, in Discord's username alphabet.
fn username(role: &str) -> String {
    let name: String = role
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if name.is_empty() {
        "member_role".into()
    } else {
        name
    }
}

/// What one guild of the manifests needs in Discord.
#[derive(Debug, PartialEq)]
struct Wanted {
    id: u64,
    title: String,
    channels: BTreeSet<String>,
    roles: BTreeSet<String>,
}

/// Channel and role references that are names (ids name things the sandbox cannot make).
fn is_name(reference: &str) -> bool {
    !reference.is_empty() && !reference.chars().all(|c| c.is_ascii_digit())
}

/// "physics-101" -> "Physics 101".
fn title(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn wanted(catalog: &Catalog) -> Vec<Wanted> {
    catalog
        .guilds
        .iter()
        .filter_map(|guild| {
            let id = guild.spec.guild_id.parse().ok()?;
            let name = guild.metadata.name.clone().unwrap_or_default();
            let ns = guild.metadata.namespace.clone();
            let ours = |r: &kd_crds::LocalRef, other_ns: &Option<String>| {
                r.name == name && *other_ns == ns
            };
            let c = &guild.spec.channels;
            let mut channels: BTreeSet<String> = [&c.default, &c.meetings, &c.recordings]
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            let mut roles: BTreeSet<String> = guild
                .spec
                .commands
                .permissions
                .values()
                .flatten()
                .cloned()
                .collect();
            roles.insert(ADMINS.into());
            for mapping in &catalog.role_mappings {
                if ours(&mapping.spec.guild_config_ref, &mapping.metadata.namespace) {
                    roles.extend(
                        mapping
                            .spec
                            .rules
                            .iter()
                            .filter_map(|r| r.discord_role.name.clone()),
                    );
                }
            }
            for rule in &catalog.notification_rules {
                if ours(&rule.spec.guild_config_ref, &rule.metadata.namespace) {
                    channels.insert(rule.spec.channel.clone());
                    roles.extend(rule.spec.mention_roles.iter().cloned());
                }
            }
            channels.retain(|c| is_name(c));
            roles.retain(|r| is_name(r));
            Some(Wanted {
                id,
                title: title(&name),
                channels,
                roles,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kd_controller::manifests;
    use std::path::Path;

    #[test]
    fn the_examples_want_their_channels_roles_and_ids() {
        let loaded =
            manifests::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")).unwrap();
        let wanted = wanted(&loaded.catalog);
        let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            wanted,
            [
                Wanted {
                    id: 1190362518471238751,
                    title: "Film Club".into(),
                    channels: set(&["screenings"]),
                    roles: set(&["Admins", "Organizers"]),
                },
                Wanted {
                    id: 1283874310720716890,
                    title: "Physics 101".into(),
                    channels: set(&["general", "lectures", "recordings"]),
                    roles: set(&["Admins", "Students", "TA", "Teacher"]),
                },
            ]
        );
        assert_eq!(username("TA"), "ta");
        assert_eq!(username("Teaching Staff"), "teaching_staff");
    }
}
