//! Outgoing mail. Handlers queue a message and move on; one background task
//! delivers it, by SMTP when configured, else as an `.eml` file in the outbox
//! folder. A slow or absent mail server never holds up a request.

pub mod messages;

use crate::config::MailConfig;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Messages waiting for the delivery task; past this, new ones are dropped
/// (and counted) rather than letting memory grow.
const QUEUE_CAPACITY: usize = 10_000;

#[derive(Debug, Default)]
pub struct MailStats {
    pub queued: AtomicU64,
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
}

#[derive(Clone)]
pub struct Mailer {
    queue: mpsc::Sender<Message>,
    from: Mailbox,
    stats: Arc<MailStats>,
}

enum Delivery {
    /// A folder of `.eml` files.
    Outbox(std::path::PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Delivery {
    async fn deliver(&self, message: &Message) -> Result<(), String> {
        match self {
            Delivery::Outbox(dir) => write_eml(dir, message)
                .await
                .map_err(|e| format!("cannot write to the outbox: {e}")),
            Delivery::Smtp(t) => t
                .send(message.clone())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }
}

/// Writes the message under a hidden name, then renames it to `ID.eml`:
/// whatever picks mail up from the folder (a relay, a person, a test) never
/// sees half a message.
async fn write_eml(dir: &std::path::Path, message: &Message) -> std::io::Result<()> {
    let id = format!("{:032x}", rand::random::<u128>());
    let partial = dir.join(format!(".{id}.eml.part"));
    tokio::fs::write(&partial, message.formatted()).await?;
    tokio::fs::rename(&partial, dir.join(format!("{id}.eml"))).await
}

impl Mailer {
    /// Checks the configuration and starts the delivery task on the current
    /// runtime.
    pub fn start(config: &MailConfig) -> anyhow::Result<Self> {
        let from: Mailbox = config.from.parse().map_err(|e| {
            anyhow::anyhow!("ROLLCALL_MAIL_FROM {:?} is not a mailbox: {e}", config.from)
        })?;
        let delivery = match &config.smtp_url {
            Some(url) => Delivery::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("ROLLCALL_SMTP_URL is not usable: {e}"))?
                    .build(),
            ),
            None => {
                std::fs::create_dir_all(&config.outbox_dir).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot create the outbox {}: {e}",
                        config.outbox_dir.display()
                    )
                })?;
                Delivery::Outbox(config.outbox_dir.clone())
            }
        };
        let (queue, mut receiver) = mpsc::channel::<Message>(QUEUE_CAPACITY);
        let stats = Arc::new(MailStats::default());
        let task_stats = stats.clone();
        actix_web::rt::spawn(async move {
            while let Some(message) = receiver.recv().await {
                match delivery.deliver(&message).await {
                    Ok(()) => {
                        let n = task_stats.delivered.fetch_add(1, Ordering::Relaxed) + 1;
                        tracing::debug!(delivered = n, "mail delivered");
                    }
                    Err(error) => {
                        task_stats.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%error, "mail delivery failed");
                    }
                }
            }
        });
        Ok(Self { queue, from, stats })
    }

    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    pub fn stats(&self) -> &MailStats {
        &self.stats
    }

    /// Queues a message, waiting for room in the queue: for bulk senders
    /// (an import) that must not drop mail, never for a request handler.
    pub async fn send_waiting(&self, message: Message) {
        if self.queue.send(message).await.is_ok() {
            self.stats.queued.fetch_add(1, Ordering::Relaxed);
        } else {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!("mail queue closed: message dropped");
        }
    }

    /// Waits until every queued message was delivered or failed: a command
    /// that queued mail calls this before it exits.
    pub async fn wait_until_sent(&self) {
        let done = |s: &MailStats| {
            s.delivered.load(Ordering::Relaxed) + s.failed.load(Ordering::Relaxed)
                >= s.queued.load(Ordering::Relaxed)
        };
        while !done(&self.stats) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Queues a message without waiting.
    pub fn send(&self, message: Message) {
        match self.queue.try_send(message) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!("mail queue full or closed: message dropped");
            }
        }
    }
}
