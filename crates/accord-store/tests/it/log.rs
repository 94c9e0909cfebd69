//! The event log: appends, idempotency, optimistic concurrency, atomic batches, read
//! models, consumer checkpoints and the change feed.

use std::time::Duration;

use accord_core::Event;
use accord_core::document::Invoice;
use accord_core::lifecycle::InvoiceState;
use accord_store::{Append, DocumentQuery, ExpectedVersion, Store, StoreError, VerifyOptions};

use crate::support::{self, Backend, Config, both_backends};

both_backends! {
    append_read_and_lookups,
    idempotent_replay_writes_nothing,
    optimistic_concurrency_conflict,
    failing_batch_leaves_nothing,
    document_projections_follow_state,
    documents_list_count_and_streams_read,
    consumer_checkpoint_resume,
    change_feed_delivers,
    concurrent_appends_group_commit,
    concurrent_appends_share_streams_in_a_group,
    concurrent_batches_fail_alone,
    concurrent_conflicts_fail_alone,
    same_key_from_concurrent_callers_writes_once,
    stream_reads_page_through_interleaved_streams,
}

async fn append_read_and_lookups(b: Backend) {
    let h = b.open(Config::default()).await;
    let s = &h.store;
    let a = s.append(Append::new(support::registered(1))).await.unwrap();
    assert_eq!(
        (a.first_seq, a.last_seq, a.stream_version, a.replayed),
        (1, 1, 1, false)
    );
    let lines: Vec<Append> = (0..10)
        .map(|i| Append::new(support::spend(1 + i % 2, i, 100 * (i as i64 + 1))))
        .collect();
    let r = s.append_batch(lines).await.unwrap();
    assert_eq!(r.len(), 10);
    assert_eq!(r[9].last_seq, 11);
    s.append(Append::new(support::registered(2))).await.unwrap();
    let c = support::contract(1, 1);
    s.append(Append::new(Event::ContractRecorded {
        contract: c.clone(),
    }))
    .await
    .unwrap();

    assert_eq!(s.last_seq().await.unwrap(), 13);
    let page = s.read_events(10, 2).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![11, 12]);
    assert_eq!(page[1].event().unwrap(), support::registered(2));
    assert_eq!(
        page[0].stream_version, 5,
        "five lines of supplier 2's spend stream"
    );

    let sup = s.supplier_by_ref("S-1").await.unwrap().unwrap();
    assert_eq!(sup, support::supplier(1));
    assert_eq!(s.supplier(sup.id).await.unwrap().unwrap(), sup);
    assert!(s.supplier_by_ref("S-404").await.unwrap().is_none());
    assert_eq!(s.contract_by_ref("C-1").await.unwrap().unwrap(), c);
    assert_eq!(s.contract(c.id).await.unwrap().unwrap(), c);
    assert_eq!(
        s.spend_by_ref("L-3").await.unwrap().unwrap(),
        support::spend_line(2, 3, 400)
    );

    let counts = s.counts().await.unwrap();
    assert_eq!(
        (
            counts.events,
            counts.suppliers,
            counts.contracts,
            counts.spend_lines
        ),
        (13, 2, 1, 10)
    );
    let agg = s.spend_by_supplier(10).await.unwrap();
    // Supplier 2 has lines 1,3,5,7,9: 200+400+600+800+1000.
    assert_eq!(agg[0].supplier, support::supplier(2).id);
    assert_eq!((agg[0].total_minor, agg[0].lines), (3000, 5));
    assert_eq!(agg[1].total_minor, 2500);
    let quantity: f64 = agg.iter().map(|a| a.quantity).sum();
    assert!(quantity > 0.0, "quantities are summed: {agg:?}");
    let contracts = s
        .contracts_of_supplier(support::supplier(1).id)
        .await
        .unwrap();
    assert_eq!(contracts.len(), 1);
    assert!(
        s.contracts_of_supplier(support::supplier(2).id)
            .await
            .unwrap()
            .is_empty()
    );

    // A supplier update replaces the projection row.
    let mut changed = support::supplier(1);
    changed.name = "Acme renamed".into();
    s.append(Append::new(Event::SupplierUpdated {
        supplier: changed.clone(),
    }))
    .await
    .unwrap();
    assert_eq!(s.supplier_by_ref("S-1").await.unwrap().unwrap(), changed);
    assert!(s.verify(&VerifyOptions::default()).await.unwrap().is_ok());
}

