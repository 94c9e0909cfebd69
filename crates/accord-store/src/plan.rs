//! Backend-independent write planning: commands are validated and canonicalised once
//! ([`prepare`]), then a writer that holds the chain tip turns them into rows with
//! sequence numbers, stream versions, hashes, projection changes and signed checkpoints
//! ([`plan`]). The backends only execute the rows.

use std::collections::HashMap;

/// The writers' per-event maps (stream tips, idempotency keys): looked up several times
/// per event, so hashed with foldhash (seeded per process) rather than SipHash.
pub(crate) type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use accord_core::document::{InvoiceTally, MatchRecord};
use accord_core::event::DocumentRef;
use accord_core::negotiation::Party;
use accord_core::{EVENT_SCHEMA_VERSION, Event};
use serde::Serialize;

use crate::audit::NodeKey;
use crate::chain::{self, Entry};
use crate::error::{Result, StoreError};
use crate::model::{Append, Appended, ExpectedVersion};

/// A validated event, canonicalised once, off the writer.
pub(crate) struct PreparedEvent {
    pub stream: String,
    pub kind: &'static str,
    pub payload: String,
    pub proj: Option<ProjOp>,
}

pub(crate) struct PreparedCommand {
    pub key: Option<String>,
    pub expect: Vec<(String, ExpectedVersion)>,
    pub events: Vec<PreparedEvent>,
}

/// A change to a read model, derived from one event.
pub(crate) enum ProjOp {
    Supplier {
        id: String,
        external_ref: String,
        name: String,
        region: String,
        size: String,
        status: String,
        risk: String,
        payment_days: Option<i64>,
        data: String,
    },
    Contract {
        id: String,
        external_ref: String,
        supplier: String,
        category: String,
        currency: String,
        state: String,
        valid_from: String,
        valid_to: String,
        data: String,
    },
    Spend {
        id: String,
        external_ref: String,
        supplier: String,
        category: String,
        sku: Option<String>,
        description: String,
        quantity: String,
        currency: String,
        amount_minor: i64,
        date: String,
    },
    Document {
        kind: &'static str,
        id: String,
        /// The document this one belongs to, if any (a campaign for a negotiation).
        parent: Option<String>,
        /// A natural key to look the document up by (a purchase order's number).
        reference: Option<String>,
        state: String,
        data: String,
    },
    /// Adds one invoice's compliance and savings figures to each of `scopes` (`all`,
    /// `supplier/{id}`, `campaign/{id}`, `contract/{id}`), per currency.
    Tally {
        scopes: Vec<String>,
        currency: String,
        values: TallyValues,
    },
    /// A life-cycle move; `kind == "contract"` targets the contracts table.
    State {
        kind: &'static str,
        id: String,
        state: String,
    },
}

impl ProjOp {
    /// Which table and row this op touches: ops on the same row must not share one
    /// multi-row statement.
    pub fn target(&self) -> (u8, &str, &str) {
        match self {
            ProjOp::Supplier { id, .. } => (0, "", id),
            ProjOp::Contract { id, .. } => (1, "", id),
            ProjOp::Spend { id, .. } => (2, "", id),
            ProjOp::Document { kind, id, .. } => (3, kind, id),
            ProjOp::Tally { .. } => (5, "", ""),
            ProjOp::State { kind, id, .. } => (4, kind, id),
        }
    }
}

