//! Quotas and limits on SQLite. Every write runs on the one writer connection inside
//! `BEGIN IMMEDIATE`, which also holds other processes on the same file off, so a check followed
//! by a write is atomic.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::SqliteStore;
use crate::quotas::MESSAGING_WINDOW_MS;
use crate::{
    ChargeOutcome, Counter, InflightOutcome, Millis, QuotaStore, RecipientOutcome, Result,
};

fn count_of(c: &Connection, subject: &str, period: &str) -> Result<i64> {
    Ok(
        c.prepare_cached("SELECT count FROM usage_counters WHERE subject = ?1 AND period = ?2")?
            .query_row(params![subject, period], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0),
    )
}

#[async_trait]
impl QuotaStore for SqliteStore {
    async fn charge(&self, counters: &[Counter], n: i64) -> Result<ChargeOutcome> {
        let counters = counters.to_vec();
        self.rt
            .write(move |c| {
                // Check every counter first, then write: nothing is charged unless all pass.
                for (index, k) in counters.iter().enumerate() {
                    let count = count_of(c, &k.subject, &k.period)?;
                    if count.saturating_add(n) > k.limit {
                        return Ok(ChargeOutcome::Refused { index, count });
                    }
                }
                let mut up = c.prepare_cached(
                    "INSERT INTO usage_counters (subject, period, count, expires_at) \
                     VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (subject, period) DO UPDATE SET count = count + excluded.count \
                     RETURNING count",
                )?;
                let mut counts = Vec::with_capacity(counters.len());
                for k in &counters {
                    counts.push(
                        up.query_row(params![k.subject, k.period, n, k.expires_at], |r| {
                            r.get::<_, i64>(0)
                        })?,
                    );
                }
                Ok(ChargeOutcome::Charged(counts))
            })
            .await
    }

    async fn refund(&self, counters: &[(String, String)], n: i64) -> Result<()> {
        let counters = counters.to_vec();
        self.rt
            .write(move |c| {
                let mut down = c.prepare_cached(
                    "UPDATE usage_counters SET count = MAX(count - ?3, 0) \
                     WHERE subject = ?1 AND period = ?2",
                )?;
                for (subject, period) in &counters {
                    down.execute(params![subject, period, n])?;
                }
                Ok(())
            })
            .await
    }

    async fn counter(&self, subject: &str, period: &str) -> Result<i64> {
        let (subject, period) = (subject.to_owned(), period.to_owned());
        self.rt.read(move |c| count_of(c, &subject, &period)).await
    }

    async fn acquire_inflight(
        &self,
        subject: &str,
        id: &str,
        limit: i64,
        expires_at: Millis,
        now: Millis,
    ) -> Result<InflightOutcome> {
        let (subject, id) = (subject.to_owned(), id.to_owned());
        self.rt
            .write(move |c| {
                let in_flight: i64 = c
                    .prepare_cached(
                        "SELECT COUNT(*) FROM inflight_requests \
                         WHERE subject = ?1 AND expires_at > ?2",
                    )?
                    .query_row(params![subject, now], |r| r.get(0))?;
                if in_flight >= limit {
                    return Ok(InflightOutcome::Refused { in_flight });
                }
                c.prepare_cached(
                    "INSERT INTO inflight_requests (id, subject, expires_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at",
                )?
                .execute(params![id, subject, expires_at])?;
                Ok(InflightOutcome::Acquired {
                    in_flight: in_flight + 1,
                })
            })
            .await
    }

    async fn release_inflight(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.rt
            .write(move |c| {
                c.prepare_cached("DELETE FROM inflight_requests WHERE id = ?1")?
                    .execute([&id])?;
                Ok(())
            })
            .await
    }

    async fn admit_recipient(
        &self,
        channel_id: &str,
        recipient: &str,
        limit: i64,
        now: Millis,
    ) -> Result<RecipientOutcome> {
        let (channel_id, recipient) = (channel_id.to_owned(), recipient.to_owned());
        let since = now - MESSAGING_WINDOW_MS;
        self.rt
            .write(move |c| {
                let held: Option<Millis> = c
                    .prepare_cached(
                        "SELECT counted_at FROM channel_recipients \
                         WHERE channel_id = ?1 AND recipient = ?2",
                    )?
                    .query_row(params![channel_id, recipient], |r| r.get(0))
                    .optional()?;
                let (count, oldest): (i64, Option<Millis>) = c
                    .prepare_cached(
                        "SELECT COUNT(*), MIN(counted_at) FROM channel_recipients \
                         WHERE channel_id = ?1 AND counted_at > ?2",
                    )?
                    .query_row(params![channel_id, since], |r| Ok((r.get(0)?, r.get(1)?)))?;
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
                c.prepare_cached(
                    "INSERT INTO channel_recipients (channel_id, recipient, counted_at) \
                     VALUES (?1, ?2, ?3) \
                     ON CONFLICT (channel_id, recipient) DO UPDATE SET counted_at = excluded.counted_at",
                )?
                .execute(params![channel_id, recipient, now])?;
                Ok(RecipientOutcome::Admitted {
                    count: count + 1,
                    counted_at: Some(now),
                })
            })
            .await
    }

    async fn forget_recipient(
        &self,
        channel_id: &str,
        recipient: &str,
        counted_at: Millis,
    ) -> Result<()> {
        let (channel_id, recipient) = (channel_id.to_owned(), recipient.to_owned());
        self.rt
            .write(move |c| {
                c.prepare_cached(
                    "DELETE FROM channel_recipients \
                     WHERE channel_id = ?1 AND recipient = ?2 AND counted_at = ?3",
                )?
                .execute(params![channel_id, recipient, counted_at])?;
                Ok(())
            })
            .await
    }

    async fn idempotency_key_used(&self, api_key_id: &str, key: &str) -> Result<bool> {
        let (api_key_id, key) = (api_key_id.to_owned(), key.to_owned());
        self.rt.lookup(move |c| {
            Ok(c.prepare_cached(
                "SELECT 1 FROM idempotency_keys WHERE api_key_id = ?1 AND key = ?2",
            )?
            .query_row(params![api_key_id, key], |_| Ok(()))
            .optional()?
            .is_some())
        })
    }

    async fn prune_quotas(&self, now: Millis) -> Result<u64> {
        self.rt
            .write(move |c| {
                let mut n = c
                    .prepare_cached("DELETE FROM usage_counters WHERE expires_at <= ?1")?
                    .execute([now])?;
                n += c
                    .prepare_cached("DELETE FROM inflight_requests WHERE expires_at <= ?1")?
                    .execute([now])?;
                n += c
                    .prepare_cached("DELETE FROM channel_recipients WHERE counted_at <= ?1")?
                    .execute([now - MESSAGING_WINDOW_MS])?;
                Ok(n as u64)
            })
            .await
    }
}
