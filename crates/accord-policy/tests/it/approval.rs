//! Approvals: the transition table walked in full, segregation of duties, delegation and
//! escalation on timeout.

use accord_core::id::{ApprovalId, DecisionId};
use accord_policy::{
    ApprovalAction, ApprovalCommands, ApprovalError, ApprovalRequest, ApprovalState, ApprovalStep,
    Approver, Authorises, EscalationChain, Role, SodViolation, approval::TRANSITIONS,
    check_payment_release,
};
use chrono::{DateTime, Duration, TimeZone, Utc};

fn t(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, hour, 0, 0).unwrap()
}

fn request() -> ApprovalRequest {
    ApprovalRequest::open(
        ApprovalId::from_parts(1_700_000_000_000, 1),
        Authorises::Decision {
            id: DecisionId::from_parts(1_700_000_000_000, 2),
        },
        Role::Approver,
        "negotiator",
        t(9),
        Duration::hours(4),
    )
}

fn chain() -> EscalationChain {
    EscalationChain::new(
        &[Role::Approver, Role::CategoryManager, Role::Admin],
        Duration::hours(4),
    )
}

#[test]
fn every_state_and_action_pair_follows_the_table() {
    let actions = [
        ApprovalAction::Approve,
        ApprovalAction::Deny,
        ApprovalAction::Delegate,
        ApprovalAction::Escalate,
        ApprovalAction::Expire,
        ApprovalAction::Withdraw,
    ];
    for &s in ApprovalState::ALL {
        for a in actions {
            let listed = TRANSITIONS.iter().find(|(f, x, _)| *f == s && *x == a);
            match (s.after(a), listed) {
                (Ok(to), Some((_, _, expected))) => assert_eq!(to, *expected),
                (Err(e), None) => assert!(e.to_string().contains("approval request"), "{e}"),
                (got, listed) => panic!("{s:?} {a:?}: {got:?} but table says {listed:?}"),
            }
        }
    }
    assert!(!ApprovalState::Pending.is_terminal());
    for s in [
        ApprovalState::Approved,
        ApprovalState::Denied,
        ApprovalState::Expired,
        ApprovalState::Withdrawn,
    ] {
        assert!(s.is_terminal(), "{s:?}");
    }
}

#[test]
fn approve_records_the_approver_and_closes_the_request() {
    let mut r = request();
    let ann = Approver::new("ann", &[Role::Approver]);
    let step = r.approve(&ann, "within budget", t(10)).unwrap();
    r.apply(&step).unwrap();
    assert_eq!(r.state, ApprovalState::Approved);
    assert_eq!(r.approved_by.as_deref(), Some("ann"));
    // Nothing happens to a closed request.
    assert!(matches!(
        r.deny(&ann, "changed my mind", t(11)),
        Err(ApprovalError::Illegal(_))
    ));
    assert_eq!(r.escalate_if_due(t(20), &chain()), Ok(None));
}

#[test]
fn segregation_of_duties_in_approvals() {
    let r = request();
    // The requester cannot approve even when holding the role.
    let me = Approver::new("negotiator", &[Role::Approver]);
    assert_eq!(
        r.approve(&me, "ok", t(10)),
        Err(ApprovalError::RequesterCannotDecide("negotiator".into()))
    );
    // Someone without the role cannot approve.
    let bob = Approver::new("bob", &[Role::Buyer]);
    assert_eq!(
        r.approve(&bob, "ok", t(10)),
        Err(ApprovalError::MissingRole {
            who: "bob".into(),
            role: Role::Approver
        })
    );
    // A comment is required.
    let ann = Approver::new("ann", &[Role::Approver]);
    assert_eq!(r.deny(&ann, "  ", t(10)), Err(ApprovalError::NoComment));
    // Nobody delegates to the requester.
    assert_eq!(
        r.delegate(&ann, "negotiator", "you do it", t(10)),
        Err(ApprovalError::RequesterCannotDecide("negotiator".into()))
    );
    // The approver cannot release the payment; neither can the requester.
    let mut approved = request();
    approved
        .apply(&approved.approve(&ann, "fine", t(10)).unwrap())
        .unwrap();
    assert_eq!(
        check_payment_release("ann", "rita", &[&approved]),
        Err(SodViolation::ApproverReleases("ann".into()))
    );
    assert_eq!(
        check_payment_release("rita", "rita", &[&approved]),
        Err(SodViolation::RequesterReleases("rita".into()))
    );
    assert_eq!(check_payment_release("tom", "rita", &[&approved]), Ok(()));
}

#[test]
fn delegation_hands_the_decision_to_one_person() {
    let mut r = request();
    let ann = Approver::new("ann", &[Role::Approver]);
    r.apply(&r.delegate(&ann, "dan", "on leave", t(10)).unwrap())
        .unwrap();
    assert_eq!(r.state, ApprovalState::Pending);
    // Now only Dan decides, even without the role; Ann no longer can.
    assert_eq!(
        r.approve(&ann, "ok", t(11)),
        Err(ApprovalError::DelegatedElsewhere {
            who: "ann".into(),
            to: "dan".into()
        })
    );
    let dan = Approver::new("dan", &[Role::Buyer]);
    r.apply(&r.deny(&dan, "price too high", t(11)).unwrap())
        .unwrap();
    assert_eq!(r.state, ApprovalState::Denied);
    assert_eq!(r.history.len(), 2);
}

#[test]
fn timeouts_escalate_along_the_chain_then_expire() {
    let mut r = request();
    assert_eq!(
        r.escalate_if_due(t(12), &chain()),
        Err(ApprovalError::NotDue(t(13)))
    );
    let step = r.escalate_if_due(t(13), &chain()).unwrap().unwrap();
    assert_eq!(
        step,
        ApprovalStep::Escalated {
            from: Role::Approver,
            to: Role::CategoryManager,
            deadline: t(17),
            at: t(13)
        }
    );
    r.apply(&step).unwrap();
    assert_eq!((r.role, r.deadline), (Role::CategoryManager, t(17)));
    // The old role can no longer decide; the new one can.
    let ann = Approver::new("ann", &[Role::Approver]);
    assert!(matches!(
        r.approve(&ann, "ok", t(14)),
        Err(ApprovalError::MissingRole { .. })
    ));
    r.apply(&r.escalate_if_due(t(17), &chain()).unwrap().unwrap())
        .unwrap();
    assert_eq!(r.role, Role::Admin);
    r.apply(&r.escalate_if_due(t(21), &chain()).unwrap().unwrap())
        .unwrap();
    assert_eq!(r.state, ApprovalState::Expired);
}

#[test]
fn steps_round_trip_as_json_and_replay() {
    let mut r = request();
    let ann = Approver::new("ann", &[Role::Approver]);
    let steps = [
        r.delegate(&ann, "dan", "away", t(10)).unwrap(),
        ApprovalStep::Escalated {
            from: Role::Approver,
            to: Role::CategoryManager,
            deadline: t(17),
            at: t(13),
        },
    ];
    let json = serde_json::to_string(&steps).unwrap();
    let back: Vec<ApprovalStep> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, steps);
    for s in &back {
        r.apply(s).unwrap();
    }
    assert_eq!(r.delegated_to, None);
    assert_eq!(r.role, Role::CategoryManager);
}
