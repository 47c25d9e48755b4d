//! The bot reaches Discord the way it must in production: REST over HTTPS and the gateway over
//! WSS, with the certificate checked against the platform's roots (here a private CA named by
//! `SSL_CERT_FILE`, as a company proxy's would be). A certificate it doesn't trust is refused.

use kd_core::command::Command;
use kd_sandbox_discord::{Config, NewCommandInteraction, Tls};
use kd_testing::wait;
use kd_tests::process::{Outside, Reach, WorkloadProcess};
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_kaltura-discord");

/// A CA and a leaf for 127.0.0.1 signed by it, made with the openssl command line.
fn certificates(dir: &Path) -> Tls {
    let openssl = |args: &[&str]| {
        let out = Process::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=kd test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    Tls {
        cert_pem: read("leaf.pem") + &read("ca.pem"),
        key_pem: read("leaf.key"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_talks_https_and_wss_and_checks_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let tls = certificates(dir.path());
    let outside = Outside::start_with(Config {
        tls: Some(tls),
        ..Config::default()
    })
    .await;
    let (discord, guild) = (&outside.discord, &outside.guild);
    assert!(discord.base_url().starts_with("https://"));
    assert!(discord.gateway_url().starts_with("wss://"));
    let config = kd_tests::runtime_config(discord, &outside.kaltura, guild.id);
    let args = ["--shards", "1", "--log", "warn"];

    // Not trusted: no REST call and no gateway session get through.
    let untrusted = dir.path().join("empty.pem");
    std::fs::write(&untrusted, "").unwrap();
    let mut refused = WorkloadProcess::bot_with(
        BIN,
        discord,
        &outside.kaltura,
        &config,
        &args,
        Reach {
            env: vec![("SSL_CERT_FILE", untrusted.as_os_str())],
            ..Reach::default()
        },
        Stdio::piped(),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(discord.gateway_sessions().is_empty());
    assert!(discord.commands(Some(guild.id)).unwrap().is_empty());
    let log = refused.process.stop();
    assert!(
        log.to_lowercase().contains("certificate"),
        "the refusal says why: {log}"
    );

    // Trusted: the same bot registers its commands and answers a member.
    let ca = dir.path().join("ca.pem");
    let bot = WorkloadProcess::bot_with(
        BIN,
        discord,
        &outside.kaltura,
        &config,
        &args,
        Reach {
            env: vec![("SSL_CERT_FILE", ca.as_os_str())],
            ..Reach::default()
        },
        Stdio::null(),
    );
    bot.ready().await;
    wait("commands registered over HTTPS")
        .until(async || {
            let commands = discord.commands(Some(guild.id)).ok()?;
            commands
                .iter()
                .any(|c| c["name"] == Command::List.name())
                .then_some(())
        })
        .await;
    let sent = discord
        .invoke_command(NewCommandInteraction {
            guild_id: guild.id,
            channel_id: guild.general_channel_id,
            user_id: outside.user,
            name: Command::List.name().into(),
            ..NewCommandInteraction::default()
        })
        .unwrap();
    let view = discord
        .wait_interaction_response(sent.id, Duration::from_secs(10))
        .await
        .expect("answered over the WSS gateway and HTTPS callback");
    assert!(view.callback.is_some());
}
