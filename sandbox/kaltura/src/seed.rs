//! Realistic, deterministic seed data: courses with lectures, a category tree, users and roles.

use serde_json::{Value, json};

/// Seed time: 2025-09-01T00:00:00Z, so ids and dates are the same on every run.
pub const SEED_EPOCH: i64 = 1_756_684_800;

/// Courses: (category name, course code, instructor user id, lecture topics, tags).
const COURSES: &[(&str, &str, &str, &[&str], &str)] = &[
    (
        "Physics",
        "PHYS 101",
        "prof.curie",
        &[
            "Units, Measurement and Vectors",
            "Newton's Laws of Motion",
            "Work, Energy and Power",
            "Momentum and Collisions",
            "Rotational Dynamics",
            "Gravitation and Orbits",
            "Oscillations and Waves",
            "Thermodynamics: The First Law",
        ],
        "physics,mechanics,lecture",
    ),
    (
        "Mathematics",
        "MATH 221",
        "prof.noether",
        &[
            "Limits and Continuity",
            "Derivatives and the Chain Rule",
            "Applications of Differentiation",
            "The Definite Integral",
            "Techniques of Integration",
            "Sequences and Series",
            "Vectors and the Geometry of Space",
        ],
        "math,calculus,lecture",
    ),
    (
        "Computer Science",
        "CS 50",
        "prof.hopper",
        &[
            "Introduction to Algorithms",
            "Arrays, Strings and Memory",
            "Sorting: Bubble, Merge and Quick Sort",
            "Data Structures: Lists, Trees and Hash Tables",
            "Recursion and Dynamic Programming",
            "Networking and the Internet",
            "Databases and SQL",
            "Web Programming with HTTP",
            "Concurrency and Async Rust",
        ],
        "cs,programming,lecture",
    ),
    (
        "Biology",
        "BIO 110",
        "prof.franklin",
        &[
            "Cells: The Unit of Life",
            "DNA Structure and Replication",
            "Gene Expression",
            "Evolution and Natural Selection",
            "Ecology and Ecosystems",
            "Human Physiology: The Heart",
        ],
        "biology,life-science,lecture",
    ),
    (
        "History",
        "HIST 205",
        "prof.tuchman",
        &[
            "The Printing Press and the Reformation",
            "The Scientific Revolution",
            "The Industrial Revolution",
            "The Age of Empires",
            "The Cold War",
        ],
        "history,humanities,lecture",
    ),
];

/// Non-course videos owned by staff, in the "Campus Events" category.
const EVENTS: &[(&str, &str, &str)] = &[
    (
        "Welcome Week Keynote 2025",
        "The president's address to new students.",
        "events,keynote,welcome",
    ),
    (
        "Library Orientation Tour",
        "How to find books, journals and quiet study rooms.",
        "library,orientation,howto",
    ),
    (
        "Research Symposium Highlights",
        "Short talks from this year's undergraduate research symposium.",
        "research,symposium,events",
    ),
    (
        "Career Fair: Preparing Your CV",
        "Workshop on writing a CV and preparing for interviews.",
        "career,workshop,howto",
    ),
    (
        "Graduation Ceremony 2025",
        "Full recording of the spring graduation ceremony.",
        "graduation,ceremony,events",
    ),
    (
        "Campus Sustainability Panel",
        "Faculty and students discuss the campus climate plan.",
        "sustainability,panel,events",
    ),
];

/// Every seeded entry is as long as the clip it plays: 60 to 120 s, no two alike (13 and 61 are
/// coprime), short enough for ffmpeg to make at test time.
fn clip_seconds(n: u64) -> i64 {
    60 + ((n * 13) % 61) as i64
}

pub struct Seed {
    pub entries: Vec<Value>,
    pub users: Vec<Value>,
    pub roles: Vec<Value>,
    pub categories: Vec<Value>,
}

/// Kaltura-style entry id: `0_` and 8 base-36 characters.
pub fn entry_id(n: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    // Spread consecutive numbers over the id space (odd multiplier mod 36^8 is a bijection).
    let mut x = (n.wrapping_mul(2_654_435_761) + 1_234_567) % 2_821_109_907_456;
    let mut id = [b'0'; 8];
    for slot in id.iter_mut().rev() {
        *slot = ALPHABET[(x % 36) as usize];
        x /= 36;
    }
    format!("0_{}", String::from_utf8_lossy(&id))
}

