//! The reference supplier bot's pure parts: valuation scaling, views to moves, the
//! reservation value, determinism; and its delivery bounds against unreachable nodes.

use std::sync::Mutex;
use std::time::Duration;

use accord_core::deal::Terms;
use accord_core::negotiation::Party;
use accord_core::{Money, SupplierStatus};
use accord_negotiate::session::{self, SessionConfig, side_rng};
use accord_negotiate::strategy::Context;
use accord_negotiate::{AgentKind, Move, Side};
use accord_sim::bot::{
    BotConfig, Brain, Invitation, RetryPolicy, ServerView, SupplierBot, WireMove, scaled_valuation,
    strategy_view, supplier_rngs,
};
use accord_sim::persona::TailNegotiation;
use accord_sim::{BuyerTemplate, CampaignConfig, Enterprise, Outcome, run_bots, run_campaign};
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use crate::small;

/// The negotiation of supplier `i` as the in-process campaign builds it.
fn tail(e: &Enterprise, i: usize) -> TailNegotiation {
    TailNegotiation::build(
        &e.suppliers[i],
        e.region_of(i),
        &e.personas[i],
        &BuyerTemplate::default(),
    )
    .expect("negotiation")
}

/// What the server would show supplier `i` on its turn in round `round`.
fn view_of(n: &TailNegotiation, round: u32, offers: Vec<Terms>) -> ServerView {
    let json = serde_json::json!({
        "id": "n-1",
        "campaign": "c-1",
        "supplier_ref": "S-1",
        "status": "open",
        "turn": "supplier",
        "round": round,
        "max_rounds": BuyerTemplate::default().rounds,
        "expires_at": "2026-10-15T00:00:00Z",
        "currency": n.buyer.batna.price.currency.to_string(),
        "bounds": n.space.bounds(),
        "current_terms": n.buyer.batna,
        "annual_volume": n.buyer.annual_volume,
        "offers": offers,
        "allowed_moves": ["accept", "counter", "reject", "end"],
        "history": [],
        "agreed": null,
        "version": 3,
    });
    serde_json::from_value(json).expect("the contract's view decodes")
}

fn active(e: &Enterprise) -> impl Iterator<Item = usize> + '_ {
    (0..e.suppliers.len()).filter(|&i| e.suppliers[i].supplier.status == SupplierStatus::Active)
}

#[test]
fn valuation_keeps_the_cost_ratio_at_the_disclosed_price() {
    let e = small(20, 200, 3);
    let p = &e.personas[0];
    let sku = e.suppliers[0].skus[0].price;
    let same = scaled_valuation(p, sku, sku, 1_000).unwrap();
    assert_eq!(same, p.valuation(1_000));

    let double = Money::new(sku.minor * 2, sku.currency);
    let v = scaled_valuation(p, sku, double, 777).unwrap();
    assert_eq!(v.unit_cost, Money::new(p.unit_cost.minor * 2, sku.currency));
    assert_eq!(v.annual_volume, 777);
    assert_eq!(
        (v.margin_floor, v.cost_of_capital),
        (p.margin_floor, p.cost_of_capital)
    );
    assert_eq!(v.usual_lead_time_days, p.usual_lead_time_days);
    assert_eq!(v.rush_cost_per_day, p.rush_cost_per_day);
    assert_eq!(v.value_per_contract_month, p.value_per_contract_month);

    // A third of the price, rounded once to the cent.
    let third = Money::new(sku.minor, sku.currency);
    let v = scaled_valuation(p, Money::new(sku.minor * 3, sku.currency), third, 1).unwrap();
    let exact = Decimal::from(p.unit_cost.minor) / Decimal::from(3);
    assert!((Decimal::from(v.unit_cost.minor) - exact).abs() <= Decimal::new(5, 1));

    assert!(scaled_valuation(p, Money::zero(sku.currency), sku, 1).is_err());
}

