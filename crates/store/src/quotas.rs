//! Quotas and limits kept in the database, so they hold across restarts and across instances
//! sharing it: counters per subject and period (daily quotas, per-minute request windows),
//! requests in flight (the concurrency limit) and the distinct recipients of a channel's
//! business-initiated messages (Meta's messaging limit).
//!
//! Every check is an atomic check-and-count: two instances on one PostgreSQL database cannot both
//! take the last unit.

use async_trait::async_trait;
use chasqui_domain::ChannelId;

use crate::sql::{args, Db, Dialect, Sql};
use crate::{Millis, Result};

/// How long a recipient holds a slot of a channel's messaging limit: Meta counts unique
/// business-initiated recipients per rolling 24 hours.
pub const MESSAGING_WINDOW_MS: Millis = chasqui_domain::quota::MESSAGING_WINDOW_MS;

/// One counter to charge: `subject` (`key:<id>`, `ws:<id>`, `rate:<id>`) in `period` (a local
/// date, a window start) may reach `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// Who is counted.
    pub subject: String,
    /// Which period of theirs (the counter starts at zero in every new period).
    pub period: String,
    /// Most units the period may count.
    pub limit: i64,
    /// When the period ends (the row may be pruned after it).
    pub expires_at: Millis,
}

/// What came of charging counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// Every counter was charged; their counts afterwards, in the order given.
    Charged(Vec<i64>),
    /// Nothing was charged: the counter at `index` (in the order given) would pass its limit.
    Refused {
        /// Which counter refused.
        index: usize,
        /// Its count now.
        count: i64,
    },
}

/// What came of asking for an in-flight slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InflightOutcome {
    /// The slot is taken; `in_flight` counts it.
    Acquired {
        /// Requests of the subject in flight, this one included.
        in_flight: i64,
    },
    /// `limit` requests are already in flight; nothing was taken.
    Refused {
        /// Requests of the subject in flight.
        in_flight: i64,
    },
}

/// What came of admitting a recipient against a channel's messaging limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientOutcome {
    /// The recipient may be messaged. `counted_at` is set when this call took a new slot (so it
    /// can be given back with [`QuotaStore::forget_recipient`]); `None` when the recipient
    /// already held one.
    Admitted {
        /// Distinct recipients counted in the rolling 24 hours, this one included.
        count: i64,
        /// The slot this call took, if any.
        counted_at: Option<Millis>,
    },
    /// `limit` distinct recipients were already counted in the last 24 hours.
    Refused {
        /// Distinct recipients counted in the rolling 24 hours.
        count: i64,
        /// When the oldest slot frees up.
        frees_at: Millis,
    },
}

/// Reads and writes quota counters, in-flight requests and messaging-limit recipients.
#[async_trait]
pub trait QuotaStore: Send + Sync {
    /// Adds `n` to every counter if each stays within its limit; otherwise charges none (one
    /// transaction).
    async fn charge(&self, counters: &[Counter], n: i64) -> Result<ChargeOutcome>;
    /// Gives `n` back to each `(subject, period)` (a charged send that was then refused or was a
    /// replay); never below zero.
    async fn refund(&self, counters: &[(String, String)], n: i64) -> Result<()>;
    /// Current count of `subject` in `period` (0 when nothing was counted).
    async fn counter(&self, subject: &str, period: &str) -> Result<i64>;

    /// Takes an in-flight slot `id` for `subject` if fewer than `limit` unexpired slots are
    /// taken; the slot stops counting at `expires_at` even if never released.
    async fn acquire_inflight(
        &self,
        subject: &str,
        id: &str,
        limit: i64,
        expires_at: Millis,
        now: Millis,
    ) -> Result<InflightOutcome>;
    /// Gives an in-flight slot back.
    async fn release_inflight(&self, id: &str) -> Result<()>;

    /// Admits `recipient` on a channel whose messaging limit is `limit` distinct recipients per
    /// rolling 24 hours: free when already counted in the last 24 hours, else counted if there is
    /// room.
    async fn admit_recipient(
        &self,
        channel_id: &ChannelId,
        recipient: &str,
        limit: i64,
        now: Millis,
    ) -> Result<RecipientOutcome>;
    /// Gives back the slot a recipient took at `counted_at` (the send was not accepted after
    /// all); a slot taken again since is kept.
    async fn forget_recipient(
        &self,
        channel_id: &ChannelId,
        recipient: &str,
        counted_at: Millis,
    ) -> Result<()>;

    /// Whether `key` was already used as an `Idempotency-Key` by API key `api_key_id` (a retry
    /// of a send already accepted is answered from its first answer, whatever the quotas say).
    async fn idempotency_key_used(&self, api_key_id: &str, key: &str) -> Result<bool>;