pub fn seed(partner_id: i64, base_url: &str) -> Seed {
    let roles = vec![
        role(
            partner_id,
            1001,
            "Viewer",
            "PRIVATE_ONLY_VIEWER_ROLE",
            "Can watch content shared with them",
        ),
        role(
            partner_id,
            1002,
            "Moderator",
            "CONTENT_MODERATOR_ROLE",
            "Can approve and manage content",
        ),
        role(
            partner_id,
            1003,
            "Publisher Administrator",
            "PARTNER_ADMIN_ROLE",
            "Full access to the account",
        ),
        role(
            partner_id,
            1004,
            "Teaching Assistant",
            "TEACHING_ASSISTANT_ROLE",
            "Moderates course channels",
        ),
    ];

    let mut categories = vec![category(
        partner_id,
        100,
        "MediaSpace",
        None,
        "MediaSpace",
        "100",
    )];
    categories.push(category(
        partner_id,
        101,
        "Courses",
        Some(100),
        "MediaSpace>Courses",
        "100>101",
    ));
    categories.push(category(
        partner_id,
        102,
        "Campus Events",
        Some(100),
        "MediaSpace>Campus Events",
        "100>102",
    ));

    let mut users = Vec::new();
    let mut entries = Vec::new();
    let mut n = 0u64;
    for (ci, (subject, code, instructor, topics, tags)) in COURSES.iter().enumerate() {
        let cat_id = 110 + ci as i64;
        let full_name = format!("MediaSpace>Courses>{subject}");
        categories.push(category(
            partner_id,
            cat_id,
            subject,
            Some(101),
            &full_name,
            &format!("100>101>{cat_id}"),
        ));
        let (first, last) = instructor_name(instructor);
        users.push(user(partner_id, instructor, first, last, "1003", true));
        for (li, topic) in topics.iter().enumerate() {
            n += 1;
            let name = format!("{code} Lecture {}: {topic}", li + 1);
            let description = format!(
                "{subject} ({code}), lecture {} of {}: {topic}. Recorded in the main lecture hall.",
                li + 1,
                topics.len()
            );
            let duration = clip_seconds(n);
            let video = Video {
                n,
                name: &name,
                description: &description,
                tags,
                category: (&full_name, cat_id),
                duration,
                owner: instructor,
                access_control: crate::playback::KS_PROTECTED_PROFILE,
            };
            entries.push(video.entry(partner_id, base_url));
        }
    }
    for (name, description, tags) in EVENTS {
        n += 1;
        let duration = clip_seconds(n);
        let video = Video {
            n,
            name,
            description,
            tags,
            category: ("MediaSpace>Campus Events", 102),
            duration,
            owner: "media.team",
            access_control: crate::playback::OPEN_PROFILE,
        };
        entries.push(video.entry(partner_id, base_url));
    }
    users.push(user(
        partner_id,
        "media.team",
        "Media",
        "Team",
        "1002",
        true,
    ));
    for (i, (first, last)) in [
        ("Ada", "Lovelace"),
        ("Alan", "Turing"),
        ("Katherine", "Johnson"),
        ("Tim", "Berners-Lee"),
        ("Rosalind", "Picard"),
    ]
    .iter()
    .enumerate()
    {
        let id = format!("{}.{}", first.to_lowercase(), last.to_lowercase());
        let role = if i == 0 { "1004" } else { "1001" };
        users.push(user(partner_id, &id, first, last, role, false));
    }
    Seed {
        entries,
        users,
        roles,
        categories,
    }
}

fn instructor_name(id: &str) -> (&'static str, &'static str) {
    match id {
        "prof.curie" => ("Marie", "Curie"),
        "prof.noether" => ("Emmy", "Noether"),
        "prof.hopper" => ("Grace", "Hopper"),
        "prof.franklin" => ("Rosalind", "Franklin"),
        _ => ("Barbara", "Tuchman"),
    }
}

