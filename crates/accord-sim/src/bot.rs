//! The reference supplier bot: a persona negotiating with a live Accord server over HTTP.
//!
//! A [`SupplierBot`] reads its negotiation (`GET {url}`), and whenever it is the supplier's
//! turn asks its own strategy for a move and sends it (`POST {url}/moves`), until the
//! negotiation closes. It sees only what the server discloses (bounds, today's terms,
//! volume, the buyer's offers) and its own hidden economics, scaled to those terms; never
//! the buyer's utility.
//!
//! The pure part is [`Brain`]: valuation, space and strategy, from a view to a wire move.
//! The rest is delivery: every move carries an `Idempotency-Key`, and a network error, a
//! 5xx, a 409 `conflict` or a 429 is retried with the same key and body under a bounded
//! backoff, failing over to another node's origin when one is unreachable, so a server
//! restart neither loses nor doubles a move.
//!
//! Decisions are reproducible: a supplier's silence draw and its strategy's random source
//! come from the run seed and the supplier's index exactly as in
//! [`crate::campaign::negotiate`], so against the same buyer moves a bot plays the same
//! moves as its in-process twin. Idempotency keys and retry jitter are not part of that.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use accord_core::deal::{Bounds, Terms};
use accord_core::negotiation::{MoveRecord, Party};
use accord_core::{Money, MoneyError, round_minor};
use accord_negotiate::procurement::{self, ProcurementSpace};
use accord_negotiate::session::side_rng;
use accord_negotiate::strategy::{Context, Rng, Strategy, View};
use accord_negotiate::utility::UtilityTable;
use accord_negotiate::{AgentKind, Move, NegotiateError, Side};
use chrono::{DateTime, Utc};
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::enterprise::Enterprise;
use crate::persona::SupplierPersona;

/// Errors of a supplier bot.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error("invalid url `{url}`: {why}")]
    Url { url: String, why: String },
    #[error("supplier `{0}` is not in the enterprise")]
    UnknownSupplier(String),
    #[error("the supplier's main SKU price is not positive: {0}")]
    NoPrice(Money),
    #[error("the server's negotiation: {0}")]
    Negotiate(#[from] NegotiateError),
    #[error("money: {0}")]
    Money(#[from] MoneyError),
    #[error("the server refused ({status} {code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("gave up after {tries} tries: {last}")]
    Exhausted { tries: u32, last: String },
    #[error("cannot read the server's answer ({status}): {why}")]
    Decode { status: u16, why: String },
    #[error("the negotiation did not close within {0} supplier moves")]
    TooManyMoves(u32),
    #[error("the buyer did not move within {0:?}")]
    BuyerStalled(Duration),
    #[error("http client: {0}")]
    Client(String),
}

/// A supplier's invitation to one negotiation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// The negotiation's URL, `{base}/v1/negotiations/{id}`.
    pub url: String,
    /// The supplier's bearer token for that negotiation.
    pub token: String,
    pub supplier_ref: String,
}

/// How requests are retried: the same request (same key, same body) up to `max_tries`
/// times, waiting `initial_backoff`, doubling up to `max_backoff` (with jitter).
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    pub max_tries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_tries: 20,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// The wait before try `attempt + 1` (`attempt` from 1), before jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// What [`run_bots`] runs.
#[derive(Clone, Debug, PartialEq)]
pub struct BotConfig {
    /// The run seed: each supplier's seed is derived from it and the supplier's index.
    pub seed: u64,
    /// Bots negotiating at once.
    pub concurrency: usize,
    /// Origins (`http://host:port`) of the server's nodes to fail over to when the
    /// invitation's origin is unreachable; the invitation's own origin is tried first.
    pub base_urls: Vec<String>,
    pub retry: RetryPolicy,
    /// Limit on one HTTP request.
    pub request_timeout: Duration,
    /// Safety bound on the supplier moves of one negotiation.
    pub max_moves: u32,
    /// How long a bot waits for the buyer when it finds the turn is the buyer's.
    pub wait_for_turn: Duration,
}

impl Default for BotConfig {
    fn default() -> BotConfig {
        BotConfig {
            seed: 1,
            concurrency: 64,
            base_urls: Vec::new(),
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(10),
            max_moves: 1_000,
            wait_for_turn: Duration::from_secs(60),
        }
    }
}

