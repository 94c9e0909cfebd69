//! The read models checked against the log (`rebuild::check_read_models`): a store whose
//! rows were all written by appends matches its replay; a changed value, a deleted row
//! and an extra row are each found and named; JSON laid out differently but meaning the
//! same is not a difference.

use accord_core::Event;
use accord_core::id::InvoiceId;
use accord_core::lifecycle::InvoiceState;
use accord_store::rebuild::{ReadModelReport, check_read_models};
use accord_store::{Append, Store};

use crate::support::{
    Backend, Config, both_backends, contract, contract_state, decision, invoice, invoice_state,
    registered, spend,
};

both_backends! {
    read_models_are_checked_against_the_log,
    a_group_of_every_kind_of_row_matches_its_replay,
}

/// The live rows of suppliers, contracts, spend lines and documents.
fn read_model_rows(r: &ReadModelReport) -> [u64; 4] {
    ["suppliers", "contracts", "spend", "documents"].map(|name| table(r, name).live_rows)
}

fn table<'a>(r: &'a ReadModelReport, name: &str) -> &'a accord_store::rebuild::TableReport {
    r.tables.iter().find(|t| t.table == name).unwrap()
}

/// One group with a row for every read model and an idempotency key. Once the
/// PostgreSQL writer knows the tip, it writes such a group as one statement with a part
/// per table (`pg::write::Parts`); each row must come out as the replay writes it, and
/// the key must answer a retry made through another store.
async fn a_group_of_every_kind_of_row_matches_its_replay(backend: Backend) {
    let h = backend.open(Config::default()).await;
    let s = &h.store;
    s.append(Append::new(registered(9))).await.unwrap();
    let c = contract(1, 1);
    let first = s
        .append_batch(vec![
            Append::new(registered(1)).key("group-1"),
            Append::new(Event::ContractRecorded {
                contract: c.clone(),
            }),
            Append::new(spend(1, 1, 1_000)),
            Append::new(spend(1, 2, 2_500)),
            Append::new(Event::InvoiceReceived {
                invoice: invoice(1),
            }),
        ])
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|a| a.first_seq).collect::<Vec<_>>(),
        [2, 3, 4, 5, 6]
    );
    // The key answers a retry from the database, not from the writer's memory.
    let other = h.reopen().await;
    let retry = other
        .append(Append::new(registered(1)).key("group-1"))
        .await
        .unwrap();
    assert_eq!(
        (
            retry.first_seq,
            retry.last_seq,
            retry.stream_version,
            retry.replayed
        ),
        (2, 2, 1, true)
    );
    assert_eq!(s.last_seq().await.unwrap(), 6);

    let scratch = tempfile::tempdir().unwrap();
    let report = check_read_models(s, scratch.path(), |_| {}).await.unwrap();
    assert!(report.is_ok(), "{report:#?}");
    assert_eq!(read_model_rows(&report), [2, 1, 2, 1]);
    let line = s.spend_by_ref("L-2").await.unwrap().unwrap();
    assert_eq!(line.amount.minor, 2_500);
    let doc = s
        .document("invoice", &invoice(1).id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((doc.state.as_str(), doc.last_seq), ("received", 6));
}

async fn read_models_are_checked_against_the_log(backend: Backend) {
    let h = backend.open(Config::default()).await;
    let c = contract(1, 1);
    let events = vec![
        registered(1),
        registered(2),
        Event::ContractRecorded {
            contract: c.clone(),
        },
        contract_state(&c, "active"),
        spend(1, 1, 1_000),
        spend(1, 2, 2_500),
        spend(2, 3, 700),
        decision(1),
        decision(2),
        invoice_state(InvoiceId::new(), InvoiceState::Matched),
    ];
    h.store
        .append_batch(events.into_iter().map(Append::new).collect())
        .await
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut seen = 0;
    let report = check_read_models(&h.store, scratch.path(), |n| seen = n)
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:#?}");
    assert_eq!((report.events, seen), (10, 10));
    assert_eq!(read_model_rows(&report), [2, 1, 3, 2]);

    // The same JSON with another layout is the same document.
    h.exec("UPDATE documents SET data = ' ' || data").await;
    let report = check_read_models(&h.store, scratch.path(), |_| {})
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:#?}");

    h.exec("UPDATE spend SET amount_minor = amount_minor + 1 WHERE external_ref = 'L-2'")
        .await;
    h.exec("DELETE FROM suppliers WHERE external_ref = 'S-2'")
        .await;
    h.exec(
        "INSERT INTO documents (kind, id, state, data, last_seq) \
         VALUES ('invoice', 'forged', 'paid', '{}', 1)",
    )
    .await;
    h.exec("UPDATE contracts SET state = 'terminated'").await;
    let report = check_read_models(&h.store, scratch.path(), |_| {})
        .await
        .unwrap();
    assert!(!report.is_ok());
    let spend = table(&report, "spend");
    assert_eq!(spend.differences, 1, "{spend:#?}");
    assert_eq!(spend.first[0].column, "amount_minor");
    assert_eq!(
        (
            spend.first[0].live.as_deref(),
            spend.first[0].rebuilt.as_deref()
        ),
        (Some("2501"), Some("2500"))
    );
    let suppliers = table(&report, "suppliers");
    assert_eq!((suppliers.live_rows, suppliers.rebuilt_rows), (1, 2));
    assert_eq!(suppliers.first[0].column, "(row)");
    assert!(suppliers.first[0].live.is_none() && suppliers.first[0].rebuilt.is_some());
    let documents = table(&report, "documents");
    assert_eq!(documents.differences, 1, "{documents:#?}");
    assert_eq!(documents.first[0].key, "invoice/forged");
    assert!(documents.first[0].rebuilt.is_none());
    let contracts = table(&report, "contracts");
    assert_eq!(contracts.first[0].column, "state");
    assert_eq!(contracts.first[0].rebuilt.as_deref(), Some("active"));
    assert_eq!(table(&report, "tallies").differences, 0);
}
