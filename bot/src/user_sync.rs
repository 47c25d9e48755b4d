//! User sync at the bot's edge (GuildConfig `features.userSync`): a member's first use, a
//! GUILD_MEMBER_UPDATE and a periodic pass over the guild's members each bring the Kaltura user
//! `discord_<id>` to what [`kd_core::user_sync`] says it should be. All of it runs in background
//! tasks: an interaction's answer never waits for Kaltura, and a Kaltura failure is logged and
//! counted, never shown to the member.

use crate::metrics::{Metrics, UserSyncLabels};
use kd_core::config::{GuildRuntime, PartnerRuntime, RuntimeConfig};
use kd_core::kaltura::KalturaClients;
use kd_core::roles::GuildRole;
use kd_core::scope::Member;
use kd_core::user_sync::{self, Change, DesiredUser, RoleDirectory};
use kd_kaltura::types::{Pager, User};
use kd_kaltura::{Client, UserError, UserFilter};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::Semaphore;
use twilight_model::id::Id;
use twilight_model::id::marker::{GuildMarker, RoleMarker};

/// Kaltura calls of user sync in flight at once, over all triggers: a pass over a large guild
/// must not crowd out the calls that answer members.
const CONCURRENCY: usize = 4;

/// Members per page of Discord's List Guild Members (its maximum).
const MEMBERS_PAGE: u16 = 1000;

/// Users per `user.list` (Kaltura's largest page).
const USERS_PAGE: usize = 500;

/// Members remembered as synced; past this the memory starts over (a later use syncs again).
const REMEMBERED: usize = 100_000;

/// What started a sync, for metrics and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    FirstUse,
    MemberUpdate,
    Reconcile,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::FirstUse => "first_use",
            Trigger::MemberUpdate => "member_update",
            Trigger::Reconcile => "reconcile",
        }
    }
}

/// How one member's sync ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Added,
    Updated,
    /// Kaltura was found holding what is wanted.
    Unchanged,
    /// Kaltura was made or seen to hold it before: no call made.
    Remembered,
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Added => "added",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::Remembered => "remembered",
            Outcome::Failed => "failed",
        }
    }
}

/// The member's name as Discord shows it in the guild: nickname, global name, username.
pub fn member_name(nick: Option<&str>, user: &twilight_model::user::User) -> String {
    nick.or(user.global_name.as_deref())
        .unwrap_or(&user.name)
        .to_string()
}

/// A member of a guild (from the gateway or REST), as user sync needs it.
pub fn member_of(
    nick: Option<&str>,
    user: &twilight_model::user::User,
    roles: &[Id<RoleMarker>],
) -> Member {
    Member {
        id: user.id.to_string(),
        display_name: member_name(nick, user),
        roles: roles.iter().map(ToString::to_string).collect(),
        manages_guild: false,
    }
}

/// The guild's sync setup: its partner and RoleMapping, when `features.userSync` is on.
pub struct Target {
    pub partner: PartnerRuntime,
    pub guild: GuildRuntime,
}

impl Target {
    /// The target of `guild_id` when the guild syncs users (`features` as in effect, overrides
    /// included) and its partner is configured.
    pub fn of(config: &RuntimeConfig, guild: &GuildRuntime) -> Option<Target> {
        if !guild.features.user_sync {
            return None;
        }
        let partner = config.partners.get(&guild.partner)?.clone();
        Some(Target {
            partner,
            guild: guild.clone(),
        })
    }

    fn key(&self, user_id: &str) -> (String, String) {
        (partner_key(&self.partner), user_id.to_string())
    }
}

fn partner_key(partner: &PartnerRuntime) -> String {
    format!("{}@{}", partner.partner_id, partner.service_url)
}

pub struct UserSync {
    kaltura: KalturaClients,
    limit: Semaphore,
    /// userRole ids of the built-in levels, per partner.
    directories: Mutex<HashMap<String, RoleDirectory>>,
    /// What Kaltura was last seen or made to hold, per (partner, Kaltura user id): a use that
    /// would change nothing makes no Kaltura call.
    synced: Mutex<HashMap<(String, String), DesiredUser>>,
}