/// The negotiation as the server shows it to the supplier (the JSON of
/// `accord_agents::live::NegotiationView`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerView {
    pub id: String,
    pub campaign: String,
    pub supplier_ref: String,
    /// `open`, `agreed`, `escalated`, `declined`, `no_agreement` or `expired`.
    pub status: String,
    pub turn: Option<Party>,
    /// Rounds begun (a round is one move by each side) and the limit.
    pub round: u32,
    pub max_rounds: u32,
    pub expires_at: DateTime<Utc>,
    pub currency: String,
    pub bounds: Bounds,
    pub current_terms: Terms,
    pub annual_volume: i64,
    /// The buyer's standing options, when it is the supplier's turn.
    #[serde(default)]
    pub offers: Vec<Terms>,
    #[serde(default)]
    pub allowed_moves: Vec<String>,
    #[serde(default)]
    pub history: Vec<MoveRecord>,
    #[serde(default)]
    pub agreed: Option<Terms>,
    #[serde(default)]
    pub version: u64,
}

impl ServerView {
    pub fn is_open(&self) -> bool {
        self.status == "open"
    }

    pub fn suppliers_turn(&self) -> bool {
        self.is_open() && self.turn == Some(Party::Supplier)
    }
}

/// A supplier move, as the body of `POST …/moves`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "move", rename_all = "snake_case")]
pub enum WireMove {
    Accept { option: u8 },
    Counter { offer: Terms },
    Reject,
    End,
}

/// The server's error body.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
struct ErrorBody {
    error: ApiError,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
struct ApiError {
    code: String,
    #[serde(default)]
    message: String,
}

/// The persona's hidden valuation scaled to what the buyer disclosed: unit cost keeps its
/// ratio to the supplier's main SKU price (`sku_price`) but applies to `current_price`;
/// rates, lead time, rush cost and contract-month value are the persona's own; the volume
/// is the server's. Money takes the currency of `current_price`.
pub fn scaled_valuation(
    persona: &SupplierPersona,
    sku_price: Money,
    current_price: Money,
    annual_volume: i64,
) -> Result<procurement::Supplier, BotError> {
    if sku_price.minor <= 0 {
        return Err(BotError::NoPrice(sku_price));
    }
    let currency = current_price.currency;
    // unit_cost / sku_price × current_price, rounded once.
    let exact = Decimal::from(persona.unit_cost.minor) * Decimal::from(current_price.minor)
        / Decimal::from(sku_price.minor);
    let mut v = persona.valuation(annual_volume);
    v.unit_cost = Money::new(round_minor(exact)?, currency);
    v.rush_cost_per_day = Money::new(persona.rush_cost_per_day.minor, currency);
    v.value_per_contract_month = Money::new(persona.value_per_contract_month.minor, currency);
    Ok(v)
}

/// The strategy's view of a server view on the supplier's turn, as
/// `accord_negotiate::session::respond` builds it: the buyer opens every round, so the
/// supplier moves after `2 × round − 1` moves.
pub fn strategy_view<'a>(view: &ServerView, offers: &'a [u32]) -> View<'a> {
    let total = 2 * view.max_rounds.max(1);
    let moves = (2 * view.round).saturating_sub(1).min(total);
    View {
        t: f64::from(moves) / f64::from(total),
        last_move: moves + 1 >= total,
        moves_left: total.saturating_sub(moves).div_ceil(2).max(1),
        offers,
        max_options: 1,
    }
}

/// A supplier's mind for one negotiation: its own space, its own utility table and its
/// strategy with its random source. Pure: no I/O.
pub struct Brain {
    space: ProcurementSpace,
    table: Arc<UtilityTable>,
    valuation: procurement::Supplier,
    strategy: Box<dyn Strategy>,
    rng: Rng,
}

impl Brain {
    /// Builds the supplier's side from the first view it gets: the space of the server's
    /// bounds, the persona's valuation scaled to the disclosed terms, the persona's style.
    pub fn new(
        persona: &SupplierPersona,
        sku_price: Money,
        view: &ServerView,
        rng: Rng,
    ) -> Result<Brain, BotError> {
        let space = ProcurementSpace::new(view.bounds.clone())?;
        let valuation = scaled_valuation(
            persona,
            sku_price,
            view.current_terms.price,
            view.annual_volume,
        )?;
        let table = Arc::new(space.utility_table("supplier", |t| valuation.surplus(t))?);
        let ctx = Context {
            space: Arc::new(space.space().clone()),
            values: Arc::new(space.space().value_table()),
            table: table.clone(),
        };
        let strategy = persona.style.build(&ctx);
        Ok(Brain {
            space,
            table,
            valuation,
            strategy,
            rng,
        })
    }