async fn idempotent_replay_writes_nothing(b: Backend) {
    let h = b.open(Config::default()).await;
    let s = &h.store;
    let cmd = || Append::many(vec![support::registered(1), support::decision(1)]).key("cmd-1");
    let first = s.append(cmd()).await.unwrap();
    assert!(!first.replayed);
    let again = s.append(cmd()).await.unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.first_seq, again.last_seq, again.stream_version),
        (first.first_seq, first.last_seq, first.stream_version)
    );
    assert_eq!(s.last_seq().await.unwrap(), 2, "the replay wrote nothing");
    assert_eq!(s.appended_with_key("cmd-1").await.unwrap(), Some(again));
    assert_eq!(s.appended_with_key("cmd-2").await.unwrap(), None);

    // In a batch: a replayed key, a new key, and the new key twice.
    let batch = vec![
        cmd(),
        Append::new(support::spend(1, 1, 10)).key("line-1"),
        Append::new(support::spend(1, 1, 10)).key("line-1"),
    ];
    let r = s.append_batch(batch).await.unwrap();
    assert!(r[0].replayed && !r[1].replayed && r[2].replayed);
    assert_eq!(r[2].first_seq, r[1].first_seq);
    assert_eq!(s.last_seq().await.unwrap(), 3);
    assert_eq!(s.counts().await.unwrap().spend_lines, 1);
    let e = &s.read_events(0, 10).await.unwrap()[2];
    assert_eq!(e.idempotency_key.as_deref(), Some("line-1"));
    assert!(matches!(
        s.append(Append::new(support::registered(9)).key("")).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn optimistic_concurrency_conflict(b: Backend) {
    let h = b.open(Config::default()).await;
    let s = &h.store;
    let stream = support::registered(1).stream();
    s.append(Append::new(support::registered(1)).expect_version(ExpectedVersion::NoStream))
        .await
        .unwrap();
    let err = s
        .append(Append::new(support::registered(1)).expect_version(ExpectedVersion::NoStream))
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict {
            stream: st,
            expected,
            actual,
            command,
        } => {
            assert_eq!(
                (st, expected, actual, command),
                (stream.clone(), ExpectedVersion::NoStream, 1, 0)
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let ok = s
        .append(Append::new(support::registered(1)).expect(&stream, ExpectedVersion::Exact(1)))
        .await
        .unwrap();
    assert_eq!(ok.stream_version, 2);
    let stale = s
        .append(Append::new(support::registered(1)).expect(&stream, ExpectedVersion::Exact(1)))
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict { actual: 2, .. })));
    assert_eq!(s.last_seq().await.unwrap(), 2, "a conflict writes nothing");
}

async fn failing_batch_leaves_nothing(b: Backend) {
    // Signed every 2 entries, a group carries a checkpoint; unsigned, PostgreSQL's writer
    // sends it as one statement outside a transaction (`pg::write::Parts`).
    failing_batch_leaves_nothing_with(&b, Config::signed(2), 1).await;
    failing_batch_leaves_nothing_with(&b, Config::default(), 0).await;
}

async fn failing_batch_leaves_nothing_with(b: &Backend, config: Config, checkpoints: u64) {
    let h = b.open(config).await;
    let s = &h.store;
    s.append(Append::new(support::registered(1))).await.unwrap();
    // Supplier 2 takes supplier 1's external_ref: the projection's unique key refuses it,
    // after the events, the chain links, the key, a checkpoint (when signed) and another
    // supplier's row were written.
    let mut clash = support::supplier(2);
    clash.external_ref = "S-1".into();
    let batch = vec![
        Append::new(support::registered(3)).key("k3"),
        Append::new(Event::SupplierRegistered { supplier: clash }),
        Append::new(support::spend(3, 1, 100)),
    ];
    let err = s.append_batch(batch).await.unwrap_err();
    assert!(matches!(err, StoreError::Constraint(_)), "{err:?}");
    let counts = s.counts().await.unwrap();
    assert_eq!(
        (
            counts.events,
            counts.suppliers,
            counts.spend_lines,
            counts.checkpoints
        ),
        (1, 1, 0, 0)
    );
    assert!(s.supplier_by_ref("S-3").await.unwrap().is_none());
    // A conflict in the middle of a batch is also all or nothing.
    let batch = vec![
        Append::new(support::registered(4)),
        Append::new(support::registered(1)).expect_version(ExpectedVersion::NoStream),
    ];
    assert!(matches!(
        s.append_batch(batch).await,
        Err(StoreError::Conflict { command: 1, .. })
    ));
    assert_eq!(s.last_seq().await.unwrap(), 1);
    // The writer's cached tip survived the rollbacks: the next append links correctly.
    let next = s
        .append(Append::new(support::registered(3)).key("k3"))
        .await
        .unwrap();
    assert_eq!((next.first_seq, next.replayed), (2, false));
    let report = s.verify(&VerifyOptions::default()).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.checkpoints_verified, checkpoints);
}

