//! The command line: `serve`, `migrate`, `demo`.

use crate::auth::{password, tokens};
use crate::config::{Config, MailConfig};
use crate::db::{self, DatabaseUrl};
use crate::domain::{StaffRole, TokenRole};
use crate::{demo, import, startup};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "rollcall",
    version,
    about = "Hybrid conference attendance tracker"
)]
pub struct Cli {
    /// Database: a SQLite file path, sqlite://PATH, or postgres://USER@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "ROLLCALL_DATABASE_URL",
        default_value = "rollcall.db"
    )]
    database: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the web app (migrates the database first).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "ROLLCALL_BIND", default_value = "127.0.0.1:8080")]
        bind: String,
        /// Load the demo event (ZGC Forum 2021) before serving.
        #[arg(long)]
        demo: bool,
        /// Public base URL used in mailed links (default: http://BIND).
        #[arg(long, env = "ROLLCALL_PUBLIC_URL")]
        public_url: Option<String>,
        #[command(flatten)]
        mail: MailArgs,
        /// Database connections in the pool.
        #[arg(long, env = "ROLLCALL_POOL_SIZE", default_value_t = 8)]
        pool_size: u32,
        /// Registrations accepted per client address per minute.
        #[arg(long, env = "ROLLCALL_REGISTRATIONS_PER_MINUTE", default_value_t = 30)]
        registrations_per_minute: u32,
        /// Personal links that lead nowhere, per client address per minute,
        /// before that address is refused for a minute.
        #[arg(long, env = "ROLLCALL_FAILED_LOOKUPS_PER_MINUTE", default_value_t = 30)]
        failed_lookups_per_minute: u32,
        /// A reverse proxy in front of Rollcall (repeatable, or comma-separated
        /// in the variable): its X-Forwarded-For names the client for the rate
        /// limits and sign-in throttling. Without it the header is ignored.
        #[arg(
            long = "trusted-proxy",
            env = "ROLLCALL_TRUSTED_PROXIES",
            value_delimiter = ','
        )]
        trusted_proxies: Vec<std::net::IpAddr>,
        /// Bearer token for GET /metrics (Prometheus); without it /metrics is off.
        #[arg(long, env = "ROLLCALL_METRICS_TOKEN", hide_env_values = true)]
        metrics_token: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage staff accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage device tokens (door phones, hall screens, API clients).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Load the demo event; running it again changes nothing.
    Demo,
    /// Import participants from a CSV file with the header
    /// name,email,affiliation,country,mode,category,sessions. Every row is
    /// checked first; then all are stored, or none.
    Import {
        /// The event's slug.
        #[arg(long)]
        event: String,
        /// The CSV file (UTF-8).
        file: PathBuf,
        /// Mail each imported participant their confirmation with the
        /// personal link and QR code, as a web registration does.
        #[arg(long, requires = "public_url")]
        send_confirmations: bool,
        /// Public base URL of the running server, for the mailed links.
        #[arg(long, env = "ROLLCALL_PUBLIC_URL")]
        public_url: Option<String>,
        #[command(flatten)]
        mail: MailArgs,
    },
}

/// Where outgoing mail goes.
#[derive(Debug, clap::Args)]
struct MailArgs {
    /// Folder for outgoing mail when no SMTP server is configured.
    #[arg(long, env = "ROLLCALL_OUTBOX", default_value = "outbox")]
    outbox: PathBuf,
    /// SMTP server URL (lettre syntax); without it mail goes to the outbox folder.
    #[arg(long, env = "ROLLCALL_SMTP_URL")]
    smtp_url: Option<String>,
    /// Sender of outgoing mail.
    #[arg(
        long,
        env = "ROLLCALL_MAIL_FROM",
        default_value = "Rollcall <rollcall@localhost>"
    )]
    mail_from: String,
}