impl UserSync {
    pub fn new(kaltura: KalturaClients) -> Self {
        Self {
            kaltura,
            limit: Semaphore::new(CONCURRENCY),
            directories: Mutex::new(HashMap::new()),
            synced: Mutex::new(HashMap::new()),
        }
    }

    /// Syncs one member (first use, member update) unless Kaltura is known to hold it already.
    pub async fn sync_member(
        &self,
        metrics: &Metrics,
        trigger: Trigger,
        target: &Target,
        guild_roles: &[GuildRole],
        member: &Member,
    ) {
        let result = async {
            let client = self.client(&target.partner)?;
            let directory = self.directory(&target.partner, &client).await?;
            let wanted = user_sync::desired(member, guild_roles, &target.guild.roles, &directory);
            let key = target.key(&wanted.id);
            if self.synced.lock().expect("sync lock").get(&key) == Some(&wanted) {
                return Ok(Outcome::Remembered);
            }
            let _slot = self.limit.acquire().await.expect("never closed");
            let existing = match client.user_get(&wanted.id).await {
                Ok(user) => Some(user),
                Err(UserError::NotFound(_)) => None,
                Err(err) => return Err(Failed::Kaltura(err)),
            };
            self.apply(&client, &key, &wanted, existing).await
        }
        .await;
        self.count(
            metrics,
            trigger,
            &member.id,
            result.map_err(|f| f.to_string()),
        );
    }

    /// One pass over the guild's members: repairs what differs in Kaltura, whatever this bot
    /// remembers. Members come from Discord a page at a time, their users from Kaltura by id.
    pub async fn reconcile(
        &self,
        metrics: &Metrics,
        http: &twilight_http::Client,
        guild_id: &str,
        target: &Target,
        guild_roles: &[GuildRole],
    ) -> Result<usize, String> {
        let guild: Id<GuildMarker> = guild_id
            .parse()
            .map_err(|_| format!("guild id {guild_id} is not a snowflake"))?;
        let client = self.client(&target.partner).map_err(|f| f.to_string())?;
        // Roles may have changed in Kaltura since the last pass.
        self.directories
            .lock()
            .expect("directory lock")
            .remove(&partner_key(&target.partner));
        let directory = self
            .directory(&target.partner, &client)
            .await
            .map_err(|f| f.to_string())?;
        let mut after = None;
        let mut seen = 0;
        loop {
            let mut request = http.guild_members(guild).limit(MEMBERS_PAGE);
            if let Some(after) = after {
                request = request.after(after);
            }
            let page = request
                .await
                .map_err(|e| format!("listing guild members failed: {e}"))?
                .models()
                .await
                .map_err(|e| format!("reading guild members failed: {e}"))?;
            after = page.last().map(|m| m.user.id);
            let members: Vec<Member> = page
                .iter()
                .filter(|m| !m.user.bot)
                .map(|m| member_of(m.nick.as_deref(), &m.user, &m.roles))
                .collect();
            seen += members.len();
            for chunk in members.chunks(USERS_PAGE) {
                self.reconcile_chunk(metrics, &client, target, guild_roles, &directory, chunk)
                    .await;
            }
            if page.len() < usize::from(MEMBERS_PAGE) {
                return Ok(seen);
            }
        }
    }

    async fn reconcile_chunk(
        &self,
        metrics: &Metrics,
        client: &Client,
        target: &Target,
        guild_roles: &[GuildRole],
        directory: &RoleDirectory,
        members: &[Member],
    ) {
        let wanted: Vec<(&Member, DesiredUser)> = members
            .iter()
            .map(|m| {
                let desired = user_sync::desired(m, guild_roles, &target.guild.roles, directory);
                (m, desired)
            })
            .collect();
        let filter = UserFilter {
            id_in: wanted.iter().map(|(_, w)| w.id.clone()).collect(),
            ..UserFilter::default()
        };
        let existing: HashMap<String, User> = {
            let _slot = self.limit.acquire().await.expect("never closed");
            match client
                .user_list(&filter, Pager::new(USERS_PAGE as u32, 1))
                .await
            {
                Ok(list) => list
                    .objects
                    .into_iter()
                    .map(|u| (u.id.clone(), u))
                    .collect(),
                Err(err) => {
                    tracing::warn!(error = %err, members = wanted.len(), "user sync: listing Kaltura users failed; the next pass tries again");
                    tally(
                        metrics,
                        Trigger::Reconcile,
                        Outcome::Failed,
                        wanted.len() as u64,
                    );
                    return;
                }
            }
        };
        let work = wanted.into_iter().map(|(member, desired)| {
            let existing = existing.get(&desired.id).cloned();
            async move {
                let key = target.key(&desired.id);
                let result = {
                    let _slot = self.limit.acquire().await.expect("never closed");
                    self.apply(client, &key, &desired, existing).await
                };
                self.count(
                    metrics,
                    Trigger::Reconcile,
                    &member.id,
                    result.map_err(|f| f.to_string()),
                );
            }
        });
        futures_util::future::join_all(work).await;
    }

