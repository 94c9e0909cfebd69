//! The governance service through the store, on SQLite and PostgreSQL: approvals with
//! segregation of duties and optimistic concurrency, escalation, the kill switch and
//! autonomy changes as logged decisions. Each test ends by verifying the audit chain.

use std::sync::Arc;

use accord_core::{
    CategoryCode, Currency, Event, Money, RiskTier, SizeClass,
    governance::{ApprovalState, Authorises},
    id::DecisionId,
};
use accord_policy::{
    Action, AgentKind, ApprovalError, Approver, AutonomyLevel, CategoryAutonomy, Gate, GateRequest,
    Governance, GovernanceConfig, GovernanceError, NewApproval, Outcome, PolicySet, Principal,
    Resource, Role, gate::KILL_SWITCH_ID,
};
use accord_store::{AnyStore, Store, VerifyOptions};
use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::support::{Backend, Harness, both_backends};

both_backends!(
    approve_deny_and_delegate,
    sod_and_state_refusals_write_nothing,
    concurrent_approvals_only_one_wins,
    overdue_requests_escalate_then_expire,
    kill_switch_persists_and_holds_negotiations,
    autonomy_change_is_a_decision_naming_policies,
    configured_autonomy_holds_until_the_log_sets_it,
);

fn t(hour: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap() + Duration::hours(hour)
}

fn gate() -> Arc<Gate> {
    Arc::new(Gate::new(Arc::new(PolicySet::default_pack()), Currency::EUR).unwrap())
}

async fn governance(store: AnyStore) -> Governance<AnyStore> {
    Governance::open(store, gate(), GovernanceConfig::default())
        .await
        .unwrap()
}

fn ask(key: &str, requester: &str, role: Role) -> NewApproval {
    NewApproval {
        key: key.to_owned(),
        authorises: Authorises::Decision {
            id: DecisionId::from_parts(1_770_000_000_000, 9),
        },
        role,
        requester: requester.to_owned(),
        action: Action::NegotiationAccept,
        subject: format!("negotiation/{key}"),
        summary: "accept 80,000 EUR with Acme".to_owned(),
        sla: Some(Duration::hours(4)),
    }
}

fn user(id: &str, roles: &[Role]) -> Approver {
    Approver::new(id, roles)
}

/// The audit chain verifies with the test key after everything the test did.
async fn chain_verifies(h: &Harness) {
    let report = h
        .store
        .verify(&VerifyOptions {
            trusted_key: Some(h.public_key()),
        })
        .await
        .unwrap();
    assert!(report.broken.is_none(), "{:?}", report.broken);
    assert!(report.entries > 0);
}

async fn approve_deny_and_delegate(backend: Backend) {
    let h = backend.open().await;
    let g = governance(h.store.clone()).await;
    let alice = user("alice", &[Role::Approver]);

    let a = g
        .request_approval(ask("a", "negotiator", Role::Approver), t(0))
        .await
        .unwrap();
    assert_eq!(a.state, ApprovalState::Pending);
    // Idempotent by key: the same request comes back and nothing is written.
    let seq = h.store.last_seq().await.unwrap();
    let again = g
        .request_approval(ask("a", "negotiator", Role::Approver), t(1))
        .await
        .unwrap();
    assert_eq!(again.id, a.id);
    assert_eq!(h.store.last_seq().await.unwrap(), seq);

    let pending = g.pending(Some(Role::Approver)).await.unwrap();
    assert_eq!(pending.iter().map(|r| r.id).collect::<Vec<_>>(), [a.id]);
    assert!(g.pending(Some(Role::Treasurer)).await.unwrap().is_empty());

    let done = g
        .approve(a.id, &alice, "within budget", t(1))
        .await
        .unwrap();
    assert_eq!(done.state, ApprovalState::Approved);
    assert_eq!(done.approved_by.as_deref(), Some("alice"));
    let doc = h
        .store
        .document("approval", &a.id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doc.state, "approved");
    assert_eq!(doc.parent.as_deref(), Some("negotiation/a"));
    assert_eq!(doc.data["approved_by"], "alice");

    let b = g
        .request_approval(ask("b", "negotiator", Role::Approver), t(0))
        .await
        .unwrap();
    let denied = g.deny(b.id, &alice, "price too high", t(2)).await.unwrap();
    assert_eq!(denied.state, ApprovalState::Denied);

    let c = g
        .request_approval(ask("c", "negotiator", Role::Approver), t(0))
        .await
        .unwrap();
    g.delegate(c.id, &alice, "carol", "on leave", t(1))
        .await
        .unwrap();
    // Only carol may decide now, role or not; alice may not.
    let err = g.approve(c.id, &alice, "ok", t(2)).await.unwrap_err();
    assert!(
        matches!(
            err,
            GovernanceError::Approval(ApprovalError::DelegatedElsewhere { .. })
        ),
        "{err}"
    );
    let carol = user("carol", &[]);
    let c = g.approve(c.id, &carol, "fine", t(2)).await.unwrap();
    assert_eq!(c.approved_by.as_deref(), Some("carol"));
    assert_eq!(c.history.len(), 2);

    // Every step is an event in the request's stream.
    let kinds: Vec<String> = h
        .store
        .read_stream(&format!("approval-{}", c.id), 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "approval_requested",
            "approval_step_recorded",
            "approval_step_recorded"
        ]
    );
    let states = h.store.document_counts("approval", None).await.unwrap();
    assert_eq!(
        states,
        [("approved".to_owned(), 2), ("denied".to_owned(), 1)]
    );
    assert!(g.pending(None).await.unwrap().is_empty());
    chain_verifies(&h).await;
}