fn enum_str<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Life-cycle states are stored as serde writes them (`pending_approval`), whether the
/// event spelled the target state that way or as its Rust name (`PendingApproval`).
fn snake_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for (i, c) in s.trim().chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn projection(event: &Event) -> Result<Option<ProjOp>> {
    Ok(Some(match event {
        Event::SupplierRegistered { supplier } | Event::SupplierUpdated { supplier } => {
            ProjOp::Supplier {
                id: supplier.id.to_string(),
                external_ref: supplier.external_ref.clone(),
                name: supplier.name.clone(),
                region: supplier.region.to_string(),
                size: supplier.size.as_str().into(),
                status: supplier.status.as_str().into(),
                risk: supplier.risk.as_str().into(),
                payment_days: supplier.payment_days.map(i64::from),
                data: serde_json::to_string(supplier)?,
            }
        }
        Event::ContractRecorded { contract } => ProjOp::Contract {
            id: contract.id.to_string(),
            external_ref: contract.external_ref.clone(),
            supplier: contract.supplier.to_string(),
            category: contract.category.to_string(),
            currency: contract.currency.to_string(),
            state: enum_str(&contract.state),
            valid_from: contract.terms.valid_from.to_string(),
            valid_to: contract.terms.valid_to.to_string(),
            data: serde_json::to_string(contract)?,
        },
        Event::SpendRecorded { line } => ProjOp::Spend {
            id: line.id.to_string(),
            external_ref: line.external_ref.clone(),
            supplier: line.supplier.to_string(),
            category: line.category.to_string(),
            sku: line.sku.clone(),
            description: line.description.clone(),
            quantity: line.quantity.to_string(),
            currency: line.amount.currency.to_string(),
            amount_minor: line.amount.minor,
            date: line.date.to_string(),
        },
        Event::RequisitionSubmitted { requisition: d } => ProjOp::Document {
            kind: "requisition",
            id: d.id.to_string(),
            parent: None,
            reference: None,
            state: enum_str(&d.state),
            data: serde_json::to_string(d)?,
        },
        Event::PurchaseOrderIssued { order: d } | Event::PurchaseOrderChanged { order: d, .. } => {
            ProjOp::Document {
                kind: "purchase_order",
                id: d.id.to_string(),
                parent: d.requisition.map(|r| r.to_string()),
                reference: Some(d.number.clone()),
                state: enum_str(&d.state),
                data: serde_json::to_string(d)?,
            }
        }
        Event::InvoiceMatched { record } => match &record.tally {
            Some(t) => ProjOp::Tally {
                scopes: tally_scopes(record, t),
                currency: t.currency.to_string(),
                values: TallyValues::of(t),
            },
            None => return Ok(None),
        },
        Event::GoodsReceived { receipt: d } => ProjOp::Document {
            kind: "receipt",
            id: d.id.to_string(),
            parent: Some(d.purchase_order.to_string()),
            reference: None,
            state: enum_str(&d.state),
            data: serde_json::to_string(d)?,
        },
        Event::InvoiceReceived { invoice: d } => ProjOp::Document {
            kind: "invoice",
            id: d.id.to_string(),
            // Filed under the order number it quotes, so a receipt finds its invoices.
            parent: d.order_ref.clone(),
            reference: Some(d.number.clone()),
            state: enum_str(&d.state),
            data: serde_json::to_string(d)?,
        },
        Event::PaymentScheduled { payment: d } => ProjOp::Document {
            kind: "payment",
            id: d.id.to_string(),
            parent: Some(d.invoice.to_string()),
            reference: None,
            state: enum_str(&d.state),
            data: serde_json::to_string(d)?,
        },
        Event::DocumentStateChanged { document, to, .. } => {
            let (kind, id) = match document {
                DocumentRef::Contract(id) => ("contract", id.to_string()),
                DocumentRef::Requisition(id) => ("requisition", id.to_string()),
                DocumentRef::PurchaseOrder(id) => ("purchase_order", id.to_string()),
                DocumentRef::Receipt(id) => ("receipt", id.to_string()),
                DocumentRef::Invoice(id) => ("invoice", id.to_string()),
                DocumentRef::Payment(id) => ("payment", id.to_string()),
            };
            ProjOp::State {
                kind,
                id,
                state: snake_case(to),
            }
        }
        Event::CampaignCreated { campaign } => ProjOp::Document {
            kind: "campaign",
            id: campaign.id.to_string(),
            parent: None,
            reference: None,
            state: "draft".into(),
            data: serde_json::to_string(campaign)?,
        },
        Event::CampaignStateChanged {
            campaign, state, ..
        } => ProjOp::State {
            kind: "campaign",
            id: campaign.to_string(),
            state: snake_case(state),
        },
        Event::NegotiationOpened { negotiation: n } => ProjOp::Document {
            kind: "negotiation",
            id: n.id.to_string(),
            parent: Some(n.campaign.to_string()),
            reference: None,
            state: "invited".into(),
            data: serde_json::to_string(n)?,
        },
        // The supplier's first move engages it; later moves leave the state as it is.
        Event::NegotiationMoved { record } => match record.party {
            Party::Supplier if record.number <= 2 => ProjOp::State {
                kind: "negotiation",
                id: record.negotiation.to_string(),
                state: "engaged".into(),
            },
            _ => return Ok(None),
        },
        Event::NegotiationClosed { closed } => ProjOp::Document {
            kind: "negotiation",
            id: closed.negotiation.to_string(),
            parent: Some(closed.campaign.to_string()),
            reference: None,
            state: closed.outcome.state().into(),
            data: serde_json::to_string(closed)?,
        },
        // Governance: approvals filed under what they are about (a negotiation, a
        // campaign) or else the decision they authorise; autonomy per category; the kill
        // switch as one document. Each event carries the whole new record, so each is an
        // upsert.
        Event::ApprovalRequested { request: r }
        | Event::ApprovalStepRecorded { request: r, .. } => ProjOp::Document {
            kind: "approval",
            id: r.id.to_string(),
            parent: approval_parent(r),
            reference: None,
            state: r.state.as_str().to_owned(),
            data: serde_json::to_string(r)?,
        },
        Event::AutonomyChanged {
            category,
            setting,
            by,
            reason,
            at,
            decision,
            ..
        } => ProjOp::Document {
            kind: "autonomy",
            id: category.to_string(),
            parent: None,
            reference: None,
            state: setting.level.as_str().to_owned(),
            data: serde_json::to_string(&serde_json::json!({
                "category": category,
                "level": setting.level,
                "sample_ppm": setting.sample_ppm,
                "by": by,
                "reason": reason,
                "at": at,
                "decision": decision,
                "state": setting.level,
            }))?,
        },
        Event::AgentsPaused {
            by,
            reason,
            at,
            decision,
        }
        | Event::AgentsResumed {
            by,
            reason,
            at,
            decision,
        } => {
            let state = if matches!(event, Event::AgentsPaused { .. }) {
                "paused"
            } else {
                "running"
            };
            ProjOp::Document {
                kind: "kill_switch",
                id: "agents".to_owned(),
                parent: None,
                reference: None,
                state: state.to_owned(),
                data: serde_json::to_string(&serde_json::json!({
                    "state": state,
                    "by": by,
                    "reason": reason,
                    "at": at,
                    "decision": decision,
                }))?,
            }
        }
        // Decisions are read by id and by what they are about (`GET /v1/decisions`).
        Event::DecisionRecorded { decision } => ProjOp::Document {
            kind: "decision",
            id: decision.id.to_string(),
            parent: Some(decision.subject.clone()),
            reference: None,
            state: decision.choice.clone(),
            data: serde_json::to_string(decision)?,
        },
        Event::Genesis { .. } => return Ok(None),
    }))
}