async fn document_projections_follow_state(b: Backend) {
    let h = b.open(Config::default()).await;
    let s = &h.store;
    let inv = support::invoice(1);
    let c = support::contract(1, 1);
    s.append_batch(vec![
        Append::new(Event::InvoiceReceived {
            invoice: inv.clone(),
        }),
        Append::new(Event::ContractRecorded {
            contract: c.clone(),
        }),
    ])
    .await
    .unwrap();
    let doc = s
        .document("invoice", &inv.id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doc.state, "received");
    assert_eq!(doc.data["number"], "INV-1");
    // Both spellings of a state end up as serde writes it.
    s.append_batch(vec![
        Append::new(support::invoice_state(inv.id, InvoiceState::Matched)),
        Append::new(support::contract_state(&c, "active")),
    ])
    .await
    .unwrap();
    let doc = s
        .document("invoice", &inv.id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((doc.state.as_str(), doc.last_seq), ("matched", 3));
    assert_eq!(doc.data["state"], "matched");
    let active = s.contract_by_ref("C-1").await.unwrap().unwrap();
    assert_eq!(active.state, accord_core::lifecycle::ContractState::Active);
    assert_eq!(s.counts().await.unwrap().documents, 1);
}

async fn documents_list_count_and_streams_read(b: Backend) {
    let h = b.open(Config::default()).await;
    let s = &h.store;
    let invoices: Vec<Invoice> = (1..=5).map(support::invoice).collect();
    s.append_batch(
        invoices
            .iter()
            .map(|i| Append::new(Event::InvoiceReceived { invoice: i.clone() }))
            .collect(),
    )
    .await
    .unwrap();
    s.append(Append::new(support::invoice_state(
        invoices[1].id,
        InvoiceState::Matched,
    )))
    .await
    .unwrap();

    // Pages in id order, filtered by state.
    let page = s
        .documents(&DocumentQuery::kind("invoice", 2))
        .await
        .unwrap();
    let ids: Vec<_> = page.iter().map(|d| d.id.clone()).collect();
    assert_eq!(
        ids,
        [invoices[0].id.to_string(), invoices[1].id.to_string()]
    );
    let next = s
        .documents(&DocumentQuery::kind("invoice", 10).after(ids[1].clone()))
        .await
        .unwrap();
    assert_eq!(next.len(), 3);
    assert_eq!(next[0].id, invoices[2].id.to_string());
    let matched = s
        .documents(&DocumentQuery::kind("invoice", 10).state("matched"))
        .await
        .unwrap();
    assert_eq!(matched.len(), 1);
    assert_eq!(matched[0].id, invoices[1].id.to_string());
    assert_eq!(matched[0].parent, None);
    let none = s
        .documents(&DocumentQuery::kind("invoice", 10).parent("campaign-x"))
        .await
        .unwrap();
    assert!(none.is_empty());

    let counts = s.document_counts("invoice", None).await.unwrap();
    assert_eq!(
        counts,
        [("matched".to_string(), 1), ("received".to_string(), 4)]
    );
    assert!(s.document_counts("payment", None).await.unwrap().is_empty());

    // One stream's events, after a version.
    let stream = format!("invoice-{}", invoices[1].id);
    let all = s.read_stream(&stream, 0, 100).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        all.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(all[1].kind, "document_state_changed");
    let tail = s.read_stream(&stream, 1, 100).await.unwrap();
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].seq, all[1].seq);
}

