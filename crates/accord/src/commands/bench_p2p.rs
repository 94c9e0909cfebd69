//! `accord bench p2p`: procure-to-pay end to end through HTTP and the store. Orders and
//! receipts are seeded through the real flow, then UBL invoices are posted to an
//! in-process server by concurrent clients, and the clock stops when the invoice matcher
//! has decided every one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use accord_agents::p2p::{ReceiptInput, RequisitionInput, Routed};
use accord_core::{
    CategoryCode, Currency, Event, Money, RegionCode, RiskTier, SizeClass, Supplier,
    SupplierStatus,
    document::{Contract, ContractPrice, ContractTerms, PurchaseOrder, ReceiptLine},
    governance::{AutonomyLevel, CategoryAutonomy},
    id::{ContractId, SupplierId},
    lifecycle::ContractState,
};
use accord_p2p::{DraftInvoice, DraftLine};
use accord_policy::{Principal, Role};
use accord_server::ApiKeys;
use accord_store::{
    AnyStore, Append, NodeKey, PgOptions, PgStore, SqliteOptions, SqliteStore, Store,
};
use anyhow::Context;
use chrono::{Days, Utc};
use futures_util::{StreamExt, stream};
use rust_decimal::Decimal;

use super::Node;
use crate::cli::{BenchP2pArgs, GlobalArgs};
use crate::config::{Config, DataDir};

const KEY: &str = "bench-key";
const SELLER: &str = "SUP-BENCH";
/// Orders per distinct issue date of the invoices.
const CYCLE: usize = 2_000;

pub async fn run(g: &GlobalArgs, args: BenchP2pArgs) -> anyhow::Result<()> {
    println!(
        "accord bench p2p: {} invoices of {} lines, {} HTTP clients; machine: {} cores",
        args.invoices,
        args.lines,
        args.concurrency,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let scratch = tempfile::tempdir()?;
    let sqlite = AnyStore::Sqlite(
        SqliteStore::open(&scratch.path().join("accord.db"), SqliteOptions::default()).await?,
    );
    once(sqlite, scratch.path(), &args).await?;
    match &g.database_url {
        Some(url) => {
            let schema = format!("bench_p2p_{}", std::process::id());
            let pg = AnyStore::Pg(
                PgStore::connect(
                    url,
                    PgOptions {
                        schema: Some(schema.clone()),
                        ..PgOptions::default()
                    },
                )
                .await
                .context("cannot open the PostgreSQL store")?,
            );
            let r = once(pg, scratch.path(), &args).await;
            drop_schema(url, &schema).await;
            r?;
        }
        None => println!("postgres: skipped (pass --database-url postgres://… to measure it)"),
    }
    Ok(())
}

async fn drop_schema(url: &str, schema: &str) {
    use sqlx::{Connection, Executor};
    if let Ok(mut c) = sqlx::PgConnection::connect(url).await {
        let _ = c
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE"
            )))
            .await;
        let _ = c.close().await;
    }
}

