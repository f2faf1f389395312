//! Quotas and limits on PostgreSQL, shared by every instance on the database.
//!
//! Counters are charged with a conditional upsert (`ON CONFLICT … DO UPDATE … WHERE count + n <=
//! limit`), which PostgreSQL evaluates against the latest committed row even when transactions
//! race, so the last unit goes to exactly one of them. Checks that count rows (in-flight slots,
//! messaging-limit recipients) first take a transaction-scoped advisory lock on their subject, so
//! the count and the insert are one step for every instance.

use async_trait::async_trait;
use sqlx::{PgConnection, Row};

use super::{is_deadlock, PgStore, DEADLOCK_RETRIES};
use crate::quotas::MESSAGING_WINDOW_MS;
use crate::{
    ChargeOutcome, Counter, InflightOutcome, Millis, QuotaStore, RecipientOutcome, Result,
};

/// Serializes, across every instance, the transactions that check and change `key`'s rows until
/// the transaction ends.
async fn lock(c: &mut PgConnection, key: &str) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(key)
        .execute(&mut *c)
        .await?;
    Ok(())
}

async fn count_of<'e>(c: impl sqlx::PgExecutor<'e>, subject: &str, period: &str) -> Result<i64> {
    Ok(
        sqlx::query("SELECT count FROM usage_counters WHERE subject = $1 AND period = $2")
            .bind(subject)
            .bind(period)
            .fetch_optional(c)
            .await?
            .map(|r| r.try_get::<i64, _>(0))
            .transpose()?
            .unwrap_or(0),
    )
}

/// Charges `counters` in `order` inside the caller's transaction; `Err(index)` names the first
/// that would pass its limit (the caller rolls back).
async fn charge_in(
    c: &mut PgConnection,
    counters: &[Counter],
    order: &[usize],
    n: i64,
) -> Result<std::result::Result<Vec<i64>, usize>> {
    let mut counts = vec![0; counters.len()];
    for &i in order {
        let k = &counters[i];
        if n > k.limit {
            return Ok(Err(i));
        }
        let row = sqlx::query(
            "INSERT INTO usage_counters (subject, period, count, expires_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (subject, period) DO UPDATE \
             SET count = usage_counters.count + excluded.count \
             WHERE usage_counters.count + excluded.count <= $5 \
             RETURNING count",
        )
        .bind(&k.subject)
        .bind(&k.period)
        .bind(n)
        .bind(k.expires_at)
        .bind(k.limit)
        .fetch_optional(&mut *c)
        .await?;
        match row {
            Some(r) => counts[i] = r.try_get(0)?,
            None => return Ok(Err(i)),
        }
    }
    Ok(Ok(counts))
}

async fn admit_in(
    c: &mut PgConnection,
    channel_id: &str,
    recipient: &str,
    limit: i64,
    now: Millis,
) -> Result<RecipientOutcome> {
    lock(c, &format!("recipients:{channel_id}")).await?;
    let since = now - MESSAGING_WINDOW_MS;
    let held: Option<Millis> = sqlx::query(
        "SELECT counted_at FROM channel_recipients WHERE channel_id = $1 AND recipient = $2",
    )
    .bind(channel_id)
    .bind(recipient)
    .fetch_optional(&mut *c)
    .await?
    .map(|r| r.try_get(0))
    .transpose()?;
    let row = sqlx::query(
        "SELECT COUNT(*), MIN(counted_at) FROM channel_recipients \
         WHERE channel_id = $1 AND counted_at > $2",
    )
    .bind(channel_id)
    .bind(since)
    .fetch_one(&mut *c)
    .await?;
    let count: i64 = row.try_get(0)?;
    let oldest: Option<Millis> = row.try_get(1)?;
    if held.is_some_and(|at| at > since) {
        return Ok(RecipientOutcome::Admitted {
            count,
            counted_at: None,
        });
    }
    if count >= limit {
        return Ok(RecipientOutcome::Refused {
            count,
            frees_at: oldest.unwrap_or(now) + MESSAGING_WINDOW_MS,
        });
    }
    sqlx::query(
        "INSERT INTO channel_recipients (channel_id, recipient, counted_at) VALUES ($1, $2, $3) \
         ON CONFLICT (channel_id, recipient) DO UPDATE SET counted_at = excluded.counted_at",
    )
    .bind(channel_id)
    .bind(recipient)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(RecipientOutcome::Admitted {
        count: count + 1,
        counted_at: Some(now),
    })
}