async fn sod_and_state_refusals_write_nothing(backend: Backend) {
    let h = backend.open().await;
    let g = governance(h.store.clone()).await;
    let r = g
        .request_approval(ask("rita-po", "rita", Role::Approver), t(0))
        .await
        .unwrap();
    let seq = h.store.last_seq().await.unwrap();

    // The requester cannot approve her own request, even holding the role.
    let rita = user("rita", &[Role::Approver]);
    let err = g.approve(r.id, &rita, "mine", t(1)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "`rita` requested this and cannot also approve, deny or take it over"
    );
    // Nor can she hand it to herself through someone else.
    let alice = user("alice", &[Role::Approver]);
    let err = g
        .delegate(r.id, &alice, "rita", "you", t(1))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        GovernanceError::Approval(ApprovalError::RequesterCannotDecide(_))
    ));
    // Without the role.
    let bob = user("bob", &[Role::Buyer]);
    let err = g.approve(r.id, &bob, "ok", t(1)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "`bob` does not hold the role `approver` this request needs"
    );
    // Without a comment.
    let err = g.deny(r.id, &alice, "  ", t(1)).await.unwrap_err();
    assert!(matches!(
        err,
        GovernanceError::Approval(ApprovalError::NoComment)
    ));
    assert_eq!(
        h.store.last_seq().await.unwrap(),
        seq,
        "refusals wrote nothing"
    );

    g.approve(r.id, &alice, "ok", t(1)).await.unwrap();
    let seq = h.store.last_seq().await.unwrap();
    let err = g
        .deny(r.id, &alice, "changed my mind", t(2))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("approval `{}` is approved, not pending", r.id)
    );
    let unknown = accord_core::id::ApprovalId::from_parts(1_770_000_000_000, 1);
    assert!(matches!(
        g.approve(unknown, &alice, "ok", t(2)).await.unwrap_err(),
        GovernanceError::UnknownApproval(_)
    ));
    assert_eq!(h.store.last_seq().await.unwrap(), seq);

    // Downstream: whoever approved cannot release the payment, nor can the requester.
    let err = g
        .check_payment_release("alice", "rita", "negotiation/rita-po")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`alice` approved this"), "{err}");
    assert!(
        g.check_payment_release("rita", "rita", "negotiation/rita-po")
            .await
            .is_err()
    );
    g.check_payment_release("tom", "rita", "negotiation/rita-po")
        .await
        .unwrap();
    chain_verifies(&h).await;
}

async fn concurrent_approvals_only_one_wins(backend: Backend) {
    let h = backend.open().await;
    let g = governance(h.store.clone()).await;
    for round in 0..5 {
        let r = g
            .request_approval(
                ask(&format!("race-{round}"), "negotiator", Role::Approver),
                t(0),
            )
            .await
            .unwrap();
        let tasks: Vec<_> = ["alice", "ann", "amir"]
            .into_iter()
            .map(|who| {
                let g = g.clone();
                tokio::spawn(async move {
                    g.approve(r.id, &Approver::new(who, &[Role::Approver]), "ok", t(1))
                        .await
                })
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => wins += 1,
                Err(GovernanceError::NotPending { .. }) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(wins, 1, "exactly one approver wins round {round}");
        let events = h
            .store
            .read_stream(&format!("approval-{}", r.id), 0, 10)
            .await
            .unwrap();
        assert_eq!(events.len(), 2, "one request and one approval");
    }
    chain_verifies(&h).await;
}

async fn overdue_requests_escalate_then_expire(backend: Backend) {
    let h = backend.open().await;
    let g = governance(h.store.clone()).await;
    let r = g
        .request_approval(ask("slow", "negotiator", Role::Approver), t(0))
        .await
        .unwrap();
    assert!(
        g.escalate_overdue(t(3)).await.unwrap().is_empty(),
        "not due yet"
    );

    let changed = g.escalate_overdue(t(5)).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].role, Role::CategoryManager);
    assert_eq!(changed[0].deadline, t(5) + Duration::hours(24));
    assert_eq!(
        g.pending(Some(Role::CategoryManager)).await.unwrap().len(),
        1
    );
    assert!(g.pending(Some(Role::Approver)).await.unwrap().is_empty());
    // The approver's turn has passed.
    let alice = user("alice", &[Role::Approver]);
    assert!(g.approve(r.id, &alice, "ok", t(6)).await.is_err());

    g.escalate_overdue(t(30)).await.unwrap();
    assert_eq!(g.approval(r.id).await.unwrap().role, Role::Admin);
    let expired = g.escalate_overdue(t(60)).await.unwrap();
    assert_eq!(expired[0].state, ApprovalState::Expired);
    assert!(g.escalate_overdue(t(90)).await.unwrap().is_empty());
    chain_verifies(&h).await;
}