async fn consumer_checkpoint_resume(b: Backend) {
    let h = b.open(Config::default()).await;
    let s = &h.store;
    let cmds: Vec<Append> = (0..25)
        .map(|i| Append::new(support::spend(1, i, 1)))
        .collect();
    s.append_batch(cmds).await.unwrap();
    assert_eq!(s.consumer_checkpoint("matcher").await.unwrap(), 0);
    // A consumer handles pages of 10 and stops after two pages.
    let mut seen = Vec::new();
    for _ in 0..2 {
        let from = s.consumer_checkpoint("matcher").await.unwrap();
        let page = s.read_events(from, 10).await.unwrap();
        seen.extend(page.iter().map(|e| e.seq));
        s.set_consumer_checkpoint("matcher", page.last().unwrap().seq)
            .await
            .unwrap();
    }
    // It restarts: it resumes after 20 and sees each event once.
    let from = s.consumer_checkpoint("matcher").await.unwrap();
    assert_eq!(from, 20);
    loop {
        let page = s
            .read_events(s.consumer_checkpoint("matcher").await.unwrap(), 10)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        seen.extend(page.iter().map(|e| e.seq));
        s.set_consumer_checkpoint("matcher", last.seq)
            .await
            .unwrap();
    }
    assert_eq!(seen, (1..=25).collect::<Vec<u64>>());
    assert_eq!(s.consumer_checkpoint("other").await.unwrap(), 0);
}

async fn change_feed_delivers(b: Backend) {
    let h = b.open(Config::default()).await;
    let s = &h.store;
    let mut feed = s.subscribe().await.unwrap();
    let a = s.append(Append::new(support::registered(1))).await.unwrap();
    let r = s
        .append_batch(vec![
            Append::new(support::spend(1, 1, 1)),
            Append::new(support::spend(1, 2, 1)),
        ])
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), feed.recv())
        .await
        .expect("notified in time")
        .unwrap();
    assert_eq!((first.first_seq, first.last_seq), (a.first_seq, a.last_seq));
    let second = tokio::time::timeout(Duration::from_secs(5), feed.recv())
        .await
        .expect("notified in time")
        .unwrap();
    assert_eq!((second.first_seq, second.last_seq), (2, r[1].last_seq));
}

async fn concurrent_appends_group_commit(b: Backend) {
    let h = b.open(Config::signed(16).full()).await;
    let s = h.store.clone();
    let stream = support::registered(7).stream();
    s.append(Append::new(support::registered(7))).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..64u64 {
        let s = s.clone();
        let stream = stream.clone();
        tasks.push(tokio::spawn(async move {
            if i % 8 == 0 {
                // Doomed in planning: the stream exists.
                s.append(
                    Append::new(support::registered(7)).expect(stream, ExpectedVersion::NoStream),
                )
                .await
            } else if i % 8 == 4 {
                // Doomed in the database: the external_ref is taken.
                let mut clash = support::supplier(100 + i);
                clash.external_ref = "S-7".into();
                s.append(Append::new(Event::SupplierRegistered { supplier: clash }))
                    .await
            } else {
                s.append(Append::new(support::spend(1, i, 5)).key(format!("c-{i}")))
                    .await
            }
        }));
    }
    let (mut ok, mut conflicts, mut refused) = (0, 0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict { .. }) => conflicts += 1,
            Err(StoreError::Constraint(_)) => refused += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!((ok, conflicts, refused), (48, 8, 8));
    assert_eq!(s.last_seq().await.unwrap(), 49);
    let report = s.verify(&VerifyOptions::default()).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.checkpoints_verified, 3);
    assert_eq!(s.counts().await.unwrap().spend_lines, 48);
    // The 48 lines share one stream, started and moved by many requests of each group:
    // its stored tip is the last of them.
    let spend = support::spend(1, 0, 5).stream();
    assert_eq!(s.stream_version(&spend).await.unwrap(), 48);
    assert_eq!(s.read_stream(&spend, 0, 100).await.unwrap().len(), 48);
}

