//! Builders of the custom resources tests apply or reconcile, in the manner of kube-rs'
//! controller-rs fixtures: a valid object from a name, changed with [`Fixture::with`].
//!
//! Each starts from the few fields a user writes and takes the rest from the CRD types' own
//! defaults, as a manifest read from YAML would.

use k8s_openapi::api::core::v1::Secret;
use kd_crds::{DiscordApplication, GuildConfig, KalturaPartner};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The namespace fixtures live in unless moved.
pub const NAMESPACE: &str = "kaltura";

/// Chained changes to a fixture.
pub trait Fixture: Sized {
    /// The object after `edit`, so a test states only what differs from the fixture.
    fn with(mut self, edit: impl FnOnce(&mut Self)) -> Self {
        edit(&mut self);
        self
    }
}

impl Fixture for KalturaPartner {}
impl Fixture for DiscordApplication {}
impl Fixture for GuildConfig {}
impl Fixture for Secret {}

fn object<K: DeserializeOwned>(kind: &str, name: &str, spec: Value) -> K {
    serde_json::from_value(json!({
        "apiVersion": "kaltura-discord.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }))
    .unwrap_or_else(|e| panic!("the {kind} fixture fits its type: {e}"))
}

/// A partner whose admin secret is key `adminSecret` of Secret `kaltura`.
pub fn partner(name: &str) -> KalturaPartner {
    object(
        "KalturaPartner",
        name,
        json!({
            "partnerId": 2365491,
            "serviceUrl": "https://www.kaltura.com",
            "adminSecretRef": {"name": "kaltura", "key": "adminSecret"},
        }),
    )
}

/// An application whose bot token is key `botToken` of Secret `discord`, with partner `campus`.
pub fn application(name: &str) -> DiscordApplication {
    object(
        "DiscordApplication",
        name,
        json!({
            "applicationId": "1283874310720716800",
            "botTokenRef": {"name": "discord", "key": "botToken"},
            "defaultPartnerRef": {"name": "campus"},
        }),
    )
}

/// Guild `guild_id` of application `campus-bot`, with the default features.
pub fn guild(name: &str, guild_id: &str) -> GuildConfig {
    object(
        "GuildConfig",
        name,
        json!({"applicationRef": {"name": "campus-bot"}, "guildId": guild_id}),
    )
}

/// A Secret with one key, as `kubectl create secret generic` makes it.
pub fn secret(name: &str, key: &str, value: &str) -> Secret {
    Secret {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            namespace: Some(NAMESPACE.into()),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([(key.into(), value.into())])),
        ..Secret::default()
    }
}

/// One YAML document (with its `---`), to join several into the input of `kubectl apply -f -`.
pub fn yaml<T: Serialize>(object: &T) -> String {
    format!(
        "---\n{}",
        serde_yaml_ng::to_string(object).expect("fixtures serialize")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kd_crds::LocalRef;

    #[test]
    fn fixtures_are_what_a_minimal_manifest_reads_as() {
        let from_yaml: GuildConfig = serde_yaml_ng::from_str(
            "apiVersion: kaltura-discord.io/v1alpha1\nkind: GuildConfig\n\
             metadata: {name: lost, namespace: kaltura}\n\
             spec: {applicationRef: {name: campus-bot}, guildId: \"1283874310720716999\", partnerRef: {name: nobody}}\n",
        )
        .unwrap();
        let built = guild("lost", "1283874310720716999").with(|g| {
            g.spec.partner_ref = Some(LocalRef {
                name: "nobody".into(),
            })
        });
        assert_eq!(built.spec, from_yaml.spec);
        assert_eq!(built.metadata, from_yaml.metadata);
        let reread: GuildConfig = serde_yaml_ng::from_str(&yaml(&built)).unwrap();
        assert_eq!(reread.spec, built.spec, "the YAML says the same");
        assert!(
            partner("campus").spec.sessions.playback.expiry_seconds > 0,
            "CRD defaults apply"
        );
    }
}