    /// Deletes counters, in-flight slots and recipient slots that no longer count; answers how
    /// many rows went.
    async fn prune_quotas(&self, now: Millis) -> Result<u64>;
}

/// Serializes, across every instance on a PostgreSQL database, the transactions that check and
/// change `key`'s rows, until the transaction ends. SQLite's one writer already runs alone.
async fn lock(db: &mut dyn Db, key: &str) -> Result<()> {
    if db.dialect() == Dialect::Postgres {
        db.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            args![key],
        )
        .await?;
    }
    Ok(())
}

async fn count_of(db: &mut dyn Db, subject: &str, period: &str) -> Result<i64> {
    let row = db
        .fetch_optional(
            "SELECT count FROM usage_counters WHERE subject = $1 AND period = $2",
            args![subject, period],
        )
        .await?;
    match row {
        Some(mut r) => r.get(),
        None => Ok(0),
    }
}

async fn uncharge(db: &mut dyn Db, subject: &str, period: &str, n: i64) -> Result<()> {
    db.execute(
        "UPDATE usage_counters SET count = CASE WHEN count > $3 THEN count - $3 ELSE 0 END \
         WHERE subject = $1 AND period = $2",
        args![subject, period, n],
    )
    .await?;
    Ok(())
}

/// Charges every counter or none. Each charge is a conditional upsert, which PostgreSQL
/// evaluates against the latest committed row even when transactions race, so the last unit
/// goes to exactly one of them; counters are charged in one fixed order (by subject and period)
/// so that two transactions charging the same ones cannot wait on each other in a cycle.
async fn charge(db: &mut dyn Db, counters: &[Counter], n: i64) -> Result<ChargeOutcome> {
    let mut order: Vec<usize> = (0..counters.len()).collect();
    order.sort_by(|&a, &b| {
        (&counters[a].subject, &counters[a].period)
            .cmp(&(&counters[b].subject, &counters[b].period))
    });
    let mut counts = vec![0; counters.len()];
    for (done, &i) in order.iter().enumerate() {
        let k = &counters[i];
        let row = if n > k.limit {
            None
        } else {
            db.fetch_optional(
                "INSERT INTO usage_counters (subject, period, count, expires_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (subject, period) DO UPDATE \
                 SET count = usage_counters.count + excluded.count \
                 WHERE usage_counters.count + excluded.count <= $5 RETURNING count",
                args![&k.subject, &k.period, n, k.expires_at, k.limit],
            )
            .await?
        };
        match row {
            Some(mut r) => counts[i] = r.get()?,
            None => {
                // Nothing is charged unless all pass: take back what this call charged.
                for &j in &order[..done] {
                    uncharge(db, &counters[j].subject, &counters[j].period, n).await?;
                }
                let count = count_of(db, &k.subject, &k.period).await?;
                return Ok(ChargeOutcome::Refused { index: i, count });
            }
        }
    }
    Ok(ChargeOutcome::Charged(counts))
}

/// What [`QuotaStore::acquire_inflight`] is given.
struct Inflight {
    subject: String,
    id: String,
    limit: i64,
    expires_at: Millis,
    now: Millis,
}

async fn acquire_inflight(db: &mut dyn Db, a: &Inflight) -> Result<InflightOutcome> {
    lock(db, &format!("inflight:{}", a.subject)).await?;
    let in_flight: i64 = db
        .scalar(
            "SELECT COUNT(*) FROM inflight_requests WHERE subject = $1 AND expires_at > $2",
            args![&a.subject, a.now],
        )
        .await?;
    if in_flight >= a.limit {
        return Ok(InflightOutcome::Refused { in_flight });
    }
    db.execute(
        "INSERT INTO inflight_requests (id, subject, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at",
        args![&a.id, &a.subject, a.expires_at],
    )
    .await?;
    Ok(InflightOutcome::Acquired {
        in_flight: in_flight + 1,
    })
}

/// What [`QuotaStore::admit_recipient`] is given.
struct Admission {
    channel_id: ChannelId,
    recipient: String,
    limit: i64,
    now: Millis,
}