/// Many callers at once, every request valid, so that groups are planned and written
/// together: requests of one group that start a stream and move it again, and others
/// that move a stream the log already has, leave each stream's tip at its last event.
async fn concurrent_appends_share_streams_in_a_group(b: Backend) {
    let h = b.open(Config::signed(16).full()).await;
    let s = h.store.clone();
    s.append(Append::new(support::spend(2, 1_000, 5)))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let s = s.clone();
        // Supplier 1's spend stream is new; supplier 2's has one event already.
        tasks.push(tokio::spawn(async move {
            s.append(Append::new(support::spend(1 + i % 2, i, 5))).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for (supplier, events) in [(1, 100), (2, 101)] {
        let stream = support::spend(supplier, 0, 5).stream();
        assert_eq!(s.stream_version(&stream).await.unwrap(), events, "{stream}");
        let read = s.read_stream(&stream, 0, 500).await.unwrap();
        assert_eq!(read.len() as u64, events, "{stream}");
        assert!(
            read.windows(2)
                .all(|w| w[1].stream_version == w[0].stream_version + 1)
        );
    }
    let report = s.verify(&VerifyOptions::default()).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.entries, 201);
}

/// Concurrent `append_batch` calls may share one group commit: a batch the database
/// refuses half-way writes nothing (none of its events, keys, projections or
/// checkpoints), and every other batch commits whole, its keys replaying afterwards.
async fn concurrent_batches_fail_alone(b: Backend) {
    let h = b.open(Config::signed(10).full()).await;
    let s = h.store.clone();
    s.append(Append::new(support::registered(1))).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..12u64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut batch: Vec<Append> = (0..25u64)
                .map(|i| {
                    Append::new(support::spend(t % 3, t * 100 + i, 7)).key(format!("b{t}-{i}"))
                })
                .collect();
            if t % 4 == 1 {
                // The last command clashes with supplier 1's external_ref.
                let mut clash = support::supplier(50 + t);
                clash.external_ref = "S-1".into();
                batch.push(Append::new(Event::SupplierRegistered { supplier: clash }));
            }
            (t, s.append_batch(batch).await)
        }));
    }
    let mut committed = 0;
    for task in tasks {
        let (t, result) = task.await.unwrap();
        if t % 4 == 1 {
            assert!(
                matches!(result, Err(StoreError::Constraint(_))),
                "{t}: {result:?}"
            );
        } else {
            let r = result.unwrap();
            assert_eq!(r.len(), 25);
            assert!(r.windows(2).all(|w| w[1].first_seq == w[0].last_seq + 1));
            committed += 1;
        }
    }
    assert_eq!(committed, 9);
    let counts = s.counts().await.unwrap();
    assert_eq!((counts.events, counts.spend_lines), (1 + 9 * 25, 9 * 25));
    assert_eq!(counts.checkpoints, (1 + 9 * 25) / 10);
    // Refused batches left no keys behind; committed ones replay.
    let again = s
        .append(Append::new(support::spend(1, 100, 7)).key("b1-0"))
        .await
        .unwrap();
    assert!(!again.replayed);
    let replay = s
        .append(Append::new(support::spend(0, 0, 7)).key("b0-0"))
        .await
        .unwrap();
    assert!(replay.replayed);
    let report = s.verify(&VerifyOptions::default()).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.entries, 2 + 9 * 25);
}