/// The projection rows an invoice's tally adds to: everything, its supplier, and the
/// contract and campaign it was billed under.
fn tally_scopes(record: &MatchRecord, t: &InvoiceTally) -> Vec<String> {
    let mut scopes = vec!["all".to_owned(), format!("supplier/{}", record.supplier)];
    if let Some(c) = t.contract {
        scopes.push(format!("contract/{c}"));
    }
    if let Some(c) = t.campaign {
        scopes.push(format!("campaign/{c}"));
    }
    scopes
}

/// The additive figures of one invoice, as the tallies table stores them. Savings are in
/// millionths of a major unit: the one place the projection rounds (half to even, like `round_minor`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TallyValues {
    pub invoices: i64,
    pub lines: i64,
    pub compliant_lines: i64,
    pub terms_checked: i64,
    pub compliant_terms: i64,
    pub savings_lines: i64,
    pub negotiated_micros: i64,
    pub realised_micros: i64,
}

impl TallyValues {
    fn of(t: &InvoiceTally) -> TallyValues {
        let n = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
        TallyValues {
            invoices: 1,
            lines: n(t.lines),
            compliant_lines: n(t.compliant_lines),
            terms_checked: n(t.terms_checked),
            compliant_terms: n(t.compliant_terms),
            savings_lines: n(t.savings_lines),
            negotiated_micros: to_micros(t.negotiated),
            realised_micros: to_micros(t.realised),
        }
    }

    pub fn as_array(&self) -> [i64; 8] {
        [
            self.invoices,
            self.lines,
            self.compliant_lines,
            self.terms_checked,
            self.compliant_terms,
            self.savings_lines,
            self.negotiated_micros,
            self.realised_micros,
        ]
    }
}

