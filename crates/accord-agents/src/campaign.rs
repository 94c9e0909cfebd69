//! Campaigns: create one (an event), start it (choose the tail, build and open every
//! negotiation, hand back the invitations), pause and resume it, sweep expired
//! negotiations, and report live counts and results from the read models.
//!
//! Every state change follows [`CampaignState`]'s transition table and appends to the
//! campaign's stream expecting the version it read, so of two concurrent changes one
//! wins and the other is checked again against the new state (a second pause is refused
//! as illegal: the campaign is already paused).

use std::sync::Arc;

use accord_core::event::campaign_stream;
use accord_core::id::CampaignId;
use accord_core::negotiation::{
    Campaign, CampaignState, CampaignTemplate, NegotiationClosed, NegotiationOutcome, TailRule,
};
use accord_core::{Currency, Event, FxTable, Lifecycle, Money};
use accord_policy::RegionRules;
use accord_store::{Append, DocumentQuery, ExpectedVersion, Store, StoreError};
use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use crate::error::AgentError;
use crate::host::Host;
use crate::{build, tail};

/// Negotiations opened per append.
const OPEN_BATCH: usize = 500;

/// What the buyer sends a supplier: where to negotiate and the token to do it with.
#[derive(Clone, Debug, Serialize)]
pub struct Invitation {
    pub negotiation: String,
    pub supplier_ref: String,
    pub token: String,
    /// The protocol URL of the negotiation.
    pub url: String,
}

/// Live counts of one campaign.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CampaignStatus {
    pub campaign: String,
    pub state: String,
    pub invited: u64,
    pub engaged: u64,
    pub agreed: u64,
    pub escalated: u64,
    pub declined: u64,
    pub no_agreement: u64,
    pub expired: u64,
}

impl CampaignStatus {
    pub fn open(&self) -> u64 {
        self.invited + self.engaged
    }
    pub fn total(&self) -> u64 {
        self.open() + self.closed()
    }
    pub fn closed(&self) -> u64 {
        self.agreed + self.escalated + self.declined + self.no_agreement + self.expired
    }
}

/// A campaign's results, in the reporting currency.
#[derive(Clone, Debug, Serialize)]
pub struct CampaignReport {
    pub status: CampaignStatus,
    pub reporting_currency: Currency,
    /// Today's yearly spend with every supplier approached.
    pub approached_spend: Money,
    /// Today's yearly spend with the suppliers that agreed.
    pub agreed_spend: Money,
    pub annual_savings: Money,
    /// Savings over the agreed suppliers' spend, percent.
    pub savings_pct: f64,
    /// Average change in payment days over the agreements.
    pub avg_payment_days_change: f64,
    /// Deals (agreed or escalated) over suppliers approached, percent.
    pub close_rate_pct: f64,
    /// Median minutes from invitation to close, over the deals.
    pub median_minutes_to_close: f64,
    pub median_moves_to_close: f64,
}

pub struct Campaigns<S> {
    host: Arc<Host<S>>,
    fx: FxTable,
    rules: &'static RegionRules,
}