#[test]
fn bot_side_equals_the_in_process_supplier_side() {
    let e = small(30, 300, 4);
    for i in active(&e).take(10) {
        let n = tail(&e, i);
        let view = view_of(&n, 1, vec![n.buyer.batna]);
        let brain = Brain::new(
            &e.personas[i],
            e.suppliers[i].skus[0].price,
            &view,
            side_rng(1, Side::B),
        )
        .unwrap();
        let own = &n.scenario.tables[1];
        assert_eq!(brain.table().utils(), own.utils(), "supplier {i}");
        assert_eq!(brain.table().reservation(), own.reservation());
        assert_eq!(*brain.valuation(), n.supplier);
    }
}

#[test]
fn views_are_built_as_the_session_builds_them() {
    let e = small(10, 100, 4);
    let n = tail(&e, active(&e).next().unwrap());
    // The supplier's first move (one buyer move made) and its last (2R − 1 made).
    let first = strategy_view(&view_of(&n, 1, Vec::new()), &[]);
    assert_eq!(
        (first.t, first.moves_left, first.last_move),
        (1.0 / 60.0, 30, false)
    );
    let last = strategy_view(&view_of(&n, 30, Vec::new()), &[]);
    assert_eq!(
        (last.t, last.moves_left, last.last_move),
        (59.0 / 60.0, 1, true)
    );
    assert_eq!(last.max_options, 1);
}