async fn admit_recipient(db: &mut dyn Db, a: &Admission) -> Result<RecipientOutcome> {
    lock(db, &format!("recipients:{}", a.channel_id)).await?;
    let since = a.now - MESSAGING_WINDOW_MS;
    let held: Option<Millis> = match db
        .fetch_optional(
            "SELECT counted_at FROM channel_recipients WHERE channel_id = $1 AND recipient = $2",
            args![&a.channel_id, &a.recipient],
        )
        .await?
    {
        Some(mut r) => r.get()?,
        None => None,
    };
    let mut row = db
        .fetch_optional(
            "SELECT COUNT(*), MIN(counted_at) FROM channel_recipients \
             WHERE channel_id = $1 AND counted_at > $2",
            args![&a.channel_id, since],
        )
        .await?
        .ok_or_else(|| crate::StoreError::Corrupt("an aggregate answered no row".into()))?;
    let count: i64 = row.get()?;
    let oldest: Option<Millis> = row.get()?;
    if held.is_some_and(|at| at > since) {
        return Ok(RecipientOutcome::Admitted {
            count,
            counted_at: None,
        });
    }
    if count >= a.limit {
        return Ok(RecipientOutcome::Refused {
            count,
            frees_at: oldest.unwrap_or(a.now) + MESSAGING_WINDOW_MS,
        });
    }
    db.execute(
        "INSERT INTO channel_recipients (channel_id, recipient, counted_at) VALUES ($1, $2, $3) \
         ON CONFLICT (channel_id, recipient) DO UPDATE SET counted_at = excluded.counted_at",
        args![&a.channel_id, &a.recipient, a.now],
    )
    .await?;
    Ok(RecipientOutcome::Admitted {
        count: count + 1,
        counted_at: Some(a.now),
    })
}

#[async_trait]
impl<B: Sql> QuotaStore for B {
    async fn charge(&self, counters: &[Counter], n: i64) -> Result<ChargeOutcome> {
        self.write((counters.to_vec(), n), |db, (counters, n)| {
            Box::pin(charge(db, counters, *n))
        })
        .await
    }

    async fn refund(&self, counters: &[(String, String)], n: i64) -> Result<()> {
        self.write((counters.to_vec(), n), |db, (counters, n)| {
            Box::pin(async move {
                for (subject, period) in counters {
                    uncharge(db, subject, period, *n).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn counter(&self, subject: &str, period: &str) -> Result<i64> {
        self.lookup((subject.to_string(), period.to_string()), |db, (s, p)| {
            Box::pin(count_of(db, s, p))
        })
        .await
    }

    async fn acquire_inflight(
        &self,
        subject: &str,
        id: &str,
        limit: i64,
        expires_at: Millis,
        now: Millis,
    ) -> Result<InflightOutcome> {
        let a = Inflight {
            subject: subject.to_string(),
            id: id.to_string(),
            limit,
            expires_at,
            now,
        };
        self.write(a, |db, a| Box::pin(acquire_inflight(db, a)))
            .await
    }

    async fn release_inflight(&self, id: &str) -> Result<()> {
        self.write(id.to_string(), |db, id| {
            Box::pin(async move {
                db.execute("DELETE FROM inflight_requests WHERE id = $1", args![id])
                    .await?;
                Ok(())
            })
        })
        .await
    }

    async fn admit_recipient(
        &self,
        channel_id: &ChannelId,
        recipient: &str,
        limit: i64,
        now: Millis,
    ) -> Result<RecipientOutcome> {
        let a = Admission {
            channel_id: channel_id.clone(),
            recipient: recipient.to_string(),
            limit,
            now,
        };
        self.write(a, |db, a| Box::pin(admit_recipient(db, a)))
            .await
    }

    async fn forget_recipient(
        &self,
        channel_id: &ChannelId,
        recipient: &str,
        counted_at: Millis,
    ) -> Result<()> {
        let state = (channel_id.to_string(), recipient.to_string(), counted_at);
        self.write(state, |db, (channel, recipient, at)| {
            Box::pin(async move {
                db.execute(
                    "DELETE FROM channel_recipients \
                     WHERE channel_id = $1 AND recipient = $2 AND counted_at = $3",
                    args![channel, recipient, *at],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn idempotency_key_used(&self, api_key_id: &str, key: &str) -> Result<bool> {
        self.lookup(
            (api_key_id.to_string(), key.to_string()),
            |db, (api_key, key)| {
                Box::pin(async move {
                    let row = db
                        .fetch_optional(
                            "SELECT 1 FROM idempotency_keys WHERE api_key_id = $1 AND key = $2",
                            args![api_key, key],
                        )
                        .await?;
                    Ok(row.is_some())
                })
            },
        )
        .await
    }

    async fn prune_quotas(&self, now: Millis) -> Result<u64> {
        self.write(now, |db, now| {
            Box::pin(async move {
                let mut n = db
                    .execute(
                        "DELETE FROM usage_counters WHERE expires_at <= $1",
                        args![*now],
                    )
                    .await?;
                n += db
                    .execute(
                        "DELETE FROM inflight_requests WHERE expires_at <= $1",
                        args![*now],
                    )
                    .await?;
                n += db
                    .execute(
                        "DELETE FROM channel_recipients WHERE counted_at <= $1",
                        args![*now - MESSAGING_WINDOW_MS],
                    )
                    .await?;
                Ok(n)
            })
        })
        .await
    }
}