async fn once(store: AnyStore, dir: &std::path::Path, args: &BenchP2pArgs) -> anyhow::Result<()> {
    let backend = store.backend();
    let node = Node {
        dir: DataDir::new(dir.to_owned()),
        config: Config::default(),
        key: NodeKey::generate(),
        store: store.clone(),
    };
    let logged = super::serve::governance(&node, AutonomyLevel::ActAlone).await?;
    let (host, campaigns) = super::serve::runtime(&node, &logged)?;
    let (flow, matcher) = super::serve::p2p_runtime(&node, logged, true)?;
    let mut keys = ApiKeys::default();
    keys.insert("bench", KEY, accord_server::Role::Buyer);
    let running = super::serve::start(
        &node,
        host,
        campaigns,
        flow.clone(),
        keys,
        "127.0.0.1:0",
        None,
    )
    .await?;

    // Seed: one supplier, one contract, an order received in full for every invoice.
    let office = CategoryCode::parse("office").map_err(anyhow::Error::msg)?;
    let now = Utc::now();
    flow.governance()
        .set_autonomy(
            &office,
            CategoryAutonomy::new(AutonomyLevel::ActAlone, 0),
            &Principal::user("bench", &[Role::Admin]),
            "benchmark set-up",
            now,
        )
        .await?;
    let supplier = Supplier {
        id: SupplierId::new(),
        external_ref: SELLER.into(),
        name: "Bench Supplies".into(),
        region: RegionCode::parse("FR").map_err(anyhow::Error::msg)?,
        size: SizeClass::Small,
        status: SupplierStatus::Active,
        risk: RiskTier::Low,
        bank: None,
        payment_days: Some(30),
    };
    let today = now.date_naive();
    let contract = Contract {
        id: ContractId::new(),
        external_ref: "CT-BENCH".into(),
        supplier: supplier.id,
        category: office.clone(),
        currency: Currency::EUR,
        terms: ContractTerms {
            prices: vec![ContractPrice {
                sku: "*".into(),
                unit_price: Money::new(1000, Currency::EUR),
            }],
            payment_days: 45,
            lead_time_days: 5,
            valid_from: today - Days::new(1),
            valid_to: today + Days::new(365),
        },
        state: ContractState::Active,
    };
    store
        .append(Append::many(vec![
            Event::SupplierRegistered { supplier },
            Event::ContractRecorded { contract },
        ]))
        .await?;
    let seed_start = Instant::now();
    let lines = args.lines.max(1);
    let n = args.invoices as usize;
    let bar = super::progress_bar(n as u64, "orders");
    let orders: Vec<anyhow::Result<(usize, PurchaseOrder)>> = stream::iter(0..n)
        .map(|i| {
            let flow = flow.clone();
            let office = office.clone();
            let bar = bar.clone();
            async move {
                // Quantities cycle below the sourcing agent's approval threshold; with the
                // issue date (see `invoice`) no two invoices share amount and date.
                let quantity = Decimal::from(10 * u64::from(lines) + (i % CYCLE) as u64);
                let routed = flow
                    .submit_requisition(
                        RequisitionInput {
                            requester: "bench".into(),
                            category: office,
                            sku: Some(format!("SKU-{i}")),
                            description: "benchmark item".into(),
                            quantity,
                            unit: None,
                            estimated_unit_price: None,
                            needed_by: None,
                        },
                        &format!("bench-{i}"),
                        now,
                    )
                    .await?;
                let Routed::Ordered { order, .. } = routed else {
                    anyhow::bail!("order {i} was not issued: {routed:?}");
                };
                flow.receive(
                    order.id,
                    ReceiptInput {
                        received_on: today,
                        lines: vec![ReceiptLine {
                            po_line: 1,
                            received: quantity,
                            rejected: Decimal::ZERO,
                        }],
                        by: "dock".into(),
                    },
                    &format!("bench-gr-{i}"),
                )
                .await?;
                bar.inc(1);
                Ok((i, order))
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    bar.finish_and_clear();
    // Seeded concurrently, so put them back in order: invoice `i` bills order `i`.
    let mut orders = orders.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    orders.sort_by_key(|(i, _)| *i);
    let docs: Vec<String> = orders
        .iter()
        .map(|(i, o)| invoice(*i, o, lines, today))
        .collect();
    // Let the matcher catch up with the seeding before the clock starts.
    wait_for_checkpoint(&store).await?;
    println!(
        "{backend}: seeded {n} orders and receipts in {:.1} s",
        seed_start.elapsed().as_secs_f64()
    );

    let docs = Arc::new(docs);
    let next = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let url = format!("{}/v1/invoices", running.base_url);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (docs, next, client, url) = (docs.clone(), next.clone(), client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(doc) = docs.get(i) else {
                    return Ok::<_, anyhow::Error>(latencies);
                };
                let t = Instant::now();
                let r = client
                    .post(&url)
                    .bearer_auth(KEY)
                    .header("content-type", "application/xml")
                    .body(doc.clone())
                    .send()
                    .await?;
                let status = r.status();
                if status != reqwest::StatusCode::CREATED {
                    anyhow::bail!("invoice {i}: {status}: {}", r.text().await?);
                }
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut latencies = Vec::with_capacity(n);
    for t in tasks {
        latencies.extend(t.await??);
    }
    let ingested = start.elapsed();
    // Stops when no invoice is left in `received`.
    loop {
        let counts = store.document_counts("invoice", None).await?;
        let waiting = counts
            .iter()
            .find(|(s, _)| s == "received")
            .map_or(0, |(_, n)| *n);
        if waiting == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let decided = start.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let counts = store.document_counts("invoice", None).await?;
    println!(
        "{backend}: {n} invoices ingested over HTTP in {:.2} s ({:.0}/s; POST p50 {:.1} ms, p99 {:.1} ms); \
         all matched and decided in {:.2} s ({:.0} invoices/s end to end); states: {}",
        ingested.as_secs_f64(),
        n as f64 / ingested.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        decided.as_secs_f64(),
        n as f64 / decided.as_secs_f64(),
        counts
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // Every invoice was built to match: say why any did not.
    let odd = store
        .documents(&accord_store::DocumentQuery::kind("invoice", 5).state("exception"))
        .await?;
    for d in odd {
        for e in store
            .read_stream(&format!("invoice-{}", d.id), 0, 10)
            .await?
        {
            if let Event::InvoiceMatched { record } = e.event()? {
                let why: Vec<String> = record
                    .exceptions
                    .iter()
                    .map(|x| format!("{}: {}", x.kind, x.detail))
                    .collect();
                println!(
                    "{backend}: invoice {} went to exception: {}",
                    d.id,
                    why.join("; ")
                );
            }
        }
    }
    running.task.abort();
    // Stop the matcher before the caller drops a PostgreSQL scratch schema under it.
    let _ = matcher.send(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(())
}

async fn wait_for_checkpoint(store: &AnyStore) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let head = store.last_seq().await?;
        let seen = store
            .consumer_checkpoint(accord_agents::p2p::MATCHER_CONSUMER)
            .await?;
        if seen >= head {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the matcher did not catch up with the seeding ({seen} of {head})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Invoice `i` for `order`: `lines` lines billing the order's one line, in equal parts
/// at the contract price (the last line takes the remainder).
fn invoice(i: usize, order: &PurchaseOrder, lines: u32, today: chrono::NaiveDate) -> String {
    let total = order.lines[0].quantity;
    let part = Decimal::from(10);
    let mut draft_lines = Vec::new();
    for l in 0..lines {
        let quantity = if l + 1 == lines {
            total - part * Decimal::from(lines - 1)
        } else {
            part
        };
        draft_lines.push(DraftLine {
            po_line: Some(1),
            sku: order.lines[0].sku.clone(),
            quantity,
            unit_price: Decimal::from(10),
        });
    }
    DraftInvoice {
        number: format!("B-{i:08}"),
        issue_date: today - Days::new((i / CYCLE) as u64),
        due_date: Some(today + Days::new(45)),
        currency: Currency::EUR,
        order_ref: Some(order.number.clone()),
        seller_id: SELLER.into(),
        seller_name: "Bench Supplies".into(),
        vat_rate: Decimal::from(20),
        lines: draft_lines,
    }
    .to_ubl()
}