/// Concurrent requests race to start one stream, each after a keyed command on a stream
/// they all share, in groups that the writer plans together: exactly one wins; every
/// other fails with a conflict on its second command and leaves nothing behind (not its
/// first command's event, key or version of the shared stream, which stays gapless),
/// while the requests without a race all commit.
async fn concurrent_conflicts_fail_alone(b: Backend) {
    let h = b.open(Config::signed(10).full()).await;
    let s = h.store.clone();
    s.append(Append::new(support::registered(1))).await.unwrap();
    let shared = support::registered(1).stream();
    let contested = support::registered(99);
    let update = || Event::SupplierUpdated {
        supplier: support::supplier(1),
    };
    let mut tasks = Vec::new();
    for t in 0..40u64 {
        let (s, contested) = (s.clone(), contested.clone());
        let mine = Append::new(update()).key(format!("k{t}"));
        tasks.push(tokio::spawn(async move {
            let result = if t % 2 == 0 {
                let race = Append::new(contested).expect_version(ExpectedVersion::NoStream);
                s.append_batch(vec![mine, race]).await
            } else {
                s.append_batch(vec![mine]).await
            };
            (t, result)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (t, result) = task.await.unwrap();
        match result {
            Ok(r) => {
                assert!(r.iter().all(|a| !a.replayed), "{t}: {r:?}");
                if t % 2 == 0 {
                    assert_eq!(r[1].stream_version, 1);
                    winners.push(t);
                }
            }
            Err(StoreError::Conflict {
                actual, command, ..
            }) if t % 2 == 0 => assert_eq!((actual, command), (1, 1), "{t}"),
            Err(e) => panic!("{t}: {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "one request starts the stream");
    assert_eq!(s.last_seq().await.unwrap(), 1 + 21 + 1);
    assert_eq!(s.stream_version(&contested.stream()).await.unwrap(), 1);
    let versions: Vec<u64> = s
        .read_stream(&shared, 0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.stream_version)
        .collect();
    assert_eq!(versions, (1..=22).collect::<Vec<u64>>());
    // A loser's keyed first command was never written: its key is free.
    for t in (0..40u64).step_by(2) {
        let again = s
            .append(Append::new(update()).key(format!("k{t}")))
            .await
            .unwrap();
        assert_eq!(again.replayed, t == winners[0], "key k{t}");
    }
    let report = s.verify(&VerifyOptions::default()).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
}

/// Callers racing with one idempotency key (a client retrying while its first request is
/// still queued) may land in one group commit: exactly one writes, every other gets the
/// same result back marked as a replay.
async fn same_key_from_concurrent_callers_writes_once(b: Backend) {
    let h = b.open(Config::default().full()).await;
    let s = h.store.clone();
    s.append(Append::new(support::registered(1))).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..32u64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("retry-{}", i % 4);
            s.append(Append::new(support::spend(1, i % 4, 3)).key(key))
                .await
                .map(|a| (i % 4, a))
        }));
    }
    let mut firsts = std::collections::HashMap::new();
    let mut replays = 0;
    for t in tasks {
        let (k, a) = t.await.unwrap().unwrap();
        if a.replayed {
            replays += 1;
        }
        let seq = *firsts.entry(k).or_insert(a.first_seq);
        assert_eq!(seq, a.first_seq, "key {k} answered with two different seqs");
    }
    assert_eq!(replays, 28);
    assert_eq!(s.last_seq().await.unwrap(), 5);
    assert_eq!(s.counts().await.unwrap().spend_lines, 4);
}

/// Under a steady stream of appends SQLite never starts its WAL over by itself; the
/// checkpointer and the writer do, so the WAL file stops growing at what the writer
/// commits between two rewinds instead of growing with the log, and nothing is lost on
/// the way. How far the file overshoots its bound between rewinds depends on the
/// machine's load (a loaded machine once took it past twice its size after the first
/// quarter, which an earlier version of this test asserted), so the test counts the
/// rewinds and compares the file with the database: a WAL that never started over would
/// hold every page the database has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_under_steady_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.db");
    let s = accord_store::SqliteStore::open(
        &path,
        accord_store::SqliteOptions {
            wal_bytes: 256 << 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.append(Append::new(support::registered(1))).await.unwrap();
    // 1,000 commits of 100 lines, back to back, so SQLite never finds a moment to rewind
    // by itself.
    for b in 0..1_000u64 {
        s.append_batch(
            (0..100u64)
                .map(|i| Append::new(support::spend(1, b * 100 + i, 5)))
                .collect(),
        )
        .await
        .unwrap();
    }
    // The WAL header's checkpoint sequence number counts the times it started over; the
    // file never shrinks, so its length is the most it held.
    let mut header = [0u8; 16];
    let mut wal = std::fs::File::open(dir.path().join("wal.db-wal")).unwrap();
    std::io::Read::read_exact(&mut wal, &mut header).unwrap();
    let restarts = u32::from_be_bytes(header[12..16].try_into().unwrap());
    let largest = wal.metadata().unwrap().len();
    let database = std::fs::metadata(&path).unwrap().len();
    assert!(
        restarts >= 10 && largest < database / 2,
        "the WAL started over {restarts} times and reached {largest} bytes; the database \
         has {database}"
    );
    assert_eq!(s.counts().await.unwrap().spend_lines, 100_000);
    let report = s.verify(&VerifyOptions::default()).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.entries, 100_001);
}

/// Two stores on one SQLite file (two processes, say `accord serve` and `accord import`):
/// each writer notices the other's appends through the `seq` key and re-links its chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_on_one_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let a = accord_store::SqliteStore::open(&path, Default::default())
        .await
        .unwrap();
    let b = accord_store::SqliteStore::open(&path, Default::default())
        .await
        .unwrap();
    for i in 0..20u64 {
        let s = if i % 3 == 0 { &a } else { &b };
        let r = s
            .append(Append::new(support::spend(i % 2, i, 10)).key(format!("k{i}")))
            .await
            .unwrap();
        assert_eq!(r.first_seq, i + 1);
    }
    // A key written through one store is a replay through the other.
    assert!(
        a.append(Append::new(support::spend(1, 1, 10)).key("k1"))
            .await
            .unwrap()
            .replayed
    );
    // Stream versions stay consecutive across both writers.
    let events = b.read_events(0, 100).await.unwrap();
    let versions: Vec<u64> = events
        .iter()
        .filter(|e| e.stream == events[0].stream)
        .map(|e| e.stream_version)
        .collect();
    assert_eq!(versions, (1..=10).collect::<Vec<u64>>());
    let report = a.verify(&VerifyOptions::default()).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.entries, 20);
}

