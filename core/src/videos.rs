//! Videos of the guild's partner: search, look up, share (a player link and the guild's
//! announcement), and Watch Together (queued for the Activity, or a player link without one).

use crate::error::Failure;
use crate::gate::Allowed;
use crate::services::Services;
use kd_crds::template;
use kd_kaltura::types::{MediaEntry, MediaFilter, Pager};

/// Results per page when none is asked for, and at most (what one Discord message can hold
/// with a Watch and a Share button per result and a pager row).
pub const DEFAULT_PAGE_SIZE: u32 = 5;
pub const MAX_PAGE_SIZE: u32 = 8;
/// The longest query (what a pagination button's custom id can carry).
pub const MAX_QUERY: usize = 60;
/// Kaltura pages through the first 10,000 results.
pub const MAX_PAGE: u32 = 1000;
/// Suggestions offered while a member types.
const SUGGESTIONS: u32 = 10;

/// A video as the bot and the API show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Video {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub duration_secs: Option<i64>,
    pub thumbnail_url: Option<String>,
    /// Kaltura user id of the owner.
    pub owner: Option<String>,
}

impl From<MediaEntry> for Video {
    fn from(entry: MediaEntry) -> Self {
        Self {
            id: entry.id,
            name: entry.name,
            description: entry.description,
            duration_secs: entry.duration,
            thumbnail_url: entry.thumbnail_url,
            owner: entry.user_id,
        }
    }
}

/// A search, checked: a query of 1 to [`MAX_QUERY`] characters (trimmed), a page of 1 to
/// [`MAX_PAGE`], and 1 to [`MAX_PAGE_SIZE`] results per page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    pub query: String,
    pub page: u32,
    pub limit: u32,
}

impl Search {
    pub fn new(query: &str, page: Option<u32>, limit: Option<u32>) -> Result<Self, Failure> {
        let query = query.trim();
        if query.is_empty() {
            return Err(Failure::invalid("What should I look for?"));
        }
        if query.chars().count() > MAX_QUERY {
            return Err(Failure::invalid(format!(
                "The query is longer than {MAX_QUERY} characters."
            )));
        }
        let page = page.unwrap_or(1);
        if !(1..=MAX_PAGE).contains(&page) {
            return Err(Failure::invalid(format!(
                "The page must be between 1 and {MAX_PAGE}."
            )));
        }
        let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(Failure::invalid(format!(
                "The limit must be between 1 and {MAX_PAGE_SIZE}."
            )));
        }
        Ok(Self {
            query: query.to_string(),
            page,
            limit,
        })
    }
}

/// One page of results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchPage {
    pub videos: Vec<Video>,
    pub page: u32,
    pub limit: u32,
    /// Matches in all.
    pub total: i64,
}

/// A Kaltura entry id: short, of letters, digits and underscores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryId(String);