fn offer() -> GateRequest {
    GateRequest::new(
        Principal::agent(AgentKind::Negotiator, "1.0.0"),
        Action::NegotiationOffer,
        Resource::new("negotiation/1")
            .with_amount(Money::new(1_000_000, Currency::EUR))
            .with_category(CategoryCode::parse("office").unwrap())
            .with_supplier(RiskTier::Low, SizeClass::Small, false),
    )
}

async fn kill_switch_persists_and_holds_negotiations(backend: Backend) {
    let h = backend.open().await;
    let g = governance(h.store.clone()).await;
    let admin = Principal::user("ada", &[Role::Admin]);
    let office = CategoryCode::parse("office").unwrap();
    g.set_autonomy(
        &office,
        CategoryAutonomy::new(AutonomyLevel::ActAlone, 0),
        &admin,
        "pilot",
        t(0),
    )
    .await
    .unwrap();
    assert_eq!(g.decide(&offer()).outcome, Outcome::Allow);

    // Neither a buyer nor an agent may pull the switch; nothing is written.
    let seq = h.store.last_seq().await.unwrap();
    let err = g
        .pause_agents(&Principal::user("bob", &[Role::Buyer]), "x", t(1))
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "user `bob` (buyer) may not `agents.pause`: denied by accord:default-deny"
        ),
        "{err}"
    );
    let agent = Principal::agent(AgentKind::Negotiator, "1.0.0");
    let err = g.pause_agents(&agent, "x", t(1)).await.unwrap_err();
    assert!(
        err.to_string().contains("admin.no-agent-administration"),
        "{err}"
    );
    assert_eq!(h.store.last_seq().await.unwrap(), seq);

    // A negotiation in flight: it moves while running and holds while paused.
    let (moved_tx, mut moved_rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
    let runtime = g.clone();
    let negotiation = tokio::spawn(async move {
        let mut round = 0u32; // the negotiation's state, kept across the pause
        while round < 6 {
            if runtime.is_paused() {
                runtime.wait_until_running().await;
                continue;
            }
            if runtime.decide(&offer()).outcome != Outcome::Allow {
                tokio::task::yield_now().await;
                continue;
            }
            round += 1;
            moved_tx.send(round).unwrap();
            if round == 3 {
                // Wait to be paused before the next move.
                while !runtime.is_paused() {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            }
        }
        round
    });
    for want in 1..=3 {
        assert_eq!(moved_rx.recv().await, Some(want));
    }

    let paused = g
        .pause_agents(&admin, "supplier fraud alert", t(2))
        .await
        .unwrap();
    assert!(g.is_paused());
    let v = g.decide(&offer());
    assert_eq!(
        (v.outcome, v.policy_ids.as_slice()),
        (Outcome::Deny, [KILL_SWITCH_ID.to_owned()].as_slice())
    );
    assert!(matches!(
        g.pause_agents(&admin, "again", t(2)).await.unwrap_err(),
        GovernanceError::KillSwitch(_)
    ));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(moved_rx.try_recv().is_err(), "no move while paused");

    // A second handle on the same database (another node or process) sees the pause.
    let other = governance(h.reopen().await).await;
    assert!(other.is_paused());
    let watcher = other.watch();

    g.resume_agents(&admin, "alert cleared", t(3))
        .await
        .unwrap();
    assert!(!g.is_paused());
    assert_eq!(
        negotiation.await.unwrap(),
        6,
        "the negotiation resumed where it was"
    );
    for want in 4..=6 {
        assert_eq!(moved_rx.recv().await, Some(want));
    }
    // The watcher sees the resume within its polling interval.
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        other.wait_until_running(),
    )
    .await
    .expect("the second handle saw the resume");
    assert!(!other.is_paused());
    watcher.abort();

    // Both changes are decisions with the gate's verdict; the read model has the switch.
    let events = h.store.read_stream("kill_switch", 0, 10).await.unwrap();
    assert_eq!(events.len(), 2);
    let all = h.store.read_events(0, 100).await.unwrap();
    let decision = all
        .iter()
        .filter_map(|e| match e.event().unwrap() {
            Event::DecisionRecorded { decision } if decision.id == paused => Some(decision),
            _ => None,
        })
        .next()
        .expect("the pause is a logged decision");
    assert_eq!(decision.action, "agents.pause");
    assert_eq!(decision.verdict.unwrap().policy_ids, ["admin.pause-agents"]);
    let doc = h
        .store
        .document("kill_switch", "agents")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doc.state, "running");
    chain_verifies(&h).await;
}

