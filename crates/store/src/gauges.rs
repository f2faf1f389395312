//! What `/metrics` reads from the database on each scrape: the queues, as counts and ages.
//! Written once for both back ends; each query reads a partial index or a small table.

use async_trait::async_trait;

use crate::sql::{args, Db, Row, Sql};
use crate::{Millis, Result};

/// The work left on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelQueue {
    /// The channel's workspace.
    pub workspace_id: String,
    /// The channel.
    pub channel_id: String,
    /// Messages with work left (ready, being sent, or waiting on an unknown outcome).
    pub queued: i64,
    /// When the oldest of them was accepted.
    pub oldest_created_at: Millis,
}

/// The queue figures of the whole database (every instance sharing it sees the same).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueGauges {
    /// Channels with at least one queued message.
    pub channels: Vec<ChannelQueue>,
    /// Meta webhook deliveries stored and not yet processed.
    pub inbox_pending: i64,
    /// Business webhook deliveries still to be made (pending, retries included).
    pub business_backlog: i64,
}

/// The reads behind the queue gauges.
#[async_trait]
pub trait GaugeStore: Send + Sync {
    /// The queues as they are now.
    async fn queue_gauges(&self) -> Result<QueueGauges>;
}

fn channel_queue(r: &mut Row) -> Result<ChannelQueue> {
    Ok(ChannelQueue {
        workspace_id: r.get()?,
        channel_id: r.get()?,
        queued: r.get()?,
        oldest_created_at: r.get()?,
    })
}

async fn queue_gauges(db: &mut dyn Db) -> Result<QueueGauges> {
    // `state IS NOT NULL` is the partial index `messages_work`: only messages with work left.
    let channels = db
        .fetch_map(
            "SELECT workspace_id, channel_id, count(*), min(created_at) FROM messages \
             WHERE state IS NOT NULL GROUP BY workspace_id, channel_id",
            args![],
            channel_queue,
        )
        .await?;
    let inbox_pending = db
        .scalar(
            "SELECT count(*) FROM webhook_inbox WHERE processed_at IS NULL",
            args![],
        )
        .await?;
    let business_backlog = db
        .scalar(
            "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'",
            args![],
        )
        .await?;
    Ok(QueueGauges {
        channels,
        inbox_pending,
        business_backlog,
    })
}

#[async_trait]
impl<B: Sql> GaugeStore for B {
    async fn queue_gauges(&self) -> Result<QueueGauges> {
        self.read((), |db, ()| Box::pin(queue_gauges(db))).await
    }
}
