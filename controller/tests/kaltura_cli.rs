//! `kaltura-discord kaltura ks ...` and `kaltura-discord sandbox kaltura`, run as a user would.

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kaltura-discord");

fn secret_file(dir: &str, secret: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("kd-cli-{dir}-{}", std::process::id()));
    std::fs::create_dir_all(&path).unwrap();
    let file = path.join("secret");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    file
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run kaltura-discord")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn ks_new_then_inspect() {
    let file = secret_file("new", "abcdef0123456789abcdef0123456789");
    let file = file.to_str().unwrap();
    for version in ["v1", "v2"] {
        let made = run(&[
            "kaltura",
            "ks",
            "new",
            "--partner-id",
            "4300101",
            "--secret-file",
            file,
            "--user",
            "alice",
            "--type",
            "admin",
            "--expiry",
            "2h",
            "--privileges",
            "sview:*,setrole:1002",
            "--version",
            version,
        ]);
        assert!(made.status.success(), "{made:?}");
        let ks = stdout(&made).trim().to_string();
        let inspected = run(&["kaltura", "ks", "inspect", "--secret-file", file, &ks]);
        let text = stdout(&inspected);
        assert!(inspected.status.success(), "{text}");
        assert!(text.contains(&format!("version:     {version}")), "{text}");
        assert!(text.contains("partner id:  4300101"), "{text}");
        assert!(text.contains("user id:     alice"), "{text}");
        assert!(text.contains("type:        admin (2)"), "{text}");
        assert!(
            text.contains("status:      VALID, expires in 1h 59m")
                || text.contains("expires in 2h"),
            "{text}"
        );
        assert!(
            text.contains("sview:*") && text.contains("setrole:1002"),
            "{text}"
        );
    }
}

#[test]
fn inspect_says_expired_and_invalid() {
    let file = secret_file("bad", "abcdef0123456789abcdef0123456789");
    let file = file.to_str().unwrap();
    let made = run(&[
        "kaltura",
        "ks",
        "new",
        "--partner-id",
        "7",
        "--secret-file",
        file,
        "--expiry",
        "-60",
    ]);
    let expired = stdout(&made).trim().to_string();
    let inspected = run(&["kaltura", "ks", "inspect", "--secret-file", file, &expired]);
    assert_eq!(inspected.status.code(), Some(1));
    assert!(
        stdout(&inspected).contains("status:      EXPIRED 1m"),
        "{}",
        stdout(&inspected)
    );

    let other = secret_file("other", "ffffffffffffffffffffffffffffffff");
    let inspected = run(&[
        "kaltura",
        "ks",
        "inspect",
        "--secret-file",
        other.to_str().unwrap(),
        &expired,
    ]);
    assert_eq!(inspected.status.code(), Some(1));
    let text = stdout(&inspected);
    assert!(text.contains("INVALID (claims v2 for partner 7)"), "{text}");
    assert!(text.contains("-1,INVALID_STR"), "{text}");

    let garbage = run(&[
        "kaltura",
        "ks",
        "inspect",
        "--secret-file",
        file,
        "not-a-ks",
    ]);
    assert_eq!(garbage.status.code(), Some(1));
    assert!(stdout(&garbage).contains("INVALID"));
}

/// The `sandbox` subcommands exist only in builds with the `sandbox` feature (the default).
#[cfg(feature = "sandbox")]
mod sandbox {
    use super::*;
    use kd_testing::process::Running;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    use std::process::Stdio;

    /// One HTTP/1.1 POST; the response body.
    fn post(host: &str, path: &str, content_type: &str, body: &str) -> String {
        let mut stream = TcpStream::connect(host).unwrap();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
             Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
            .split("\r\n\r\n")
            .nth(1)
            .expect("HTTP body")
            .to_string()
    }

    #[test]
    fn sandbox_kaltura_serves_and_prints_its_credentials() {
        // Killed when the test ends, passing or not.
        let mut sandbox = Running::spawn(
            Command::new(BIN)
                .args([
                    "sandbox",
                    "kaltura",
                    "--listen",
                    "127.0.0.1:0",
                    "--partner-id",
                    "555",
                    "--admin-secret",
                    "cli-secret",
                    "--clips-dir",
                    "/tmp/kd-cli-clips",
                ])
                .stdout(Stdio::piped()),
        );
        let mut lines = BufReader::new(sandbox.child.stdout.take().unwrap()).lines();
        let mut printed = Vec::new();
        for _ in 0..7 {
            printed.push(lines.next().unwrap().unwrap());
        }
        let url = printed[1]
            .trim_start_matches("service url:")
            .trim()
            .to_string();
        assert!(
            printed.contains(&"partner id:   555".to_string()),
            "{printed:?}"
        );
        assert!(
            printed.contains(&"admin secret: cli-secret".to_string()),
            "{printed:?}"
        );

        assert_eq!(printed[5], format!("control api:  {url}/_sandbox"));
        assert_eq!(
            printed[6],
            "clips:        one per entry, in /tmp/kd-cli-clips"
        );

        // session.start over plain HTTP, as any client would.
        let host = url.trim_start_matches("http://");
        let start = |secret: &str| {
            let body = format!("secret={secret}&partnerId=555&type=2&format=1");
            let answer = post(
                host,
                "/api_v3/service/session/action/start",
                "application/x-www-form-urlencoded",
                &body,
            );
            serde_json::from_str::<serde_json::Value>(&answer).unwrap()
        };
        let ks = start("cli-secret").as_str().expect("a KS").to_string();
        let file = secret_file("sandbox", "cli-secret");
        let inspected = run(&[
            "kaltura",
            "ks",
            "inspect",
            "--secret-file",
            file.to_str().unwrap(),
            &ks,
        ]);
        assert!(
            stdout(&inspected).contains("partner id:  555"),
            "{}",
            stdout(&inspected)
        );

        // The printed control API rotates the secret: the old one no longer opens a session.
        let rotated = post(
            host,
            "/_sandbox/partners/555/rotate-secret",
            "application/json",
            r#"{"secret":"rotated-cli"}"#,
        );
        assert!(rotated.contains("rotated-cli"), "{rotated}");
        assert_eq!(start("cli-secret")["code"], "START_SESSION_ERROR");
        assert!(start("rotated-cli").is_string());
    }

    #[test]
    fn sandbox_kaltura_help_lists_the_control_api() {
        let help = stdout(&run(&["sandbox", "kaltura", "--help"]));
        for (method, path, _) in kd_sandbox_kaltura::control::ROUTES {
            assert!(
                help.contains(&format!("{method:<11} {path}")),
                "{path} missing from:\n{help}"
            );
        }
    }
}
