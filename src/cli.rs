//! The command line: `serve`, `migrate`, `demo`.

use crate::config::{Config, MailConfig};
use crate::db::{self, DatabaseUrl};
use crate::{demo, startup};
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
        /// Database connections in the pool.
        #[arg(long, env = "ROLLCALL_POOL_SIZE", default_value_t = 8)]
        pool_size: u32,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Load the demo event; running it again changes nothing.
    Demo,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let database = DatabaseUrl::parse(&cli.database).map_err(anyhow::Error::msg)?;
    match cli.command {
        Command::Migrate => {
            let pool = db::connect(&database, 1)?;
            drop(pool);
            println!("database is up to date ({})", database.backend_name());
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
            outbox,
            smtp_url,
            mail_from,
            pool_size,
        } => {
            let config = Config {
                database,
                bind,
                public_url,
                mail: MailConfig {
                    outbox_dir: outbox,
                    smtp_url,
                    from: mail_from,
                },
                pool_size: pool_size.max(1),
            };
            let app = startup::Application::build(config).await?;
            if with_demo {
                let report = db::run(app.pool(), demo::load).await?;
                println!("{report}");
                println!("Demo event: {}/events/{}", app.base_url(), demo::SLUG);
            }
            println!("Rollcall is listening on {}", app.base_url());
            app.run_until_stopped().await?;
        }
    }
    Ok(())
}