/// Two stores on one SQLite file, one stream: after the other process moved the stream,
/// a command expecting the stream's real version commits (the writer notices its cached
/// version is stale and plans again) instead of failing with a spurious conflict; a
/// command expecting a version that is really stale still conflicts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_stream_version_from_another_process_is_replanned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let a = accord_store::SqliteStore::open(&path, Default::default())
        .await
        .unwrap();
    let b = accord_store::SqliteStore::open(&path, Default::default())
        .await
        .unwrap();
    let updated = || Event::SupplierUpdated {
        supplier: support::supplier(1),
    };
    let stream = support::registered(1).stream();
    a.append(Append::new(support::registered(1))).await.unwrap();
    // `a` has cached version 1; `b` moves the stream to 2.
    b.append(Append::new(updated()).expect_version(ExpectedVersion::Exact(1)))
        .await
        .unwrap();
    let r = a
        .append(Append::new(updated()).expect_version(ExpectedVersion::Exact(2)))
        .await
        .unwrap();
    assert_eq!((r.first_seq, r.stream_version), (3, 3));
    assert!(matches!(
        a.append(Append::new(updated()).expect_version(ExpectedVersion::Exact(2)))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    let versions: Vec<u64> = b
        .read_stream(&stream, 0, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.stream_version)
        .collect();
    assert_eq!(versions, vec![1, 2, 3]);
    assert!(a.verify(&VerifyOptions::default()).await.unwrap().is_ok());
}

/// Reads by stream return exactly the stream's events after a version, in order, a page
/// at a time, however its events interleave with other streams' in the log and whether
/// they came alone or in batches; a stream's version is its last event's.
async fn stream_reads_page_through_interleaved_streams(b: Backend) {
    let h = b.open(Config::default()).await;
    let s = &h.store;
    let mut n = 0;
    for round in 0..20 {
        // One batch across three suppliers' spend streams, then single appends.
        let batch = (0..15)
            .map(|i| Append::new(support::spend(1 + (n + i) % 3, n + i, 10)))
            .collect();
        s.append_batch(batch).await.unwrap();
        n += 15;
        for _ in 0..round {
            s.append(Append::new(support::spend(1 + n % 3, n, 10)))
                .await
                .unwrap();
            n += 1;
        }
    }
    let log = s.read_events(0, 1000).await.unwrap();
    for supplier in 1..=3 {
        let stream = format!("spend-{}", support::supplier(supplier).id);
        let want: Vec<(u64, u64)> = log
            .iter()
            .filter(|e| e.stream == stream)
            .map(|e| (e.seq, e.stream_version))
            .collect();
        // Long enough for two marks (versions 64 and 128) on SQLite.
        assert!(want.len() > 150, "{}", want.len());
        let len = want.len() as u64;
        assert_eq!(s.stream_version(&stream).await.unwrap(), len);
        for (after, limit) in [
            (60, 4),
            (63, 1),
            (63, 2),
            (64, 64),
            (100, 28),
            (127, 1),
            (128, 1000),
            (0, 1),
            (0, 1000),
            (1, 7),
            (13, 5),
            (29, 100),
            (len - 1, 3),
            (len, 10),
        ] {
            let got: Vec<(u64, u64)> = s
                .read_stream(&stream, after, limit)
                .await
                .unwrap()
                .iter()
                .map(|e| (e.seq, e.stream_version))
                .collect();
            let expected: Vec<(u64, u64)> = want
                .iter()
                .filter(|(_, v)| *v > after)
                .take(limit as usize)
                .copied()
                .collect();
            assert_eq!(
                got, expected,
                "supplier {supplier}, after {after}, limit {limit}"
            );
        }
    }
    assert!(
        s.read_stream("spend-nobody", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.stream_version("spend-nobody").await.unwrap(), 0);
}

/// Group commit, where the writer commits small groups back to back: a checkpoint is a
/// reader, and one running when the writer begins the transaction that should start the
/// WAL over stops it from doing so. The checkpointer keeps out of the way until the
/// rewind is done, and paces itself to how fast the WAL fills. Here (a debug build, 64
/// callers, a 1 MiB bound and ~300 MiB of WAL traffic, since small groups rewrite whole
/// pages) the WAL used to start over 14–41 times; now it starts over 250–330 times, so
/// at least 100 tells the two apart with room for a loaded machine. How far the file
/// grows between two rewinds is a matter of timing rather than of the protocol: the
/// writer goes on while the checkpointer copies the tail and syncs the database file
/// before asking, so with this tiny bound the file peaks at 5–35 times it (before: 31–46
/// times, with far fewer restarts). At the 64 MiB default it peaks at 1.3–1.6 times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_starts_over_under_group_commit() {
    const BOUND: u64 = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("group.db");
    let s = accord_store::SqliteStore::open(
        &path,
        accord_store::SqliteOptions {
            wal_bytes: BOUND,
            durability: accord_store::Durability::Full,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.append(Append::new(support::registered(1))).await.unwrap();
    // 64 callers appending one spend line at a time.
    let writers: Vec<_> = (0..64u64)
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                for i in 0..500u64 {
                    s.append(Append::new(support::spend(1, w * 1_000 + i, 5)))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    // The WAL header's checkpoint sequence number counts the times it started over; the
    // file never shrinks, so its length is the most it held.
    let mut header = [0u8; 16];
    let mut wal = std::fs::File::open(dir.path().join("group.db-wal")).unwrap();
    std::io::Read::read_exact(&mut wal, &mut header).unwrap();
    let restarts = u32::from_be_bytes(header[12..16].try_into().unwrap());
    let largest = wal.metadata().unwrap().len();
    assert!(
        restarts >= 100,
        "the WAL started over {restarts} times, and reached {largest} bytes ({:.1} times its bound)",
        largest as f64 / BOUND as f64
    );
    assert_eq!(s.counts().await.unwrap().spend_lines, 32_000);
    let report = s.verify(&VerifyOptions::default()).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
}

/// With `Durability::Full` a task on the runtime that opened the store sends the durable
/// answers. A store kept after that runtime has shut down (opened by one runtime, used
/// from another) still answers every append: the sync thread then answers itself.
#[test]
fn durable_appends_are_answered_after_the_opening_runtime_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.db");
    let first = tokio::runtime::Runtime::new().unwrap();
    let s = first
        .block_on(accord_store::SqliteStore::open(
            &path,
            accord_store::SqliteOptions {
                durability: accord_store::Durability::Full,
                ..Default::default()
            },
        ))
        .unwrap();
    first
        .block_on(s.append(Append::new(support::registered(1))))
        .unwrap();
    drop(first);
    let second = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    second.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..50u64 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.append(Append::new(support::spend(1, i, 3))).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(s.last_seq().await.unwrap(), 51);
    });
}