    pub fn space(&self) -> &ProcurementSpace {
        &self.space
    }

    /// The supplier's own utilities (reservation at zero surplus).
    pub fn table(&self) -> &UtilityTable {
        &self.table
    }

    pub fn valuation(&self) -> &procurement::Supplier {
        &self.valuation
    }

    /// The move for a view on the supplier's turn. Walks away when an offer is outside
    /// its own space (the server and the bot disagree on the bounds).
    pub fn decide(&mut self, view: &ServerView) -> WireMove {
        let Some(offers) = view
            .offers
            .iter()
            .map(|t| self.space.outcome_of(t))
            .collect::<Option<Vec<u32>>>()
        else {
            return WireMove::End;
        };
        let mv = self
            .strategy
            .respond(&strategy_view(view, &offers), &mut self.rng);
        self.to_wire(mv)
    }

    /// A strategy's move on the wire.
    pub fn to_wire(&self, mv: Move) -> WireMove {
        match mv {
            Move::Offer(set) => match set.as_slice().first() {
                Some(&k) => WireMove::Counter {
                    offer: self.space.terms(k),
                },
                None => WireMove::End,
            },
            Move::Accept { option } => WireMove::Accept { option },
            Move::Reject => WireMove::Reject,
            Move::End => WireMove::End,
        }
    }
}

/// One supplier's random sources: whether it stays silent, and its strategy's, drawn as
/// the in-process campaign draws them for supplier `index`.
pub fn supplier_rngs(seed: u64, index: usize, persona: &SupplierPersona) -> (bool, Rng) {
    let mut rng = ChaCha8Rng::seed_from_u64(crate::campaign::mix(seed, index as u64));
    let silent = rng.random::<f64>() < persona.silence;
    let session_seed: u64 = rng.random();
    (silent, side_rng(session_seed, Side::B))
}

/// How one bot's negotiation went.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BotOutcome {
    pub supplier_ref: String,
    pub style: AgentKind,
    /// The server's final status, `silent` when the bot never answered, or `error`.
    pub status: String,
    /// Logical supplier moves the server accepted.
    pub moves: u32,
    /// Requests sent again after a failure (same key and body for moves).
    pub retries: u32,
    /// Switches to another node's origin.
    pub failovers: u32,
    pub agreed: Option<Terms>,
    pub error: Option<String>,
    /// Client-measured round trips of the POSTs that got an answer, in microseconds.
    #[serde(skip)]
    pub post_micros: Vec<u64>,
}

/// The reference supplier bot for one negotiation.
pub struct SupplierBot {
    persona: SupplierPersona,
    sku_price: Money,
    invitation: Invitation,
    silent: bool,
    rng: Option<Rng>,
    jitter: ChaCha8Rng,
}

impl SupplierBot {
    /// A bot for `persona`, whose money is relative to `sku_price` (the supplier's main
    /// SKU price), seeded for supplier `index` of a run with `seed`.
    pub fn new(
        persona: SupplierPersona,
        sku_price: Money,
        invitation: Invitation,
        seed: u64,
        index: usize,
    ) -> SupplierBot {
        let (silent, rng) = supplier_rngs(seed, index, &persona);
        let jitter = ChaCha8Rng::seed_from_u64(crate::campaign::mix(!seed, index as u64));
        SupplierBot {
            persona,
            sku_price,
            invitation,
            silent,
            rng: Some(rng),
            jitter,
        }
    }

    /// The bot for supplier `supplier_ref` of `enterprise`.
    pub fn for_enterprise(
        enterprise: &Enterprise,
        invitation: Invitation,
        seed: u64,
    ) -> Result<SupplierBot, BotError> {
        let index = enterprise
            .suppliers
            .iter()
            .position(|s| s.supplier.external_ref == invitation.supplier_ref)
            .ok_or_else(|| BotError::UnknownSupplier(invitation.supplier_ref.clone()))?;
        Ok(Self::at(enterprise, index, invitation, seed))
    }

    fn at(enterprise: &Enterprise, index: usize, invitation: Invitation, seed: u64) -> SupplierBot {
        SupplierBot::new(
            enterprise.personas[index].clone(),
            enterprise.suppliers[index].skus[0].price,
            invitation,
            seed,
            index,
        )
    }

    /// Whether this supplier never answers.
    pub fn is_silent(&self) -> bool {
        self.silent
    }

    pub fn invitation(&self) -> &Invitation {
        &self.invitation
    }

