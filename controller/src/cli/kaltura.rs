//! `kaltura-discord kaltura ks new|inspect`: make and read Kaltura Sessions offline.

use anyhow::Context;
use kd_kaltura::Secret;
use kd_kaltura::ks::{self, KsError, KsFields, KsRequest, KsVersion, Privileges, SessionType};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Kaltura Session (KS) tools.
    Ks {
        #[command(subcommand)]
        command: KsCommand,
    },
}

#[derive(clap::Subcommand)]
enum KsCommand {
    /// Sign a new KS with the partner's secret and print it.
    New(NewArgs),
    /// Decode a KS with the partner's secret and print its fields; exits 1 when expired or invalid.
    Inspect(InspectArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Kind {
    User,
    Admin,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Version {
    V1,
    V2,
}

#[derive(clap::Args)]
struct NewArgs {
    #[arg(long)]
    partner_id: i64,
    /// File holding the admin (or user) secret; surrounding whitespace is ignored.
    #[arg(long)]
    secret_file: PathBuf,
    #[arg(long, default_value = "")]
    user: String,
    #[arg(long = "type", value_enum, default_value = "user")]
    kind: Kind,
    /// Lifetime: seconds, or a duration such as `90m`, `24h`, `7d`.
    #[arg(long, default_value = "24h", value_parser = parse_lifetime, allow_negative_numbers = true)]
    expiry: i64,
    /// Kaltura privileges, e.g. `sview:0_abc,setrole:12`.
    #[arg(long, default_value = "")]
    privileges: String,
    #[arg(long, value_enum, default_value = "v2")]
    version: Version,
}

#[derive(clap::Args)]
struct InspectArgs {
    #[arg(long)]
    secret_file: PathBuf,
    /// The KS to decode.
    ks: String,
}

fn parse_lifetime(text: &str) -> Result<i64, String> {
    if let Ok(secs) = text.parse::<i64>() {
        return Ok(secs);
    }
    humantime::parse_duration(text)
        .map(|d| d.as_secs() as i64)
        .map_err(|e| e.to_string())
}

fn read_secret(path: &PathBuf) -> anyhow::Result<Secret> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let secret = text.trim();
    anyhow::ensure!(!secret.is_empty(), "{} is empty", path.display());
    Ok(Secret::new(secret))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Ks {
            command: KsCommand::New(new),
        } => ks_new(new),
        Command::Ks {
            command: KsCommand::Inspect(inspect),
        } => ks_inspect(inspect),
    }
}

fn ks_new(args: NewArgs) -> anyhow::Result<ExitCode> {
    let secret = read_secret(&args.secret_file)?;
    let kind = match args.kind {
        Kind::User => SessionType::User,
        Kind::Admin => SessionType::Admin,
    };
    let request = KsRequest::new(args.partner_id, kind)
        .user(args.user)
        .expiry_secs(args.expiry)
        .privileges(Privileges::parse(&args.privileges));
    let ks = match args.version {
        Version::V1 => ks::generate_v1(&secret, &request),
        Version::V2 => ks::generate_v2(&secret, &request),
    };
    println!("{}", ks.expose());
    Ok(ExitCode::SUCCESS)
}

fn ks_inspect(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let secret = read_secret(&args.secret_file)?;
    match ks::decode(&args.ks, &[secret]) {
        Ok(fields) => {
            print!("{}", describe(&fields, ks::unix_now()));
            Ok(if fields.is_expired() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Err(err) => {
            let header = ks::peek(&args.ks)
                .map(|(v, pid)| format!(" (claims {} for partner {pid})", version_name(v)))
                .unwrap_or_default();
            let (code, name) = err.kaltura_reason();
            println!("status:      INVALID{header}: {err} [{code},{name}]");
            if matches!(err, KsError::BadSignature) {
                println!("hint:        check that --secret-file holds this partner's admin secret");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

fn version_name(version: KsVersion) -> &'static str {
    match version {
        KsVersion::V1 => "v1",
        KsVersion::V2 => "v2",
    }
}

fn describe(fields: &KsFields, now: i64) -> String {
    let kind = match fields.session_type {
        SessionType::User => "user (0)",
        SessionType::Admin => "admin (2)",
    };
    let expiry_time = UNIX_EPOCH + Duration::from_secs(fields.expiry.max(0) as u64);
    let left = fields.expiry - now;
    let status = if left > 0 {
        format!(
            "VALID, expires in {}",
            humantime::format_duration(Duration::from_secs(left as u64))
        )
    } else {
        format!(
            "EXPIRED {} ago",
            humantime::format_duration(Duration::from_secs((-left) as u64))
        )
    };
    let mut out = format!(
        "version:     {}\npartner id:  {}\nuser id:     {}\ntype:        {kind}\nexpiry:      {} ({})\nstatus:      {status}\n",
        version_name(fields.version),
        fields.partner_id,
        if fields.user_id.is_empty() {
            "(none)"
        } else {
            &fields.user_id
        },
        fields.expiry,
        humantime::format_rfc3339_seconds(expiry_time),
    );
    if fields.privileges.is_empty() {
        out.push_str("privileges:  (none)\n");
    } else {
        for (i, (name, value)) in fields.privileges.iter().enumerate() {
            let label = if i == 0 { "privileges:" } else { "" };
            let shown = if value.is_empty() {
                name.to_string()
            } else {
                format!("{name}:{value}")
            };
            out.push_str(&format!("{label:<13}{shown}\n"));
        }
    }
    out
}