impl<S: Store + Clone + 'static> Campaigns<S> {
    pub fn new(host: Arc<Host<S>>, fx: FxTable) -> Campaigns<S> {
        Campaigns {
            host,
            fx,
            rules: RegionRules::builtin(),
        }
    }

    pub fn host(&self) -> &Arc<Host<S>> {
        &self.host
    }

    /// Records a new campaign.
    pub async fn create(
        &self,
        name: &str,
        rule: TailRule,
        template: CampaignTemplate,
        seed: u64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Campaign, AgentError> {
        if template.rounds == 0 || template.contract_months.is_empty() {
            return Err(AgentError::Invalid(
                "a campaign needs at least one round and one contract length".into(),
            ));
        }
        let campaign = Campaign {
            id: CampaignId::new(),
            name: name.to_owned(),
            rule,
            template,
            seed,
            created_at: now,
            created_by: by.to_owned(),
        };
        self.host
            .store()
            .append(
                Append::new(Event::CampaignCreated {
                    campaign: campaign.clone(),
                })
                .expect_version(ExpectedVersion::NoStream),
            )
            .await?;
        Ok(campaign)
    }

    pub async fn get(&self, id: CampaignId) -> Result<(Campaign, String), AgentError> {
        let doc = self
            .host
            .store()
            .document("campaign", &id.to_string())
            .await?
            .ok_or_else(|| AgentError::NotFound(format!("campaign {id}")))?;
        let campaign: Campaign = serde_json::from_value(doc.data)
            .map_err(|e| AgentError::Invalid(format!("campaign record: {e}")))?;
        Ok((campaign, doc.state))
    }

    /// Chooses the tail, opens a negotiation with each supplier (the agent's first offer
    /// included) and returns the invitations. `progress` is told how many are open.
    pub async fn start(
        &self,
        id: CampaignId,
        base_url: &str,
        now: DateTime<Utc>,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Vec<Invitation>, AgentError> {
        let (campaign, state) = self.get(id).await?;
        if state != "draft" {
            return Err(AgentError::Invalid(format!(
                "campaign {id} is {state}; only a draft campaign can start"
            )));
        }
        if self.host.is_paused() {
            return Err(AgentError::AgentsPaused);
        }
        let picks = tail::select(
            self.host.store(),
            &campaign.rule,
            &self.fx,
            now.date_naive(),
        )
        .await?;
        let mut rng = ChaCha20Rng::from_os_rng();
        let mut invitations = Vec::with_capacity(picks.len());
        let mut specs = Vec::with_capacity(OPEN_BATCH);
        let base = base_url.trim_end_matches('/');
        let total = picks.len();
        let mut opened = 0;
        for pick in &picks {
            let (spec, token) = build::spec(&campaign, pick, self.rules, now, &mut rng)?;
            invitations.push(Invitation {
                negotiation: spec.id.to_string(),
                supplier_ref: spec.supplier_ref.clone(),
                token,
                url: format!("{base}/v1/negotiations/{}", spec.id),
            });
            specs.push(spec);
            if specs.len() == OPEN_BATCH {
                opened += specs.len();
                self.host.open(std::mem::take(&mut specs), now).await?;
                progress(opened, total);
            }
        }
        opened += specs.len();
        self.host.open(specs, now).await?;
        progress(opened, total);
        self.transition(
            id,
            CampaignState::Draft,
            CampaignState::Running,
            &format!("{total} suppliers invited"),
        )
        .await?;
        Ok(invitations)
    }

    /// Pauses a running campaign: until [`Self::resume`], no move is made in any of its
    /// negotiations (a supplier's gets `campaign_paused`) and their deadlines do not run.
    /// `by` and `reason` go into the log.
    pub async fn pause(&self, id: CampaignId, by: &str, reason: &str) -> Result<(), AgentError> {
        let why = because("paused", by, reason);
        self.transition(id, CampaignState::Running, CampaignState::Paused, &why)
            .await
    }

    /// Resumes a paused campaign; every deadline moves later by the time it was paused.
    pub async fn resume(&self, id: CampaignId, by: &str, reason: &str) -> Result<(), AgentError> {
        let why = because("resumed", by, reason);
        self.transition(id, CampaignState::Paused, CampaignState::Running, &why)
            .await
    }

    /// Moves the campaign from `from` to `to` (a pair its life cycle allows) if the log
    /// has it in `from` now, appending expecting the stream version read; on losing a race
    /// it reads again. A refused change writes nothing.
    pub async fn transition(
        &self,
        id: CampaignId,
        from: CampaignState,
        to: CampaignState,
        reason: &str,
    ) -> Result<(), AgentError> {
        let stream = campaign_stream(id);
        for _ in 0..8 {
            let current = self.host.campaign(id, true).await?;
            if current.version == 0 {
                return Err(AgentError::NotFound(format!("campaign {id}")));
            }
            if current.state != from || current.state.transition(to).is_err() {
                return Err(AgentError::IllegalTransition {
                    campaign: id.to_string(),
                    from: current.state,
                    to,
                });
            }
            let append = Append::new(Event::CampaignStateChanged {
                campaign: id,
                state: to.as_str().to_owned(),
                reason: reason.to_owned(),
            })
            .expect(stream.clone(), ExpectedVersion::Exact(current.version));
            let result = self.host.store().append(append).await;
            self.host.forget_campaign(id);
            match result {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AgentError::Contention(stream))
    }

    /// Live counts from the negotiations read model.
    pub async fn status(&self, id: CampaignId) -> Result<CampaignStatus, AgentError> {
        let (_, state) = self.get(id).await?;
        let mut s = CampaignStatus {
            campaign: id.to_string(),
            state,
            ..CampaignStatus::default()
        };
        for (state, n) in self
            .host
            .store()
            .document_counts("negotiation", Some(&id.to_string()))
            .await?
        {
            match state.as_str() {
                "invited" => s.invited = n,
                "engaged" => s.engaged = n,
                "agreed" => s.agreed = n,
                "escalated" => s.escalated = n,
                "declined" => s.declined = n,
                "no_agreement" => s.no_agreement = n,
                "expired" => s.expired = n,
                _ => {}
            }
        }
        Ok(s)
    }

    /// Expires every open negotiation of the campaign past its deadline, and completes the
    /// campaign when none is open. Returns how many expired.
    /// A paused campaign expires nothing: its deadlines are held.
    pub async fn sweep(&self, id: CampaignId, now: DateTime<Utc>) -> Result<usize, AgentError> {
        if self.host.campaign(id, true).await?.state == CampaignState::Paused {
            return Ok(0);
        }
        let mut expired = 0;
        for state in ["invited", "engaged"] {
            let mut after: Option<String> = None;
            loop {
                let mut q = DocumentQuery::kind("negotiation", 1000)
                    .parent(id.to_string())
                    .state(state);
                if let Some(a) = &after {
                    q = q.after(a.clone());
                }
                let page = self.host.store().documents(&q).await?;
                let Some(last) = page.last() else { break };
                after = Some(last.id.clone());
                for doc in &page {
                    let nid = accord_core::id::NegotiationId::parse(&doc.id)
                        .map_err(|e| AgentError::Invalid(e.to_string()))?;
                    if self.host.expire(nid, now).await? {
                        expired += 1;
                    }
                }
            }
        }
        let status = self.status(id).await?;
        if status.open() == 0 && status.state == "running" {
            match self
                .transition(
                    id,
                    CampaignState::Running,
                    CampaignState::Completed,
                    "every negotiation closed",
                )
                .await
            {
                // Paused or completed meanwhile: nothing to complete now.
                Ok(()) | Err(AgentError::IllegalTransition { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(expired)
    }

    /// Every closed negotiation of the campaign.
    pub async fn closed(&self, id: CampaignId) -> Result<Vec<NegotiationClosed>, AgentError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut q = DocumentQuery::kind("negotiation", 1000).parent(id.to_string());
            if let Some(a) = &after {
                q = q.after(a.clone());
            }
            let page = self.host.store().documents(&q).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for doc in page {
                if matches!(doc.state.as_str(), "invited" | "engaged") {
                    continue;
                }
                out.push(
                    serde_json::from_value(doc.data)
                        .map_err(|e| AgentError::Invalid(format!("negotiation {}: {e}", doc.id)))?,
                );
            }
        }
        Ok(out)
    }

    /// The campaign's results in the FX table's base currency.
    pub async fn report(&self, id: CampaignId) -> Result<CampaignReport, AgentError> {
        let status = self.status(id).await?;
        let closed = self.closed(id).await?;
        let base = self.fx.base;
        let conv = |m: Money| {
            self.fx
                .convert(m, base)
                .map_err(|e| AgentError::Invalid(format!("FX: {e}")))
        };
        let mut approached = 0i64;
        let mut agreed_spend = 0i64;
        let mut savings = 0i64;
        let mut days = Vec::new();
        let mut minutes = Vec::new();
        let mut moves = Vec::new();
        let mut deals = 0u64;
        for c in &closed {
            approached += conv(c.annual_spend)?.minor;
            match &c.outcome {
                NegotiationOutcome::Agreed {
                    annual_saving,
                    payment_days_change,
                    ..
                } => {
                    agreed_spend += conv(c.annual_spend)?.minor;
                    savings += conv(*annual_saving)?.minor;
                    days.push(*payment_days_change as f64);
                }
                NegotiationOutcome::Escalated { .. } => {}
                _ => continue,
            }
            deals += 1;
            minutes.push((c.closed_at - c.opened_at).num_milliseconds() as f64 / 60_000.0);
            moves.push(f64::from(c.moves));
        }
        // Negotiations still open count as approached too.
        let total = status.total().max(1);
        let pct = |a: i64, b: i64| {
            if b == 0 {
                0.0
            } else {
                (Decimal::from(a) * Decimal::ONE_HUNDRED / Decimal::from(b))
                    .to_f64()
                    .unwrap_or(0.0)
            }
        };
        Ok(CampaignReport {
            reporting_currency: base,
            approached_spend: Money::new(approached, base),
            agreed_spend: Money::new(agreed_spend, base),
            annual_savings: Money::new(savings, base),
            savings_pct: pct(savings, agreed_spend),
            avg_payment_days_change: if days.is_empty() {
                0.0
            } else {
                days.iter().sum::<f64>() / days.len() as f64
            },
            close_rate_pct: deals as f64 * 100.0 / total as f64,
            median_minutes_to_close: median(minutes),
            median_moves_to_close: median(moves),
            status,
        })
    }
}

/// The reason a state change is logged with: who made it, and why if they said.
fn because(what: &str, by: &str, reason: &str) -> String {
    match reason.trim() {
        "" => format!("{what} by `{by}`"),
        why => format!("{what} by `{by}`: {why}"),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[m]
    } else {
        (xs[m - 1] + xs[m]) / 2.0
    }
}