impl From<MailArgs> for MailConfig {
    fn from(args: MailArgs) -> Self {
        MailConfig {
            outbox_dir: args.outbox,
            smtp_url: args.smtp_url,
            from: args.mail_from,
        }
    }
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a staff account; the password is read from standard input.
    Add {
        #[arg(long)]
        username: String,
        /// admin, organiser or door.
        #[arg(long)]
        role: String,
        /// Limit the account to one event (by slug).
        #[arg(long)]
        event: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Set a staff account's password, read from standard input.
    Passwd {
        username: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List staff accounts.
    List,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once, alone on the last line.
    Create {
        /// The event's slug.
        #[arg(long)]
        event: String,
        /// What the device is, e.g. "North entrance phone".
        #[arg(long)]
        label: String,
        /// door, dashboard or organiser.
        #[arg(long)]
        role: String,
        /// Limit the token to these sessions (slugs); repeatable.
        #[arg(long = "session")]
        sessions: Vec<String>,
    },
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn run_user(pool: &db::Pool, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            username,
            role,
            event,
            password_stdin: _,
        } => {
            let role = StaffRole::parse(&role)
                .map_err(|_| anyhow::anyhow!("--role must be admin, organiser or door"))?;
            let username = username.trim().to_string();
            if username.is_empty()
                || username.len() > 64
                || username.chars().any(char::is_whitespace)
            {
                anyhow::bail!("--username must be 1 to 64 characters without spaces");
            }
            let hash = password::hash(&read_password()?)?;
            let created = db::run(pool, move |conn| {
                let event_id = match event {
                    Some(slug) => Some(
                        db::events::find_event(conn, &slug)?
                            .ok_or_else(|| db::DbError::Corrupt(format!("no event {slug:?}")))?
                            .id,
                    ),
                    None => None,
                };
                db::staff::create(
                    conn,
                    &username,
                    &hash,
                    role.as_str(),
                    event_id,
                    db::now_ms(),
                )
            })
            .await?;
            anyhow::ensure!(created, "that username is taken");
            println!("created {} account", role.as_str());
        }
        UserCommand::Passwd {
            username,
            password_stdin: _,
        } => {
            let hash = password::hash(&read_password()?)?;
            let changed = db::run(pool, move |conn| {
                db::staff::set_password(conn, &username, &hash)
            })
            .await?;
            anyhow::ensure!(changed, "no such user");
            println!("password changed");
        }
        UserCommand::List => {
            let users = db::run(pool, db::staff::list).await?;
            for user in users {
                println!("{}\t{}", user.username, user.role);
            }
        }
    }
    Ok(())
}

async fn run_token(pool: &db::Pool, command: TokenCommand) -> anyhow::Result<()> {
    let TokenCommand::Create {
        event,
        label,
        role,
        sessions,
    } = command;
    let role = TokenRole::parse(&role)
        .map_err(|_| anyhow::anyhow!("--role must be door, dashboard or organiser"))?;
    let label = label.trim().to_string();
    anyhow::ensure!(
        !label.is_empty() && label.len() <= 80,
        "--label must be 1 to 80 characters"
    );
    let token = tokens::generate();
    let digest =
        tokens::digest(&token).ok_or_else(|| anyhow::anyhow!("generated token is malformed"))?;
    db::run(pool, move |conn| {
        let found = db::events::find_event(conn, &event)?
            .ok_or_else(|| db::DbError::Corrupt(format!("no event {event:?}")))?;
        let mut session_ids = Vec::new();
        for slug in &sessions {
            let session = db::events::find_session(conn, found.id, slug)?
                .ok_or_else(|| db::DbError::Corrupt(format!("no session {slug:?} at {event:?}")))?;
            session_ids.push(session.id);
        }
        db::tokens::create(
            conn,
            &db::tokens::NewToken {
                event_id: found.id,
                label: &label,
                role: role.as_str(),
                token_hash: &digest,
                created_by: "cli",
                session_ids: &session_ids,
                now: db::now_ms(),
            },
        )
    })
    .await?;
    eprintln!("Token created. It is shown once; store it now:");
    println!("{token}");
    Ok(())
}

async fn run_import(
    pool: &db::Pool,
    slug: &str,
    file: &std::path::Path,
    mailer: Option<crate::mail::Mailer>,
    public_url: Option<String>,
) -> anyhow::Result<()> {
    let data =
        std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let wanted = slug.to_string();
    let event = db::run(pool, move |conn| db::events::find_event(conn, &wanted))
        .await?
        .ok_or_else(|| anyhow::anyhow!("there is no event {slug:?}"))?;

    let bar = indicatif::ProgressBar::new_spinner().with_message("checking rows");
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let shown = bar.clone();
    let outcome = import::import_csv(pool, &event, data, move |step| match step {
        import::Progress::Checked(rows) => {
            shown.set_length(rows as u64);
            shown.set_message("storing");
        }
        import::Progress::Stored(rows) => shown.set_position(rows as u64),
    })
    .await?;
    bar.finish_and_clear();

    let imported = match outcome {
        Ok(imported) => imported,
        Err(problems) => {
            for problem in &problems.listed {
                eprintln!("{problem}");
            }
            if problems.unlisted() > 0 {
                eprintln!("… and {} more problems", problems.unlisted());
            }
            anyhow::bail!(
                "{} problem(s) in {}: nothing was imported",
                problems.total,
                file.display()
            );
        }
    };
    println!(
        "imported {} participants into {}",
        imported.len(),
        event.slug
    );
    // Servers running on this database (PostgreSQL) show them at once.
    let event_id = event.id;
    db::run(pool, move |conn| Ok(db::notify_live(conn, &[event_id])?)).await?;
    if let (Some(mailer), Some(base_url)) = (mailer, public_url) {
        let base_url = base_url.trim_end_matches('/').to_string();
        let queued = import::queue_confirmations(&mailer, &base_url, &event, imported).await;
        mailer.wait_until_sent().await;
        let failed = mailer
            .stats()
            .failed
            .load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "sent {} confirmations ({failed} failed)",
            (queued as u64).saturating_sub(failed)
        );
    }
    Ok(())
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let database = DatabaseUrl::parse(&cli.database).map_err(anyhow::Error::msg)?;
    match cli.command {
        Command::Migrate => {
            let pool = db::connect(&database, 1)?;
            drop(pool);
            println!("database is up to date ({})", database.backend_name());
        }
        Command::User { command } => {
            let pool = db::connect(&database, 1)?;
            run_user(&pool, command).await?;
        }
        Command::Token { command } => {
            let pool = db::connect(&database, 1)?;
            run_token(&pool, command).await?;
        }
        Command::Import {
            event,
            file,
            send_confirmations,
            public_url,
            mail,
        } => {
            let pool = db::connect(&database, 1)?;
            let mailer = match send_confirmations {
                true => Some(crate::mail::Mailer::start(&mail.into())?),
                false => None,
            };
            run_import(&pool, &event, &file, mailer, public_url).await?;
        }
        Command::Demo => {
            let pool = db::connect(&database, 1)?;
            let report = db::run(&pool, demo::load).await?;
            println!("{report}");
        }
        Command::Serve {
            bind,
            demo: with_demo,
            public_url,
            mail,
            pool_size,
            registrations_per_minute,
            failed_lookups_per_minute,
            trusted_proxies,
            metrics_token,
        } => {
            let config = Config {
                database,
                bind,
                public_url,
                mail: mail.into(),
                pool_size: pool_size.max(1),
                live_share: crate::live::SHARE,
                rate_limits: crate::web::limits::RateLimitConfig {
                    registrations_per_minute,
                    failed_lookups_per_minute,
                    trusted_proxies,
                },
                metrics_token,
            };
            let app = startup::Application::build(config).await?;
            if with_demo {
                let report = db::run(app.pool(), demo::load).await?;
                println!("{report}");
                match db::run(app.pool(), demo::ensure_admin).await? {
                    Some(password) => {
                        println!("Admin sign-in (shown once): username admin, password {password}")
                    }
                    // Started again on the same database: the password was
                    // printed the first time only.
                    None => println!(
                        "Admin sign-in: username admin, with the password printed when the \
                         account was created; `rollcall user passwd admin --password-stdin` \
                         (same --database) sets a new one"
                    ),
                }
                println!("Demo event: {}/events/{}", app.base_url(), demo::SLUG);
                println!("Door scanning: {}/scan/{}", app.base_url(), demo::SLUG);
            }
            println!("Rollcall is listening on {}", app.base_url());
            app.run_until_stopped().await?;
        }
    }
    Ok(())
}
