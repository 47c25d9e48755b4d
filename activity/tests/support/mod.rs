//! A running API server in front of the Discord and Kaltura sandboxes (with the bot connected,
//! from kd-tests' World), and an HTTP client that speaks to it like a browser or an app would.

#![allow(dead_code)] // Each test binary uses its own part of the harness.

pub mod watch;

use kd_activity::{Api, ApiOptions, AppState};
use kd_core::secrets::SecretMap;
use kd_tests::World;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

pub struct Server {
    pub world: World,
    pub base: String,
    pub http: reqwest::Client,
    pub api: AppState,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The error code of an error answer, after checking the one error shape.
    pub fn code(&self) -> String {
        let body = self.json();
        let error = body["error"].as_object().expect("an error object");
        assert_eq!(error.len(), 2, "{body}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        error["code"].as_str().unwrap().to_string()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The Secret `kaltura/webhookSecret` the API can read; no partner uses it until a test says.
pub const WEBHOOK_SECRET: &str = "planted-webhook-secret-4c1f";

/// Another API server in front of the same world, on its own store (a replica).
pub async fn serve(
    world: &World,
    options: ApiOptions,
    store: kd_store::Store,
) -> (String, AppState) {
    let mut secrets = SecretMap::default();
    secrets.insert("discord", "botToken", &world.discord.bot_token());
    secrets.insert("discord", "clientSecret", &world.discord.client_secret());
    secrets.insert("kaltura", "adminSecret", world.kaltura.admin_secret());
    secrets.insert("kaltura", "webhookSecret", WEBHOOK_SECRET);
    let options = ApiOptions {
        discord_api: format!("{}/api/v10", world.discord.base_url()),
        ..options
    };
    let api = Api::new(options, world.config.subscribe(), store, Arc::new(secrets))
        .expect("the API starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(kd_activity::serve(api.clone(), listener));
    (base, api)
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(ApiOptions::default()).await
    }

    pub async fn start_with(options: ApiOptions) -> Self {
        Self::start_on(options, None).await
    }

    /// The server and the bot on `store` (a SQLite file of the world's own when None).
    pub async fn start_on(options: ApiOptions, store: Option<kd_store::Store>) -> Self {
        let world = match store {
            Some(store) => World::start_with_store(store).await,
            None => World::start().await,
        };
        let store = world.store.clone();
        let (base, api) = serve(&world, options, store).await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            world,
            base,
            http,
            api,
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("the server answers");
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        }
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(self.request(Method::GET, path, Some(token)))
            .await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(self.request(Method::POST, path, Some(token)).json(&body))
            .await
    }

    /// A Discord OAuth access token of the user, as the Activity's OAuth exchange gets one.
    pub async fn discord_access_token(&self, user: u64) -> String {
        kd_tests::discord_access_token(&self.http, &self.world.discord, user).await
    }

    /// Exchanges a Discord token through `POST /api/v1/auth/token`.
    pub async fn exchange(&self, access_token: &str, guild: &str) -> Answer {
        self.send(
            self.request(Method::POST, "/api/v1/auth/token", None)
                .json(&json!({"accessToken": access_token, "guildId": guild})),
        )
        .await
    }

    /// An API token of the user in the test guild.
    pub async fn token(&self, user: u64) -> String {
        let access = self.discord_access_token(user).await;
        let answer = self.exchange(&access, &self.world.guild_key()).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.json()["token"].as_str().unwrap().to_string()
    }
}