fn role(partner_id: i64, id: i64, name: &str, system_name: &str, description: &str) -> Value {
    json!({
        "objectType": "KalturaUserRole", "id": id, "name": name, "systemName": system_name,
        "description": description, "status": 1, "partnerId": partner_id,
        "permissionNames": "KMC_ACCESS,CONTENT_MANAGE_BASE", "tags": "kmc",
        "createdAt": SEED_EPOCH, "updatedAt": SEED_EPOCH,
    })
}

fn category(
    partner_id: i64,
    id: i64,
    name: &str,
    parent: Option<i64>,
    full_name: &str,
    full_ids: &str,
) -> Value {
    json!({
        "objectType": "KalturaCategory", "id": id, "name": name, "parentId": parent.unwrap_or(0),
        "depth": full_ids.matches('>').count(), "partnerId": partner_id, "fullName": full_name,
        "fullIds": full_ids, "entriesCount": 0, "description": format!("{name} videos"), "tags": "",
        "status": 2, "createdAt": SEED_EPOCH, "updatedAt": SEED_EPOCH,
    })
}

pub fn user(
    partner_id: i64,
    id: &str,
    first: &str,
    last: &str,
    role_ids: &str,
    is_admin: bool,
) -> Value {
    json!({
        "objectType": "KalturaUser", "id": id, "partnerId": partner_id, "type": 0,
        "screenName": format!("{first} {last}"), "fullName": format!("{first} {last}"),
        "firstName": first, "lastName": last, "email": format!("{id}@campus.example"),
        "status": 1, "isAdmin": is_admin, "roleIds": role_ids, "tags": "",
        "createdAt": SEED_EPOCH, "updatedAt": SEED_EPOCH,
    })
}

/// One seeded video; `n` numbers it (and so its id and creation day).
struct Video<'a> {
    n: u64,
    name: &'a str,
    description: &'a str,
    tags: &'a str,
    /// Full name and id.
    category: (&'a str, i64),
    duration: i64,
    owner: &'a str,
    /// Lectures are private (KS with the view privilege), campus events public.
    access_control: i64,
}

impl Video<'_> {
    fn entry(&self, partner_id: i64, base_url: &str) -> Value {
        let Video {
            n,
            name,
            description,
            tags,
            category: (category_name, category_id),
            duration,
            owner,
            access_control,
        } = *self;
        let id = entry_id(n);
        let created = SEED_EPOCH + (n as i64) * 86_400;
        json!({
            "objectType": "KalturaMediaEntry", "id": id, "name": name, "description": description,
            "partnerId": partner_id, "userId": owner, "creatorId": owner, "tags": tags,
            "categories": category_name, "categoriesIds": category_id.to_string(),
            "status": "2", "moderationStatus": 6, "type": "1", "mediaType": 1,
            "createdAt": created, "updatedAt": created, "duration": duration, "msDuration": duration * 1000,
            "accessControlId": access_control,
            "plays": (n * 37) % 500, "views": (n * 53) % 900, "flavorParamsIds": "0",
            "thumbnailUrl": format!("{base_url}/p/{partner_id}/thumbnail/entry_id/{id}"),
            "dataUrl": format!("{base_url}/p/{partner_id}/sp/{partner_id}00/playManifest/entryId/{id}/format/url/protocol/http/a.mp4"),
            "downloadUrl": format!("{base_url}/p/{partner_id}/sp/{partner_id}00/playManifest/entryId/{id}/format/download/protocol/http/flavorParamsId/0"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn seed_is_sizeable_and_ids_unique() {
        let seed = seed(1, "http://x");
        assert!(seed.entries.len() >= 35, "{}", seed.entries.len());
        let ids: HashSet<_> = seed
            .entries
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), seed.entries.len());
        assert!(ids.iter().all(|id| id.len() == 10 && id.starts_with("0_")));
        assert!(seed.users.len() >= 10);
        let durations: HashSet<_> = seed
            .entries
            .iter()
            .map(|e| e["duration"].as_i64().unwrap())
            .collect();
        assert_eq!(
            durations.len(),
            seed.entries.len(),
            "every clip has its own length"
        );
    }
}