/// Replays in-process sessions move by move: fed the buyer's moves as the server would
/// show them, the bot makes exactly the supplier's moves.
#[test]
fn bot_replays_the_in_process_supplier() {
    let e = small(40, 400, 6);
    let mut checked = 0;
    for (j, i) in active(&e).take(16).enumerate() {
        let n = tail(&e, i);
        let seed = 100 + j as u64;
        let mut buyer = AgentKind::Accord.build(&Context::of(&n.scenario, 0));
        let mut supplier = e.personas[i].bot(&n);
        let config = SessionConfig::rounds(BuyerTemplate::default().rounds, seed);
        let t = session::run(
            &n.scenario,
            buyer.as_mut(),
            supplier.as_mut(),
            &config,
            &mut || 0,
        );
        let mut brain = Brain::new(
            &e.personas[i],
            e.suppliers[i].skus[0].price,
            &view_of(&n, 1, Vec::new()),
            side_rng(seed, Side::B),
        )
        .unwrap();
        for (k, rec) in t.history.iter().enumerate() {
            if rec.side != Side::B {
                continue;
            }
            let offers = match t.history[k - 1].mv {
                Move::Offer(set) => set.as_slice().iter().map(|&o| n.space.terms(o)).collect(),
                _ => Vec::new(),
            };
            let round = (k as u32 + 1).div_ceil(2);
            let got = brain.decide(&view_of(&n, round, offers));
            assert_eq!(got, brain.to_wire(rec.mv), "supplier {i}, move {k}");
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} supplier moves replayed");
}

#[test]
fn silence_is_drawn_as_the_campaign_draws_it() {
    let e = small(80, 800, 7);
    let config = CampaignConfig {
        seed: 21,
        suppliers: Some(80),
        ..CampaignConfig::default()
    };
    let report = run_campaign(&e, &config).unwrap();
    let mut silent = 0;
    for r in &report.results {
        let (s, _) = supplier_rngs(21, r.supplier, &e.personas[r.supplier]);
        assert_eq!(s, r.outcome == Outcome::NoResponse, "{}", r.supplier_ref);
        silent += usize::from(s);
    }
    assert!(
        silent > 0,
        "no silent supplier among {}",
        report.results.len()
    );
}

#[test]
fn offers_outside_its_space_end_the_negotiation() {
    let e = small(10, 100, 8);
    let i = active(&e).next().unwrap();
    let n = tail(&e, i);
    let mut off_tick = n.buyer.batna;
    off_tick.price.minor += n.space.bounds().price_tick.minor / 2 + 1;
    off_tick.price.minor = off_tick
        .price
        .minor
        .max(n.space.bounds().price_min.minor + 1);
    let view = view_of(&n, 1, vec![off_tick]);
    assert_eq!(n.space.outcome_of(&off_tick), None);
    let mut brain = Brain::new(
        &e.personas[i],
        e.suppliers[i].skus[0].price,
        &view,
        side_rng(1, Side::B),
    )
    .unwrap();
    assert_eq!(brain.decide(&view), WireMove::End);
}

#[test]
fn moves_translate_to_the_wire() {
    let e = small(10, 100, 8);
    let i = active(&e).next().unwrap();
    let n = tail(&e, i);
    let view = view_of(&n, 1, Vec::new());
    let brain = Brain::new(
        &e.personas[i],
        e.suppliers[i].skus[0].price,
        &view,
        side_rng(1, Side::B),
    )
    .unwrap();
    let k = n.space.outcome_of(&n.buyer.batna).unwrap();
    let offer = accord_negotiate::OfferSet::one(k);
    assert_eq!(
        brain.to_wire(Move::Offer(offer)),
        WireMove::Counter {
            offer: n.buyer.batna
        }
    );
    assert_eq!(
        brain.to_wire(Move::Accept { option: 2 }),
        WireMove::Accept { option: 2 }
    );
    assert_eq!(brain.to_wire(Move::Reject), WireMove::Reject);
    assert_eq!(brain.to_wire(Move::End), WireMove::End);
    let counter = serde_json::to_value(WireMove::Counter {
        offer: n.buyer.batna,
    })
    .unwrap();
    assert_eq!(counter["move"], "counter");
    assert_eq!(
        counter["offer"],
        serde_json::to_value(n.buyer.batna).unwrap()
    );
}

/// Whatever the buyer offers, in every style, the bot counters only with outcomes at or
/// above its reservation value and accepts only such offers.
#[test]
fn never_below_its_reservation_value() {
    let e = small(40, 400, 9);
    let mut draw = ChaCha8Rng::seed_from_u64(9);
    let (mut counters, mut accepts) = (0, 0);
    for i in active(&e).take(12) {
        let n = tail(&e, i);
        let size = n.space.space().cardinality() as u32;
        for style in AgentKind::ALL {
            let mut persona = e.personas[i].clone();
            persona.style = style;
            let sku = e.suppliers[i].skus[0].price;
            let first = view_of(&n, 1, Vec::new());
            let mut brain = Brain::new(&persona, sku, &first, side_rng(i as u64, Side::B)).unwrap();
            let reservation = brain.table().reservation();
            for round in 1..=BuyerTemplate::default().rounds {
                let offers = if draw.random::<f64>() < 0.1 {
                    Vec::new()
                } else {
                    vec![n.space.terms(draw.random_range(0..size))]
                };
                let mv = brain.decide(&view_of(&n, round, offers.clone()));
                match mv {
                    WireMove::Counter { offer } => {
                        let k = n.space.outcome_of(&offer).expect("in space");
                        assert!(
                            brain.table().get(k) >= reservation,
                            "{style} supplier {i} countered below its reservation"
                        );
                        counters += 1;
                    }
                    WireMove::Accept { option } => {
                        let k = n.space.outcome_of(&offers[option as usize]).unwrap();
                        assert!(
                            brain.table().get(k) >= reservation,
                            "{style} supplier {i} accepted below its reservation"
                        );
                        assert!(n.supplier.surplus(&offers[option as usize]).unwrap().minor >= 0);
                        accepts += 1;
                        break;
                    }
                    WireMove::Reject => assert!(!offers.is_empty(), "reject with no offer"),
                    WireMove::End => break,
                }
            }
        }
    }
    assert!(
        counters > 100 && accepts > 0,
        "{counters} counters, {accepts} accepts"
    );
}

#[test]
fn same_seed_same_decisions() {
    let e = small(20, 200, 10);
    let i = active(&e).next().unwrap();
    let n = tail(&e, i);
    let play = |seed: u64| {
        let (_, rng) = supplier_rngs(seed, i, &e.personas[i]);
        let sku = e.suppliers[i].skus[0].price;
        let mut brain = Brain::new(&e.personas[i], sku, &view_of(&n, 1, Vec::new()), rng).unwrap();
        let mut draw = ChaCha8Rng::seed_from_u64(77);
        let size = n.space.space().cardinality() as u32;
        (1..=30)
            .map(|round| {
                let offer = n.space.terms(draw.random_range(0..size));
                brain.decide(&view_of(&n, round, vec![offer]))
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(play(5), play(5));
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn quick() -> BotConfig {
    BotConfig {
        retry: RetryPolicy {
            max_tries: 4,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        },
        request_timeout: Duration::from_secs(2),
        ..BotConfig::default()
    }
}

#[tokio::test]
async fn unreachable_nodes_exhaust_bounded_retries_across_origins() {
    let e = small(10, 100, 11);
    let i = active(&e).next().unwrap();
    let (a, b) = (closed_port(), closed_port());
    let mut persona = e.personas[i].clone();
    persona.silence = 0.0;
    let invitation = Invitation {
        url: format!("http://127.0.0.1:{a}/v1/negotiations/n-1"),
        token: "t".into(),
        supplier_ref: e.suppliers[i].supplier.external_ref.clone(),
    };
    let config = BotConfig {
        base_urls: vec![format!("http://127.0.0.1:{b}")],
        ..quick()
    };
    let bot = SupplierBot::new(persona, e.suppliers[i].skus[0].price, invitation, 1, i);
    let client = accord_sim::bot::client(&config).unwrap();
    let out = bot.run(&client, &config).await;
    assert_eq!(out.status, "error");
    assert!(
        out.error
            .as_deref()
            .unwrap()
            .starts_with("gave up after 4 tries"),
        "{:?}",
        out.error
    );
    assert_eq!((out.retries, out.failovers, out.moves), (3, 4, 0));
    assert!(out.post_micros.is_empty());
}

#[tokio::test]
async fn run_bots_reports_every_invitation_in_order() {
    let e = small(30, 300, 12);
    let port = closed_port();
    let invitations: Vec<Invitation> = active(&e)
        .take(6)
        .map(|i| Invitation {
            url: format!("http://127.0.0.1:{port}/v1/negotiations/n-{i}"),
            token: format!("t-{i}"),
            supplier_ref: e.suppliers[i].supplier.external_ref.clone(),
        })
        .collect();
    let seen = Mutex::new(Vec::new());
    let config = BotConfig {
        concurrency: 2,
        ..quick()
    };
    let report = run_bots(&config, &e, invitations.clone(), &|d, t| {
        seen.lock().unwrap().push((d, t))
    })
    .await
    .unwrap();
    assert_eq!(report.bots, 6);
    let refs: Vec<&str> = report
        .outcomes
        .iter()
        .map(|o| o.supplier_ref.as_str())
        .collect();
    let want: Vec<&str> = invitations
        .iter()
        .map(|i| i.supplier_ref.as_str())
        .collect();
    assert_eq!(refs, want);
    assert_eq!(report.by_status.values().sum::<usize>(), 6);
    assert_eq!(
        report.errors + report.by_status.get("silent").copied().unwrap_or(0),
        6
    );
    assert_eq!(report.moves, 0);
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.first(), Some(&(0, 6)));
    assert_eq!(seen.last(), Some(&(6, 6)));

    let unknown = Invitation {
        url: "http://127.0.0.1:1/v1/negotiations/x".into(),
        token: "t".into(),
        supplier_ref: "NOPE".into(),
    };
    let err = run_bots(&config, &e, vec![unknown], &|_, _| {})
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "supplier `NOPE` is not in the enterprise");
}

#[test]
fn server_views_decode_and_know_whose_turn_it_is() {
    let e = small(10, 100, 13);
    let n = tail(&e, active(&e).next().unwrap());
    let mut v = view_of(&n, 2, vec![n.buyer.batna]);
    assert!(v.suppliers_turn());
    v.turn = Some(Party::Buyer);
    assert!(v.is_open() && !v.suppliers_turn());
    v.status = "agreed".into();
    v.turn = None;
    assert!(!v.is_open());
    let back: ServerView = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
    assert_eq!(back, v);
}