    /// Negotiates until the negotiation closes; failures are in the outcome.
    pub async fn run(mut self, client: &reqwest::Client, config: &BotConfig) -> BotOutcome {
        let mut out = BotOutcome {
            supplier_ref: self.invitation.supplier_ref.clone(),
            style: self.persona.style,
            status: "silent".into(),
            moves: 0,
            retries: 0,
            failovers: 0,
            agreed: None,
            error: None,
            post_micros: Vec::new(),
        };
        if self.silent {
            return out;
        }
        match self.negotiate(client, config, &mut out).await {
            Ok(view) => {
                out.status = view.status;
                out.agreed = view.agreed;
            }
            Err(e) => {
                out.status = "error".into();
                out.error = Some(e.to_string());
            }
        }
        out
    }

    async fn negotiate(
        &mut self,
        client: &reqwest::Client,
        config: &BotConfig,
        out: &mut BotOutcome,
    ) -> Result<ServerView, BotError> {
        let mut http = Http::new(client, &self.invitation, config, &mut self.jitter, out)?;
        let mut view = http.get().await?;
        let mut brain: Option<Brain> = None;
        let mut waited = Duration::ZERO;
        let mut polls = 0u32;
        let mut sent = 0u32;
        while view.is_open() {
            if !view.suppliers_turn() {
                // The buyer has not moved yet (a fresh negotiation, or a move of ours the
                // server took before failing): wait for it, then look again.
                if waited >= config.wait_for_turn {
                    return Err(BotError::BuyerStalled(config.wait_for_turn));
                }
                polls += 1;
                let pause = config.retry.backoff(polls);
                tokio::time::sleep(pause).await;
                waited += pause;
                view = http.get().await?;
                continue;
            }
            if sent >= config.max_moves {
                return Err(BotError::TooManyMoves(config.max_moves));
            }
            let brain = match &mut brain {
                Some(b) => b,
                None => {
                    let rng = self.rng.take().expect("one brain per bot");
                    brain.insert(Brain::new(&self.persona, self.sku_price, &view, rng)?)
                }
            };
            let mv = brain.decide(&view);
            let key = uuid::Uuid::now_v7().to_string();
            sent += 1;
            view = match http.post(&key, &mv).await {
                Ok(v) => {
                    http.out.moves += 1;
                    waited = Duration::ZERO;
                    polls = 0;
                    v
                }
                Err(BotError::Refused { code, .. })
                    if matches!(
                        code.as_str(),
                        "not_your_turn" | "negotiation_closed" | "negotiation_expired"
                    ) =>
                {
                    // Someone else's view of the state was newer: read it and go on.
                    http.get().await?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(view)
    }
}

/// Requests of one bot, with retries and failover.
struct Http<'a> {
    client: &'a reqwest::Client,
    token: &'a str,
    /// The invitation's origin first, then the configured ones.
    origins: Vec<String>,
    current: usize,
    /// Path (and query) of the negotiation, without a trailing slash.
    path: String,
    retry: &'a RetryPolicy,
    jitter: &'a mut ChaCha8Rng,
    out: &'a mut BotOutcome,
}

/// Splits `http://host:port/path?q` into `http://host:port` and `/path?q`.
pub fn split_origin(url: &str) -> Result<(String, String), BotError> {
    let bad = |why: &str| BotError::Url {
        url: url.to_owned(),
        why: why.to_owned(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(bad("not an http(s) URL"));
    }
    let origin = parsed.origin().ascii_serialization();
    let mut path = parsed.path().trim_end_matches('/').to_owned();
    if let Some(q) = parsed.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok((origin, path))
}

enum Request<'b> {
    Get,
    Post { key: &'b str, body: &'b WireMove },
}

impl<'a> Http<'a> {
    fn new(
        client: &'a reqwest::Client,
        invitation: &'a Invitation,
        config: &'a BotConfig,
        jitter: &'a mut ChaCha8Rng,
        out: &'a mut BotOutcome,
    ) -> Result<Http<'a>, BotError> {
        let (origin, path) = split_origin(&invitation.url)?;
        let mut origins = vec![origin];
        for base in &config.base_urls {
            let (o, _) = split_origin(base)?;
            if !origins.contains(&o) {
                origins.push(o);
            }
        }
        Ok(Http {
            client,
            token: &invitation.token,
            origins,
            current: 0,
            path,
            retry: &config.retry,
            jitter,
            out,
        })
    }

    async fn get(&mut self) -> Result<ServerView, BotError> {
        self.send(Request::Get).await
    }

    async fn post(&mut self, key: &str, body: &WireMove) -> Result<ServerView, BotError> {
        self.send(Request::Post { key, body }).await
    }

    fn fail_over(&mut self) {
        if self.origins.len() > 1 {
            self.current = (self.current + 1) % self.origins.len();
            self.out.failovers += 1;
        }
    }

    async fn send(&mut self, request: Request<'_>) -> Result<ServerView, BotError> {
        let tries = self.retry.max_tries.max(1);
        let mut last = String::new();
        for attempt in 1..=tries {
            if attempt > 1 {
                self.out.retries += 1;
                let wait = self.retry.backoff(attempt - 1);
                // Jitter in [½, 1] so that bots knocked back together do not return together.
                let wait = wait.mul_f64(0.5 + 0.5 * self.jitter.random::<f64>());
                tokio::time::sleep(wait).await;
            }
            let origin = &self.origins[self.current];
            let (builder, post) = match request {
                Request::Get => (self.client.get(format!("{origin}{}", self.path)), false),
                Request::Post { key, body } => (
                    self.client
                        .post(format!("{origin}{}/moves", self.path))
                        .header("Idempotency-Key", key)
                        .json(body),
                    true,
                ),
            };
            let started = Instant::now();
            let response = match builder.bearer_auth(self.token).send().await {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{origin}: {e}");
                    if e.is_builder() {
                        return Err(BotError::Client(last));
                    }
                    self.fail_over();
                    continue;
                }
            };
            let status = response.status();
            let body = match response.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    // The node went away mid-answer: the move may or may not be applied,
                    // which the same key on the retry resolves.
                    last = format!("{origin}: {e}");
                    self.fail_over();
                    continue;
                }
            };
            if post {
                self.out
                    .post_micros
                    .push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
            let code = status.as_u16();
            if status.is_success() {
                return serde_json::from_slice(&body).map_err(|e| BotError::Decode {
                    status: code,
                    why: e.to_string(),
                });
            }
            let error = serde_json::from_slice::<ErrorBody>(&body).ok();
            last = match &error {
                Some(b) => format!("{origin}: {code} {}: {}", b.error.code, b.error.message),
                None => format!("{origin}: {code}"),
            };
            // Only a concurrent change (`conflict`) is worth retrying among the 409s; the
            // others (`negotiation_closed`, `not_your_turn`, a reused key) are answers.
            let conflict = code == 409 && error.as_ref().is_none_or(|b| b.error.code == "conflict");
            if status.is_server_error() || conflict || code == 429 {
                if matches!(code, 502 | 504) {
                    // A gateway in front of a dead node.
                    self.fail_over();
                }
                continue;
            }
            return Err(match error {
                Some(b) => BotError::Refused {
                    status: code,
                    code: b.error.code,
                    message: b.error.message,
                },
                None => BotError::Refused {
                    status: code,
                    code: String::new(),
                    message: String::from_utf8_lossy(&body).chars().take(200).collect(),
                },
            });
        }
        Err(BotError::Exhausted { tries, last })
    }
}