async fn autonomy_change_is_a_decision_naming_policies(backend: Backend) {
    let h = backend.open().await;
    let g = governance(h.store.clone()).await;
    let office = CategoryCode::parse("office").unwrap();
    assert_eq!(g.autonomy(&office).level, AutonomyLevel::RecommendOnly);
    // Recommend only: the agent may not act alone, whatever the pack says.
    assert!(matches!(
        g.decide(&offer()).outcome,
        Outcome::NeedsApproval { .. }
    ));

    let cm = Principal::user("cleo", &[Role::CategoryManager]);
    let setting = CategoryAutonomy::new(AutonomyLevel::ActAlone, 50_000);
    let id = g
        .set_autonomy(&office, setting, &cm, "three months without incident", t(0))
        .await
        .unwrap();
    assert_eq!(g.autonomy(&office), setting);
    assert_eq!(g.decide(&offer()).outcome, Outcome::Allow);

    let err = g
        .set_autonomy(
            &office,
            CategoryAutonomy::new(AutonomyLevel::ActAlone, 0),
            &Principal::user("bob", &[Role::Buyer]),
            "more",
            t(1),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, GovernanceError::Refused { .. }), "{err}");

    let events = h.store.read_events(0, 100).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["decision_recorded", "autonomy_changed"]);
    let Event::DecisionRecorded { decision } = events[0].event().unwrap() else {
        unreachable!()
    };
    assert_eq!(decision.id, id);
    assert_eq!(decision.action, "autonomy.change");
    let verdict = decision.verdict.unwrap();
    assert_eq!(verdict.policy_ids, ["admin.change-autonomy"]);
    assert_eq!(verdict.policy_set_hash, PolicySet::default_pack().hash());
    assert!(decision.rationale.contains("three months without incident"));
    let doc = h
        .store
        .document("autonomy", "office")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doc.state, "act_alone");
    assert_eq!(doc.data["sample_ppm"], 50_000);

    // A fresh handle reads the setting back from the log.
    let other = governance(h.reopen().await).await;
    assert_eq!(other.autonomy(&office), setting);
    chain_verifies(&h).await;
}

async fn configured_autonomy_holds_until_the_log_sets_it(backend: Backend) {
    let h = backend.open().await;
    let tail = CategoryCode::parse("tail").unwrap();
    let office = CategoryCode::parse("office").unwrap();
    let config = GovernanceConfig {
        configured_autonomy: [(
            tail.clone(),
            CategoryAutonomy::new(AutonomyLevel::ActAlone, 0),
        )]
        .into(),
        ..GovernanceConfig::default()
    };
    let open = |store| Governance::open(store, gate(), config.clone());
    let g = open(h.store.clone()).await.unwrap();
    assert_eq!(g.autonomy(&tail).level, AutonomyLevel::ActAlone);
    assert_eq!(g.autonomy(&office).level, AutonomyLevel::RecommendOnly);

    // The log overrides the configuration, for this handle and any opened later.
    let cm = Principal::user("cleo", &[Role::CategoryManager]);
    let held = CategoryAutonomy::new(AutonomyLevel::RecommendOnly, 0);
    g.set_autonomy(&tail, held, &cm, "supplier complaints", t(0))
        .await
        .unwrap();
    assert_eq!(g.autonomy(&tail), held);
    let later = open(h.reopen().await).await.unwrap();
    assert_eq!(later.autonomy(&tail), held);
    let Event::AutonomyChanged { previous, .. } =
        h.store.read_events(1, 1).await.unwrap()[0].event().unwrap()
    else {
        unreachable!()
    };
    assert_eq!(previous.map(|p| p.level), Some(AutonomyLevel::ActAlone));
    chain_verifies(&h).await;
}
