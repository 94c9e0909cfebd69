//! The work queue and its leases on SQLite. SQLite has one writer at a time, so a single
//! `UPDATE … RETURNING` claims atomically; no `SKIP LOCKED` is needed.

use std::time::Duration;

use sqlx::Row;

use super::SqliteStore;
use crate::error::Result;
use crate::model::{Job, JobId, Retry};
use crate::queue::{from_micros, lease_end, micros};

impl SqliteStore {
    pub(crate) async fn enqueue_job(
        &self,
        kind: &str,
        payload: &serde_json::Value,
        run_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<JobId> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO jobs (kind, payload, status, run_at, attempts, created_at) \
             VALUES (?, ?, 'ready', ?, 0, ?) RETURNING id",
        )
        .bind(kind)
        .bind(payload.to_string())
        .bind(micros(run_at))
        .bind(micros(chrono::Utc::now()))
        .fetch_one(self.aux_pool())
        .await?;
        Ok(id)
    }

    pub(crate) async fn claim_jobs(
        &self,
        worker: &str,
        n: u32,
        lease: Duration,
    ) -> Result<Vec<Job>> {
        let now = chrono::Utc::now();
        let until = lease_end(now, lease);
        let rows = sqlx::query(
            "UPDATE jobs SET status = 'running', locked_by = ?1, lease_until = ?2, \
             attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM jobs \
                 WHERE (status = 'ready' AND run_at <= ?3) \
                    OR (status = 'running' AND lease_until <= ?3) \
                 ORDER BY run_at, id LIMIT ?4) \
             RETURNING id, kind, payload, attempts, lease_until",
        )
        .bind(worker)
        .bind(micros(until))
        .bind(micros(now))
        .bind(i64::from(n))
        .fetch_all(self.aux_pool())
        .await?;
        let mut jobs = rows
            .iter()
            .map(|r| {
                let payload: String = r.try_get(2)?;
                Ok(Job {
                    id: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    payload: serde_json::from_str(&payload)?,
                    attempts: r.try_get::<i64, _>(3)? as u32,
                    lease_until: from_micros(r.try_get(4)?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    pub(crate) async fn complete_job(&self, id: JobId, worker: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'done', locked_by = NULL, lease_until = NULL \
             WHERE id = ? AND status = 'running' AND locked_by = ?",
        )
        .bind(id)
        .bind(worker)
        .execute(self.aux_pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn fail_job(
        &self,
        id: JobId,
        worker: &str,
        error: &str,
        retry: Retry,
    ) -> Result<bool> {
        let (status, run_at) = match retry {
            Retry::At(t) => ("ready", Some(micros(t))),
            Retry::Never => ("dead", None),
        };
        let done = sqlx::query(
            "UPDATE jobs SET status = ?, run_at = COALESCE(?, run_at), locked_by = NULL, \
             lease_until = NULL, last_error = ? \
             WHERE id = ? AND status = 'running' AND locked_by = ?",
        )
        .bind(status)
        .bind(run_at)
        .bind(error)
        .bind(id)
        .bind(worker)
        .execute(self.aux_pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