    /// Sends the planned change and remembers what Kaltura holds now. An add that finds the
    /// user created meanwhile (by another trigger or replica) becomes an update.
    async fn apply(
        &self,
        client: &Client,
        key: &(String, String),
        wanted: &DesiredUser,
        existing: Option<User>,
    ) -> Result<Outcome, Failed> {
        let outcome = match user_sync::plan(wanted, existing.as_ref()) {
            Change::Nothing => Outcome::Unchanged,
            Change::Update(input) => {
                client.user_update(&wanted.id, &input).await?;
                Outcome::Updated
            }
            Change::Add(input) => match client.user_add(&input).await {
                Ok(_) => Outcome::Added,
                Err(UserError::DuplicateId(_)) => {
                    let now = client.user_get(&wanted.id).await?;
                    if let Change::Update(input) = user_sync::plan(wanted, Some(&now)) {
                        client.user_update(&wanted.id, &input).await?;
                    }
                    Outcome::Updated
                }
                Err(err) => return Err(err.into()),
            },
        };
        let mut synced = self.synced.lock().expect("sync lock");
        if synced.len() >= REMEMBERED {
            synced.clear();
        }
        synced.insert(key.clone(), wanted.clone());
        Ok(outcome)
    }

    fn client(&self, partner: &PartnerRuntime) -> Result<Client, Failed> {
        self.kaltura
            .client(partner)
            .map_err(|f| Failed::Setup(f.to_string()))
    }

    async fn directory(
        &self,
        partner: &PartnerRuntime,
        client: &Client,
    ) -> Result<RoleDirectory, Failed> {
        let key = partner_key(partner);
        if let Some(found) = self.directories.lock().expect("directory lock").get(&key) {
            return Ok(found.clone());
        }
        let roles = {
            let _slot = self.limit.acquire().await.expect("never closed");
            client
                .user_role_list(Pager::new(USERS_PAGE as u32, 1))
                .await
                .map_err(|e| Failed::Kaltura(e.into()))?
        };
        let directory = RoleDirectory::from_roles(&roles.objects);
        self.directories
            .lock()
            .expect("directory lock")
            .insert(key, directory.clone());
        Ok(directory)
    }

    fn count(
        &self,
        metrics: &Metrics,
        trigger: Trigger,
        member: &str,
        result: Result<Outcome, String>,
    ) {
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(failed) => {
                tracing::warn!(
                    trigger = trigger.as_str(),
                    member,
                    error = %failed,
                    "user sync failed; the next use or pass tries again"
                );
                Outcome::Failed
            }
        };
        if matches!(outcome, Outcome::Added | Outcome::Updated) {
            tracing::info!(
                trigger = trigger.as_str(),
                member,
                outcome = outcome.as_str(),
                "synced the Kaltura user"
            );
        }
        tally(metrics, trigger, outcome, 1);
    }
}

fn tally(metrics: &Metrics, trigger: Trigger, outcome: Outcome, n: u64) {
    metrics
        .user_syncs
        .get_or_create(&UserSyncLabels {
            trigger: trigger.as_str().to_string(),
            outcome: outcome.as_str().to_string(),
        })
        .inc_by(n);
}

/// Why a member's sync failed.
#[derive(Debug, thiserror::Error)]
enum Failed {
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Kaltura(#[from] UserError),
}