/// Latency percentiles, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// Nearest-rank percentiles of round trips in microseconds.
    pub fn of(mut micros: Vec<u64>) -> Latency {
        if micros.is_empty() {
            return Latency::default();
        }
        micros.sort_unstable();
        let rank = |p: f64| {
            let i = ((p * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
            micros[i - 1] as f64 / 1_000.0
        };
        Latency {
            count: micros.len(),
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
            max_ms: micros[micros.len() - 1] as f64 / 1_000.0,
        }
    }
}

/// The run's report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BotReport {
    pub seed: u64,
    pub bots: usize,
    /// Bots per final status (`agreed`, `declined`, …, `silent`, `error`).
    pub by_status: BTreeMap<String, usize>,
    pub moves: u64,
    pub retries: u64,
    pub failovers: u64,
    pub errors: usize,
    pub elapsed_secs: f64,
    /// Supplier moves accepted per second of wall time.
    pub moves_per_sec: f64,
    pub post_latency: Latency,
    /// One per invitation, in invitation order.
    pub outcomes: Vec<BotOutcome>,
}

/// The client every bot of a run shares.
pub fn client(config: &BotConfig) -> Result<reqwest::Client, BotError> {
    reqwest::Client::builder()
        .timeout(config.request_timeout)
        .connect_timeout(config.request_timeout.min(Duration::from_secs(2)))
        .pool_max_idle_per_host(config.concurrency.max(1))
        .build()
        .map_err(|e| BotError::Client(e.to_string()))
}