impl EntryId {
    pub fn parse(id: &str) -> Result<Self, Failure> {
        let id = id.trim();
        let ok = (1..=64).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(Self(id.to_string()))
        } else {
            Err(Failure::invalid("That is not a Kaltura entry id."))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A video with its player link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Playback {
    pub video: Video,
    /// Kaltura's player page of the video.
    pub player_url: String,
}

/// How a video is watched together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Watching {
    /// Queued for the Activity in the channel, which opens on it.
    Activity,
    /// The application has no Activity: the player page alone.
    Player { url: String },
}

/// Kaltura's public player page of an entry.
pub fn player_url(
    service_url: &str,
    partner_id: i64,
    ui_conf_id: Option<i64>,
    entry_id: &str,
) -> String {
    let base = service_url.trim_end_matches('/');
    match ui_conf_id {
        Some(ui) => format!(
            "{base}/index.php/extwidget/preview/partner_id/{partner_id}/uiconf_id/{ui}/entry_id/{entry_id}/embed/dynamic"
        ),
        None => format!(
            "{base}/p/{partner_id}/sp/{partner_id}00/playManifest/entryId/{entry_id}/format/url/protocol/https"
        ),
    }
}

/// `h:mm:ss` or `m:ss`.
pub fn duration(secs: Option<i64>) -> String {
    match secs {
        Some(s) if s >= 3600 => format!("{}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60),
        Some(s) if s >= 0 => format!("{}:{:02}", s / 60, s % 60),
        _ => "unknown length".to_string(),
    }
}

fn player_of(who: &Allowed, entry_id: &str) -> Result<String, Failure> {
    let partner = who.partner()?;
    Ok(player_url(
        &partner.service_url,
        partner.partner_id,
        partner.player_ui_conf_id,
        entry_id,
    ))
}

pub async fn search(
    svc: &Services<'_>,
    who: &Allowed,
    search: &Search,
) -> Result<SearchPage, Failure> {
    let results = who
        .client(svc.kaltura)?
        .search_entries(&search.query, Pager::new(search.limit, search.page))
        .await
        .map_err(Failure::kaltura)?;
    Ok(SearchPage {
        videos: results.entries.into_iter().map(Video::from).collect(),
        page: search.page,
        limit: search.limit,
        total: results.total_count,
    })
}

pub async fn get(svc: &Services<'_>, who: &Allowed, id: &EntryId) -> Result<Video, Failure> {
    let entry = who
        .client(svc.kaltura)?
        .media_get(id.as_str())
        .await
        .map_err(Failure::kaltura)?;
    Ok(entry.into())
}

/// The video and its player page.
pub async fn playback(
    svc: &Services<'_>,
    who: &Allowed,
    id: &EntryId,
) -> Result<Playback, Failure> {
    let video = get(svc, who, id).await?;
    Ok(Playback {
        player_url: player_of(who, &video.id)?,
        video,
    })
}

/// The text sharing a video, from the guild's template (or the default), by the member.
pub async fn share(svc: &Services<'_>, who: &Allowed, id: &EntryId) -> Result<String, Failure> {
    let Playback { video, player_url } = playback(svc, who, id).await?;
    let template = who
        .guild
        .effective
        .templates
        .video_shared
        .as_deref()
        .unwrap_or(DEFAULT_VIDEO_SHARED);
    let values = |name: &str| -> Option<String> {
        Some(match name {
            "entryId" => video.id.clone(),
            "name" => video.name.clone(),
            "duration" => duration(video.duration_secs),
            "owner" => video.owner.clone().unwrap_or_default(),
            "url" => player_url.clone(),
            "sharedBy" => who.member.display_name.clone(),
            _ => return None,
        })
    };
    template::render(template, &values).map_err(Failure::Template)
}

/// Watch a video together in `channel_id`: the entry is checked and queued for the Activity
/// to open on; without an Activity, its player page.
pub async fn watch(
    svc: &Services<'_>,
    who: &Allowed,
    id: &EntryId,
    channel_id: &str,
) -> Result<Watching, Failure> {
    if !who.config.application.activity_enabled {
        return Ok(Watching::Player {
            url: player_of(who, id.as_str())?,
        });
    }
    let video = get(svc, who, id).await?;
    svc.store
        .queue_watch(&who.guild_id, channel_id, &video.id, &who.member.id)
        .await
        .map_err(|e| Failure::Store("queue the video", e.to_string()))?;
    Ok(Watching::Activity)
}

/// Videos to offer while a member types: the newest when nothing is typed yet.
pub async fn suggest(
    svc: &Services<'_>,
    who: &Allowed,
    typed: &str,
) -> Result<Vec<Video>, Failure> {
    let client = who.client(svc.kaltura)?;
    let pager = Pager::new(SUGGESTIONS, 1);
    let entries = if typed.is_empty() {
        let recent = MediaFilter {
            order_by: Some("-createdAt".into()),
            ..MediaFilter::default()
        };
        client.media_list(&recent, pager).await.map(|l| l.objects)
    } else {
        client.search_entries(typed, pager).await.map(|r| r.entries)
    };
    Ok(entries
        .map_err(Failure::kaltura)?
        .into_iter()
        .map(Video::from)
        .collect())
}

const DEFAULT_VIDEO_SHARED: &str =
    "{{ sharedBy }} shared **{{ name }}** ({{ duration }}): {{ url }}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_are_checked_and_defaulted() {
        assert_eq!(
            Search::new(" physics ", None, None).unwrap(),
            Search {
                query: "physics".into(),
                page: 1,
                limit: DEFAULT_PAGE_SIZE
            }
        );
        for (query, page, limit) in [
            ("  ", None, None),
            (&*"q".repeat(61), None, None),
            ("q", Some(0), None),
            ("q", Some(1001), None),
            ("q", None, Some(9)),
            ("q", None, Some(0)),
        ] {
            assert!(
                matches!(Search::new(query, page, limit), Err(Failure::Invalid(_))),
                "{query:?} {page:?} {limit:?}"
            );
        }
    }

    #[test]
    fn entry_ids_are_short_words() {
        assert_eq!(EntryId::parse("0_abc123").unwrap().as_str(), "0_abc123");
        for bad in ["", "0_abc/../x", "a b", &"x".repeat(65)] {
            assert!(EntryId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn player_urls_use_the_ui_conf_when_there_is_one() {
        assert_eq!(
            player_url("https://www.kaltura.com/", 42, Some(7), "1_abc"),
            "https://www.kaltura.com/index.php/extwidget/preview/partner_id/42/uiconf_id/7/entry_id/1_abc/embed/dynamic"
        );
        assert!(
            player_url("https://k", 42, None, "1_abc").contains("/playManifest/entryId/1_abc/")
        );
        assert_eq!(duration(Some(3725)), "1:02:05");
        assert_eq!(duration(Some(65)), "1:05");
        assert_eq!(duration(None), "unknown length");
    }
}