/// Major units to millionths, rounded half away from zero; saturates far beyond any
/// real tally.
pub(crate) fn to_micros(major: rust_decimal::Decimal) -> i64 {
    use rust_decimal::prelude::ToPrimitive;
    (major * rust_decimal::Decimal::from(1_000_000))
        .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointNearestEven)
        .to_i64()
        .unwrap_or(if major.is_sign_negative() {
            i64::MIN
        } else {
            i64::MAX
        })
}

/// The document an approval is filed under: its subject, else the decision it authorises.
fn approval_parent(r: &accord_core::ApprovalRequest) -> Option<String> {
    if !r.subject.is_empty() {
        return Some(r.subject.clone());
    }
    match &r.authorises {
        accord_core::governance::Authorises::Decision { id } => Some(format!("decision/{id}")),
        accord_core::governance::Authorises::Pending { .. } => None,
    }
}

/// Validates and canonicalises commands. CPU work, done by the caller, not the writer.
pub(crate) fn prepare(commands: Vec<Append>) -> Result<Vec<PreparedCommand>> {
    commands
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            if c.events.is_empty() {
                return Err(StoreError::Invalid(format!("command {i} has no events")));
            }
            if c.idempotency_key.as_deref().is_some_and(str::is_empty) {
                return Err(StoreError::Invalid(format!(
                    "command {i} has an empty idempotency key"
                )));
            }
            let events = c
                .events
                .iter()
                .map(|e| {
                    Ok(PreparedEvent {
                        stream: e.stream(),
                        kind: e.kind(),
                        payload: chain::canonical_json(e)?,
                        proj: projection(e)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(PreparedCommand {
                key: c.idempotency_key,
                expect: c.expect,
                events,
            })
        })
        .collect()
}

/// One `events` row to insert; text borrows from the prepared commands.
pub(crate) struct EventRow<'a> {
    pub seq: i64,
    pub stream: &'a str,
    pub stream_version: i64,
    /// The seq of the previous event of the same stream, 0 for its first (SQLite links
    /// each event to it; PostgreSQL indexes streams instead and does not track it).
    pub prev_in_stream: i64,
    pub kind: &'static str,
    pub payload: &'a str,
    pub recorded_at: &'a str,
    pub key: Option<&'a str>,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

pub(crate) struct CheckpointRow {
    pub seq: i64,
    pub hash: [u8; 32],
    pub public_key: [u8; 32],
    pub signature: [u8; 64],
    pub signed_at: String,
}

/// Everything a transaction writes: one request, or a group of requests planned one on
/// top of the other ([`Plan::add`]), so that a merged group shares one set of buffers and
/// writes each stream's row once, at its last tip.
pub(crate) struct Plan<'a> {
    pub events: Vec<EventRow<'a>>,
    pub keys: Vec<(&'a str, Appended)>,
    /// Projection ops with the seq of the event that caused them, in seq order.
    pub proj: Vec<(i64, &'a ProjOp)>,
    pub checkpoints: Vec<CheckpointRow>,
    pub tip_seq: u64,
    pub tip_hash: [u8; 32],
    /// Each stream's tip as the plan leaves it: one entry per stream, however many
    /// requests moved it.
    moved: Map<&'a str, StreamTip>,
    /// The results of the keys planned so far: a later command with the same key, in this
    /// request or a later one, is a replay.
    planned_keys: Map<&'a str, Appended>,
    /// What [`Plan::add`] changed in `moved`, to put back if the request fails.
    undo: Vec<(&'a str, Option<StreamTip>)>,
    /// Scratch for one entry's canonical bytes.
    buf: Vec<u8>,
}

/// Where a plan leaves a stream it appended to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TipMove<'a> {
    pub stream: &'a str,
    pub tip: StreamTip,
}

/// Where a stream stands: its version (0 before its first event) and the seq of its last
/// event (0 before its first event, and always 0 where the backend does not track it).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct StreamTip {
    pub version: u64,
    pub last_seq: u64,
}

/// The writer's cache of stream tips, as planning reads it.
pub(crate) trait StreamTips {
    /// `None` for a stream the log has no event of.
    fn tip(&self, stream: &str) -> Option<StreamTip>;
}

/// Versions only (PostgreSQL, which indexes streams rather than linking events).
impl StreamTips for Map<String, u64> {
    fn tip(&self, stream: &str) -> Option<StreamTip> {
        self.get(stream).map(|&version| StreamTip {
            version,
            last_seq: 0,
        })
    }
}

impl StreamTips for Map<String, StreamTip> {
    fn tip(&self, stream: &str) -> Option<StreamTip> {
        self.get(stream).copied()
    }
}

/// What the writer knows of the committed log while planning: the chain's tip is the
/// plan's own ([`Plan::new`]).
pub(crate) struct Tip<'a> {
    /// The tip of every stream the commands touch as committed (absent: the stream has
    /// no event); the plan's own moves take precedence.
    pub streams: &'a dyn StreamTips,
    /// Results of idempotency keys already in the store, for the commands' keys.
    pub known_keys: &'a Map<String, Appended>,
    pub signer: Option<(&'a NodeKey, u64)>,
}

/// The current time as stored in `recorded_at`.
pub(crate) fn now_text() -> String {
    recorded_at_text(chrono::Utc::now())
}

/// `recorded_at`'s form: RFC 3339 in UTC with microseconds and `Z`
/// (`2026-11-22T15:04:05.123456Z`, `docs/audit.md`). chrono's fixed RFC 3339 writer,
/// not a format string, which chrono parses anew on every call (a single-event
/// transaction paid ~1.5% of its CPU for that).
fn recorded_at_text(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl<'a> Plan<'a> {
    /// An empty plan on top of the chain's tip.
    pub fn new(tip_seq: u64, tip_hash: [u8; 32]) -> Plan<'a> {
        Plan {
            events: Vec::new(),
            keys: Vec::new(),
            proj: Vec::new(),
            checkpoints: Vec::new(),
            tip_seq,
            tip_hash,
            moved: Map::default(),
            planned_keys: Map::default(),
            undo: Vec::new(),
            buf: Vec::with_capacity(1024),
        }
    }

    /// Plans one all-or-nothing request on top of what the plan holds: assigns seqs and
    /// versions, hashes, and collects rows. Returns one result per command. A request
    /// that fails (a version conflict) leaves the plan as it was.
    pub fn add(
        &mut self,
        tip: &Tip<'_>,
        commands: &'a [PreparedCommand],
        recorded_at: &'a str,
    ) -> Result<Vec<Appended>> {
        let before = (
            self.events.len(),
            self.keys.len(),
            self.proj.len(),
            self.checkpoints.len(),
            self.tip_seq,
            self.tip_hash,
        );
        self.undo.clear();
        let planned = self.add_commands(tip, commands, recorded_at);
        if planned.is_err() {
            let (events, keys, proj, checkpoints, seq, hash) = before;
            self.events.truncate(events);
            self.proj.truncate(proj);
            self.checkpoints.truncate(checkpoints);
            for (k, _) in self.keys.drain(keys..) {
                self.planned_keys.remove(k);
            }
            (self.tip_seq, self.tip_hash) = (seq, hash);
            // Newest first, so that a stream moved twice gets its first value back.
            for (stream, was) in self.undo.drain(..).rev() {
                match was {
                    Some(t) => self.moved.insert(stream, t),
                    None => self.moved.remove(stream),
                };
            }
        }
        planned
    }

    fn add_commands(
        &mut self,
        tip: &Tip<'_>,
        commands: &'a [PreparedCommand],
        recorded_at: &'a str,
    ) -> Result<Vec<Appended>> {
        let mut results = Vec::with_capacity(commands.len());
        for (index, cmd) in commands.iter().enumerate() {
            if let Some(key) = cmd.key.as_deref() {
                let seen = self
                    .planned_keys
                    .get(key)
                    .or_else(|| tip.known_keys.get(key));
                if let Some(first) = seen {
                    results.push(Appended {
                        replayed: true,
                        ..*first
                    });
                    continue;
                }
            }
            for (stream, expected) in &cmd.expect {
                let actual = self.stream_tip(tip, stream).version;
                if !expected.admits(actual) {
                    return Err(StoreError::Conflict {
                        stream: stream.clone(),
                        expected: *expected,
                        actual,
                        command: index,
                    });
                }
            }
            let first_seq = self.tip_seq + 1;
            let mut last_version = 0;
            for ev in &cmd.events {
                let seq = self.tip_seq + 1;
                let current = self.stream_tip(tip, &ev.stream);
                let version = current.version + 1;
                let moved = StreamTip {
                    version,
                    last_seq: seq,
                };
                let was = self.moved.insert(&ev.stream, moved);
                self.undo.push((&ev.stream, was));
                last_version = version;
                self.buf.clear();
                chain::write_entry(
                    &mut self.buf,
                    &Entry {
                        seq,
                        stream: &ev.stream,
                        stream_version: version,
                        kind: ev.kind,
                        schema_version: u64::from(EVENT_SCHEMA_VERSION),
                        payload: &ev.payload,
                        recorded_at,
                        idempotency_key: cmd.key.as_deref(),
                    },
                );
                let hash = chain::link_hash(&self.tip_hash, &self.buf);
                if let Some((key, _)) = tip
                    .signer
                    .filter(|&(_, every)| every > 0 && seq.is_multiple_of(every))
                {
                    self.checkpoints.push(CheckpointRow {
                        seq: seq as i64,
                        hash,
                        public_key: key.public_key(),
                        signature: key.sign_checkpoint(seq, &hash),
                        signed_at: recorded_at.to_string(),
                    });
                }
                if let Some(op) = &ev.proj {
                    self.proj.push((seq as i64, op));
                }
                self.events.push(EventRow {
                    seq: seq as i64,
                    stream: &ev.stream,
                    stream_version: version as i64,
                    prev_in_stream: current.last_seq as i64,
                    kind: ev.kind,
                    payload: &ev.payload,
                    recorded_at,
                    key: cmd.key.as_deref(),
                    prev_hash: self.tip_hash,
                    hash,
                });
                self.tip_seq = seq;
                self.tip_hash = hash;
            }
            let result = Appended {
                first_seq,
                last_seq: self.tip_seq,
                stream_version: last_version,
                replayed: false,
            };
            if let Some(key) = cmd.key.as_deref() {
                self.planned_keys.insert(key, result);
                self.keys.push((key, result));
            }
            results.push(result);
        }
        Ok(results)
    }

    /// A stream's tip as the plan has it so far.
    fn stream_tip(&self, tip: &Tip<'_>, stream: &str) -> StreamTip {
        self.moved
            .get(stream)
            .copied()
            .or_else(|| tip.streams.tip(stream))
            .unwrap_or_default()
    }

    /// The seq of the plan's first event, if it has any.
    pub fn first_seq(&self) -> Option<u64> {
        self.events.first().map(|e| e.seq as u64)
    }

    /// Where the plan leaves each stream it appended to, one entry per stream.
    pub fn tips(&self) -> impl ExactSizeIterator<Item = TipMove<'a>> + '_ {
        self.moved
            .iter()
            .map(|(&stream, &tip)| TipMove { stream, tip })
    }
}

/// Streams and keys a request needs looked up before planning.
pub(crate) fn needs(commands: &[PreparedCommand]) -> (Vec<String>, Vec<String>) {
    let mut streams: Vec<String> = Vec::new();
    let mut keys = Vec::new();
    for c in commands {
        streams.extend(c.events.iter().map(|e| e.stream.clone()));
        streams.extend(c.expect.iter().map(|(s, _)| s.clone()));
        keys.extend(c.key.iter().cloned());
    }
    streams.sort_unstable();
    streams.dedup();
    (streams, keys)
}

/// Splits projection ops into runs that can each go in one multi-row statement: same
/// kind of op, no row touched twice.
pub(crate) fn proj_runs<'p, 'a>(ops: &'p [(i64, &'a ProjOp)]) -> Vec<&'p [(i64, &'a ProjOp)]> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut seen: std::collections::HashSet<(u8, &str, &str)> = std::collections::HashSet::new();
    for (i, (_, op)) in ops.iter().enumerate() {
        let t = op.target();
        let same_kind = ops[start..i]
            .first()
            .is_none_or(|(_, first)| first.target().0 == t.0 && first.target().1 == t.1);
        if !same_kind || seen.contains(&t) {
            runs.push(&ops[start..i]);
            start = i;
            seen.clear();
        }
        seen.insert(t);
    }
    if start < ops.len() {
        runs.push(&ops[start..]);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::move_event;
    use crate::model::ExpectedVersion;

    #[test]
    fn recorded_at_keeps_its_form() {
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        for (time, text) in [
            (
                "2026-11-22T15:04:05.123456789Z",
                "2026-11-22T15:04:05.123456Z",
            ),
            ("2026-11-22T17:04:05+02:00", "2026-11-22T15:04:05.000000Z"),
            ("1999-01-02T03:04:05.000001Z", "1999-01-02T03:04:05.000001Z"),
        ] {
            assert_eq!(recorded_at_text(at(time)), text);
            // The form the log has always used.
            assert_eq!(at(time).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(), text);
        }
    }

    fn tip<'a>(streams: &'a Map<String, StreamTip>, keys: &'a Map<String, Appended>) -> Tip<'a> {
        Tip {
            streams,
            known_keys: keys,
            signer: None,
        }
    }

    /// A request that fails part-way (its second command conflicts) leaves the plan as it
    /// was: the next request is planned, hashed and keyed as if it had never been tried.
    #[test]
    fn a_failed_request_leaves_the_plan_as_it_was() {
        let (a, b) = (move_event(1), move_event(2));
        let (sa, sb) = (a.stream(), b.stream());
        let ok = prepare(vec![Append::new(a.clone()).key("k1")]).unwrap();
        let failing = prepare(vec![
            Append::new(a.clone()).key("k2"),
            Append::new(b.clone()).expect(sb.clone(), ExpectedVersion::Exact(5)),
        ])
        .unwrap();
        let last = prepare(vec![
            Append::new(a.clone()).key("k2"),
            Append::new(b.clone()),
        ])
        .unwrap();
        let (streams, keys) = (Map::default(), Map::default());
        let at = now_text();

        let mut with_failure = Plan::new(0, [0; 32]);
        with_failure.add(&tip(&streams, &keys), &ok, &at).unwrap();
        let err = with_failure.add(&tip(&streams, &keys), &failing, &at);
        assert!(matches!(err, Err(StoreError::Conflict { command: 1, .. })));
        assert_eq!(with_failure.events.len(), 1);
        assert_eq!(with_failure.tip_seq, 1);
        let results = with_failure.add(&tip(&streams, &keys), &last, &at).unwrap();

        let mut without = Plan::new(0, [0; 32]);
        without.add(&tip(&streams, &keys), &ok, &at).unwrap();
        let expected = without.add(&tip(&streams, &keys), &last, &at).unwrap();

        assert_eq!(results, expected);
        assert!(!results[0].replayed, "k2 was never planned");
        assert_eq!(
            (with_failure.tip_seq, with_failure.tip_hash),
            (without.tip_seq, without.tip_hash)
        );
        let tips = |p: &Plan<'_>| {
            let mut t: Vec<_> = p.tips().map(|m| (m.stream.to_owned(), m.tip)).collect();
            t.sort_by(|x, y| x.0.cmp(&y.0));
            t
        };
        assert_eq!(tips(&with_failure), tips(&without));
        let version =
            |p: &Plan<'_>, s: &str| p.tips().find(|m| m.stream == s).map(|m| m.tip.version);
        assert_eq!(version(&with_failure, &sa), Some(2));
        assert_eq!(version(&with_failure, &sb), Some(1));
        assert_eq!(with_failure.keys.len(), 2);
    }

    /// Requests planned into one plan see each other's moves and keys: the second
    /// request's append to the same stream follows the first, and its repeated key is a
    /// replay of the first's result.
    #[test]
    fn requests_in_one_plan_follow_each_other() {
        let e = move_event(3);
        let s = e.stream();
        let first = prepare(vec![Append::new(e.clone()).key("k")]).unwrap();
        let second = prepare(vec![
            Append::new(e.clone()).key("k"),
            Append::new(e.clone()).expect(s.clone(), ExpectedVersion::Exact(1)),
        ])
        .unwrap();
        let (streams, keys) = (Map::default(), Map::default());
        let at = now_text();
        let mut plan = Plan::new(0, [0; 32]);
        let one = plan.add(&tip(&streams, &keys), &first, &at).unwrap();
        let two = plan.add(&tip(&streams, &keys), &second, &at).unwrap();
        assert_eq!(
            two[0],
            Appended {
                replayed: true,
                ..one[0]
            }
        );
        assert_eq!((two[1].first_seq, two[1].stream_version), (2, 2));
        assert_eq!(plan.events[1].prev_in_stream, 1);
        assert_eq!(plan.events[1].prev_hash, plan.events[0].hash);
        assert_eq!(plan.tips().len(), 1);
    }
}