#[async_trait]
impl QuotaStore for PgStore {
    async fn charge(&self, counters: &[Counter], n: i64) -> Result<ChargeOutcome> {
        // One fixed order (by subject and period) for every caller, so two transactions charging
        // the same counters cannot wait on each other in a cycle.
        let mut order: Vec<usize> = (0..counters.len()).collect();
        order.sort_by(|&a, &b| {
            (&counters[a].subject, &counters[a].period)
                .cmp(&(&counters[b].subject, &counters[b].period))
        });
        let mut attempt = 0;
        let refused = loop {
            let mut tx = self.pool.begin().await?;
            match charge_in(&mut tx, counters, &order, n).await {
                Ok(Ok(counts)) => {
                    tx.commit().await?;
                    return Ok(ChargeOutcome::Charged(counts));
                }
                Ok(Err(index)) => {
                    tx.rollback().await?;
                    break index;
                }
                Err(e) if is_deadlock(&e) && attempt < DEADLOCK_RETRIES => attempt += 1,
                Err(e) => return Err(e),
            }
        };
        let k = &counters[refused];
        let count = count_of(&self.pool, &k.subject, &k.period).await?;
        Ok(ChargeOutcome::Refused {
            index: refused,
            count,
        })
    }

    async fn refund(&self, counters: &[(String, String)], n: i64) -> Result<()> {
        for (subject, period) in counters {
            sqlx::query(
                "UPDATE usage_counters SET count = GREATEST(count - $3, 0) \
                 WHERE subject = $1 AND period = $2",
            )
            .bind(subject)
            .bind(period)
            .bind(n)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    async fn counter(&self, subject: &str, period: &str) -> Result<i64> {
        count_of(&self.pool, subject, period).await
    }

    async fn acquire_inflight(
        &self,
        subject: &str,
        id: &str,
        limit: i64,
        expires_at: Millis,
        now: Millis,
    ) -> Result<InflightOutcome> {
        let mut tx = self.pool.begin().await?;
        lock(&mut tx, &format!("inflight:{subject}")).await?;
        let in_flight: i64 = sqlx::query(
            "SELECT COUNT(*) FROM inflight_requests WHERE subject = $1 AND expires_at > $2",
        )
        .bind(subject)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        if in_flight >= limit {
            tx.rollback().await?;
            return Ok(InflightOutcome::Refused { in_flight });
        }
        sqlx::query(
            "INSERT INTO inflight_requests (id, subject, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at",
        )
        .bind(id)
        .bind(subject)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(InflightOutcome::Acquired {
            in_flight: in_flight + 1,
        })
    }

    async fn release_inflight(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM inflight_requests WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn admit_recipient(
        &self,
        channel_id: &str,
        recipient: &str,
        limit: i64,
        now: Millis,
    ) -> Result<RecipientOutcome> {
        let mut tx = self.pool.begin().await?;
        let out = admit_in(&mut tx, channel_id, recipient, limit, now).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn forget_recipient(
        &self,
        channel_id: &str,
        recipient: &str,
        counted_at: Millis,
    ) -> Result<()> {
        sqlx::query(
            "DELETE FROM channel_recipients \
             WHERE channel_id = $1 AND recipient = $2 AND counted_at = $3",
        )
        .bind(channel_id)
        .bind(recipient)
        .bind(counted_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn idempotency_key_used(&self, api_key_id: &str, key: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM idempotency_keys WHERE api_key_id = $1 AND key = $2")
                .bind(api_key_id)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    async fn prune_quotas(&self, now: Millis) -> Result<u64> {
        let mut n = sqlx::query("DELETE FROM usage_counters WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM inflight_requests WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM channel_recipients WHERE counted_at <= $1")
            .bind(now - MESSAGING_WINDOW_MS)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n)
    }
}