/// Runs a bot for each invitation, `config.concurrency` at a time, over one shared
/// client, calling `progress(done, total)` as bots finish. Fails only when an invitation
/// names a supplier not in `enterprise` or the client cannot be built; each bot's own
/// failures are in its outcome.
pub async fn run_bots(
    config: &BotConfig,
    enterprise: &Enterprise,
    invitations: Vec<Invitation>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<BotReport, BotError> {
    let index: HashMap<&str, usize> = enterprise
        .suppliers
        .iter()
        .enumerate()
        .map(|(i, s)| (s.supplier.external_ref.as_str(), i))
        .collect();
    let bots = invitations
        .into_iter()
        .map(|inv| {
            let i = *index
                .get(inv.supplier_ref.as_str())
                .ok_or_else(|| BotError::UnknownSupplier(inv.supplier_ref.clone()))?;
            Ok(SupplierBot::at(enterprise, i, inv, config.seed))
        })
        .collect::<Result<Vec<_>, BotError>>()?;
    let total = bots.len();
    let client = client(config)?;
    let shared = Arc::new(config.clone());
    let permits = Arc::new(tokio::sync::Semaphore::new(config.concurrency.max(1)));
    let started = Instant::now();
    progress(0, total);
    let mut tasks = tokio::task::JoinSet::new();
    for (n, bot) in bots.into_iter().enumerate() {
        let (client, config, permits) = (client.clone(), shared.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (n, bot.run(&client, &config).await)
        });
    }
    let mut outcomes: Vec<Option<BotOutcome>> = vec![None; total];
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        // A bot's task only ends by returning; a panic is a bug worth surfacing.
        let (n, outcome) = joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        outcomes[n] = Some(outcome);
        done += 1;
        progress(done, total);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let outcomes: Vec<BotOutcome> = outcomes.into_iter().flatten().collect();
    let mut by_status = BTreeMap::new();
    for o in &outcomes {
        *by_status.entry(o.status.clone()).or_insert(0) += 1;
    }
    let moves: u64 = outcomes.iter().map(|o| u64::from(o.moves)).sum();
    Ok(BotReport {
        seed: config.seed,
        bots: total,
        by_status,
        moves,
        retries: outcomes.iter().map(|o| u64::from(o.retries)).sum(),
        failovers: outcomes.iter().map(|o| u64::from(o.failovers)).sum(),
        errors: outcomes.iter().filter(|o| o.error.is_some()).count(),
        elapsed_secs: elapsed,
        moves_per_sec: if elapsed > 0.0 {
            moves as f64 / elapsed
        } else {
            0.0
        },
        post_latency: Latency::of(
            outcomes
                .iter()
                .flat_map(|o| o.post_micros.iter().copied())
                .collect(),
        ),
        outcomes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap() {
        let p = RetryPolicy::default();
        let ms: Vec<u128> = (1..=8).map(|a| p.backoff(a).as_millis()).collect();
        assert_eq!(ms, [20, 40, 80, 160, 320, 640, 1000, 1000]);
        assert_eq!(p.backoff(200), Duration::from_secs(1));
    }

    #[test]
    fn origins_split_from_paths() {
        let (o, p) = split_origin("http://127.0.0.1:8080/v1/negotiations/n-1/").unwrap();
        assert_eq!(o, "http://127.0.0.1:8080");
        assert_eq!(p, "/v1/negotiations/n-1");
        let (o, p) = split_origin("http://node2:9000").unwrap();
        assert_eq!((o.as_str(), p.as_str()), ("http://node2:9000", ""));
        assert!(split_origin("not a url").is_err());
        assert!(split_origin("file:///tmp/x").is_err());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let l = Latency::of((1..=100).map(|ms| ms * 1_000).collect());
        assert_eq!(
            (l.count, l.p50_ms, l.p99_ms, l.max_ms),
            (100, 50.0, 99.0, 100.0)
        );
        assert_eq!(Latency::of(Vec::new()), Latency::default());
        assert_eq!(Latency::of(vec![7_000]).p99_ms, 7.0);
    }

    #[test]
    fn moves_have_the_contract_json() {
        let j = |m: &WireMove| serde_json::to_string(m).unwrap();
        assert_eq!(
            j(&WireMove::Accept { option: 0 }),
            r#"{"move":"accept","option":0}"#
        );
        assert_eq!(j(&WireMove::Reject), r#"{"move":"reject"}"#);
        assert_eq!(j(&WireMove::End), r#"{"move":"end"}"#);
    }
}
