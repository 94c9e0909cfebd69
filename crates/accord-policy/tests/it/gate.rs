//! The policy gate with the default pack: data-driven cases through one `check` helper,
//! plus loading, hashing, explaining and failing closed.

use std::sync::{Arc, LazyLock};

use accord_core::{CategoryCode, Currency, FxTable, Money, RegionCode, RiskTier, SizeClass};
use accord_policy::{
    Action, AgentKind, AutonomyLevel, AutonomyTable, CategoryAutonomy, Gate, GateEnv, GateRequest,
    KillSwitch, Outcome, PolicySet, Principal, Resource, Review, Role,
};
use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;

static GATE: LazyLock<Gate> =
    LazyLock::new(|| Gate::new(Arc::new(PolicySet::default_pack()), Currency::EUR).unwrap());

fn autonomy() -> AutonomyTable {
    let mut t = AutonomyTable::new(CategoryAutonomy::new(AutonomyLevel::ActAlone, 0));
    t.set(
        CategoryCode::parse("legal").unwrap(),
        CategoryAutonomy::new(AutonomyLevel::RecommendOnly, 0),
    );
    t.set(
        CategoryCode::parse("it").unwrap(),
        CategoryAutonomy::new(AutonomyLevel::ActWithReview, 0),
    );
    t
}

fn fx() -> FxTable {
    let mut fx = FxTable::new(Currency::EUR);
    fx.set(Currency::USD, Decimal::new(11, 1)).unwrap(); // 1 EUR = 1.1 USD
    fx
}

fn negotiator() -> Principal {
    Principal::agent(AgentKind::Negotiator, "1.0.0")
}

/// A deal of `eur` euros (whole units) in category `office` with a low-risk, known supplier.
fn deal(eur: i64) -> Resource {
    Resource::new("negotiation/1")
        .with_amount(Money::new(eur * 100, Currency::EUR))
        .with_category(CategoryCode::parse("office").unwrap())
        .with_region(RegionCode::parse("FR").unwrap())
        .with_supplier(RiskTier::Low, SizeClass::Small, false)
}

fn decide(p: Principal, action: Action, r: Resource) -> accord_policy::Verdict {
    let (a, k, fx) = (autonomy(), KillSwitch::Running, fx());
    let env = GateEnv::new(&a, &k).with_fx(&fx);
    GATE.decide(&GateRequest::new(p, action, r), &env)
}

/// Asks the gate and compares the outcome and the deciding policy ids.
fn check(p: Principal, action: Action, r: Resource, outcome: Outcome, ids: &[&str]) {
    let v = decide(p, action, r);
    assert_eq!(v.outcome, outcome, "{v:#?}");
    assert_eq!(v.policy_ids, ids, "{v:#?}");
    assert_eq!(v.policy_set_hash.as_ref(), GATE.policies().hash());
}

fn approval(role: Role) -> Outcome {
    Outcome::NeedsApproval { role }
}

#[test]
fn agents_act_alone_within_bounds() {
    check(
        negotiator(),
        Action::NegotiationOffer,
        deal(20_000),
        Outcome::Allow,
        &["negotiation.agent-acts-alone"],
    );
    check(
        negotiator(),
        Action::NegotiationAccept,
        deal(50_000),
        Outcome::Allow,
        &["negotiation.agent-acts-alone"],
    );
}

#[test]
fn agents_escalate_over_50k_high_risk_and_new_suppliers() {
    check(
        negotiator(),
        Action::NegotiationAccept,
        deal(50_001),
        approval(Role::CategoryManager),
        &[
            "escalate.over-50k",
            "negotiation.propose-to-category-manager",
        ],
    );
    check(
        negotiator(),
        Action::NegotiationOffer,
        deal(100).with_supplier(RiskTier::High, SizeClass::Large, false),
        approval(Role::CategoryManager),
        &[
            "escalate.high-risk-supplier",
            "negotiation.propose-to-category-manager",
        ],
    );
    check(
        negotiator(),
        Action::ContractAward,
        deal(100).with_supplier(RiskTier::Low, SizeClass::Micro, true),
        approval(Role::CategoryManager),
        &[
            "escalate.new-supplier",
            "negotiation.propose-to-category-manager",
        ],
    );
    check(
        negotiator(),
        Action::NegotiationOffer,
        deal(10_001).with_supplier(RiskTier::Medium, SizeClass::Large, false),
        approval(Role::CategoryManager),
        &[
            "escalate.medium-risk-over-10k",
            "negotiation.propose-to-category-manager",
        ],
    );
    // Every reason is listed when several apply.
    check(
        negotiator(),
        Action::NegotiationOffer,
        deal(60_000).with_supplier(RiskTier::High, SizeClass::Large, true),
        approval(Role::CategoryManager),
        &[
            "escalate.high-risk-supplier",
            "escalate.new-supplier",
            "escalate.over-50k",
            "negotiation.propose-to-category-manager",
        ],
    );
}

#[test]
fn amounts_are_converted_to_reporting_currency_first() {
    // 54,000 USD is about 49,091 EUR: inside the bound.
    let usd = |major: i64| deal(0).with_amount(Money::new(major * 100, Currency::USD));
    check(
        negotiator(),
        Action::NegotiationAccept,
        usd(54_000),
        Outcome::Allow,
        &["negotiation.agent-acts-alone"],
    );
    // 56,000 USD is about 50,909 EUR: over it.
    check(
        negotiator(),
        Action::NegotiationAccept,
        usd(56_000),
        approval(Role::CategoryManager),
        &[
            "escalate.over-50k",
            "negotiation.propose-to-category-manager",
        ],
    );
    // A currency without a rate fails closed.
    let v = decide(
        negotiator(),
        Action::NegotiationAccept,
        deal(0).with_amount(Money::new(100, Currency::GBP)),
    );
    assert_eq!(v.outcome, Outcome::Deny);
    assert_eq!(v.policy_ids, ["accord:invalid-request"]);
    assert!(v.notes[0].contains("no FX rate for `GBP`"), "{:?}", v.notes);
    // A caller may pass the converted amount itself.
    let mut r = deal(0).with_amount(Money::new(1, Currency::GBP));
    r.reporting_amount = Some(Money::new(6_000_000, Currency::EUR));
    check(
        negotiator(),
        Action::NegotiationAccept,
        r,
        approval(Role::CategoryManager),
        &[
            "escalate.over-50k",
            "negotiation.propose-to-category-manager",
        ],
    );
}

#[test]
fn autonomy_levels_shape_what_agents_may_do() {
    let legal = CategoryCode::parse("legal").unwrap();
    check(
        negotiator(),
        Action::NegotiationOffer,
        deal(10).with_category(legal),
        approval(Role::CategoryManager),
        &[
            "autonomy.recommend-only",
            "negotiation.propose-to-category-manager",
        ],
    );
    let v = decide(
        negotiator(),
        Action::NegotiationOffer,
        deal(10).with_category(CategoryCode::parse("it").unwrap()),
    );
    assert_eq!((v.outcome, v.review), (Outcome::Allow, Review::Required));
    assert_eq!(v.autonomy, AutonomyLevel::ActWithReview);
}

#[test]
fn the_gate_keeps_agents_back_in_recommend_only_even_without_a_policy() {
    // A pack that lets agents do anything still cannot let them act alone there.
    let schema = accord_policy::policy_set::default_pack_sources().0;
    let files = vec![(
        "all.cedar".to_owned(),
        r#"@id("anything") @reason("anything goes") permit (principal, action in Accord::Action::"act", resource);
           @id("propose") @reason("ask") @approver_role("approver") permit (principal, action in Accord::Action::"propose", resource);"#
            .to_owned(),
    )];
    let set = PolicySet::from_sources(&schema, &files).unwrap();
    let gate = Gate::new(Arc::new(set), Currency::EUR).unwrap();
    let (a, k) = (autonomy(), KillSwitch::Running);
    let env = GateEnv {
        fx: None,
        autonomy: &a,
        kill_switch: &k,
    };
    let req = GateRequest::new(
        negotiator(),
        Action::NegotiationOffer,
        deal(10).with_category(CategoryCode::parse("legal").unwrap()),
    );
    let v = gate.decide(&req, &env);
    assert_eq!(v.outcome, approval(Role::Approver));
    assert_eq!(v.policy_ids, ["accord:autonomy", "propose"]);
}

#[test]
fn the_kill_switch_stops_every_agent_but_not_people() {
    let a = autonomy();
    let k = KillSwitch::Paused {
        since: Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap(),
        by: "ann".into(),
        reason: "suspected bot loop".into(),
    };
    let env = GateEnv {
        fx: None,
        autonomy: &a,
        kill_switch: &k,
    };
    let v = GATE.decide(
        &GateRequest::new(negotiator(), Action::NegotiationOffer, deal(10)),
        &env,
    );
    assert_eq!(v.outcome, Outcome::Deny);
    assert_eq!(v.policy_ids, ["accord:kill-switch"]);
    assert!(v.notes[0].contains("suspected bot loop"));
    let buyer = Principal::user("bea", &[Role::Buyer]);
    let v = GATE.decide(
        &GateRequest::new(buyer, Action::NegotiationOffer, deal(10)),
        &env,
    );
    assert_eq!(v.outcome, Outcome::Allow);
}

#[test]
fn segregation_of_duties() {
    let payment = |approver: &str, receipt: bool| {
        Resource::new("payment/1")
            .with_amount(Money::new(10_000, Currency::EUR))
            .with_supplier(RiskTier::Low, SizeClass::Small, false)
            .with_requester("rita")
            .with_approver(approver)
            .with_goods_receipt(receipt)
    };
    let tom = || Principal::user("tom", &[Role::Treasurer]);
    check(
        tom(),
        Action::PaymentRelease,
        payment("ann", true),
        Outcome::Allow,
        &["documents.treasurer-releases-payment"],
    );
    // No goods receipt: nobody may release it, not even by proposal.
    check(
        tom(),
        Action::PaymentRelease,
        payment("ann", false),
        Outcome::Deny,
        &["payment.needs-goods-receipt"],
    );
    // The invoice's approver cannot also release its payment.
    check(
        Principal::user("ann", &[Role::Treasurer, Role::Approver]),
        Action::PaymentRelease,
        payment("ann", true),
        Outcome::Deny,
        &["sod.approver-cannot-release-payment"],
    );
    // The requester cannot approve their own invoice exception.
    let exception = Resource::new("invoice/1")
        .with_amount(Money::new(10_000, Currency::EUR))
        .with_supplier(RiskTier::Low, SizeClass::Small, false)
        .with_requester("alf");
    check(
        Principal::user("alf", &[Role::ApClerk]),
        Action::InvoiceApproveException,
        exception.clone(),
        approval(Role::Approver),
        &["sod.no-self-approval", "documents.exception-proposal"],
    );
    check(
        Principal::user("bo", &[Role::ApClerk]),
        Action::InvoiceApproveException,
        exception,
        Outcome::Allow,
        &["documents.ap-clerk-approves-exception"],
    );
    // An agent proposes a payment; the treasurer releases it.
    check(
        Principal::agent(AgentKind::Matcher, "2.1.0"),
        Action::PaymentRelease,
        payment("ann", true),
        approval(Role::Treasurer),
        &["documents.payment-proposal"],
    );
}

#[test]
fn supplier_master_and_administration() {
    let supplier =
        || Resource::new("supplier/1").with_supplier(RiskTier::Low, SizeClass::Small, true);
    check(
        Principal::agent(AgentKind::Sourcing, "1.0.0"),
        Action::SupplierChangeBankDetails,
        supplier(),
        Outcome::Deny,
        &["supplier.no-agent-bank-change"],
    );
    check(
        Principal::user("bea", &[Role::Buyer]),
        Action::SupplierChangeBankDetails,
        supplier(),
        approval(Role::Treasurer),
        &["supplier.bank-change-proposal"],
    );
    check(
        Principal::agent(AgentKind::Sourcing, "1.0.0"),
        Action::SupplierOnboard,
        supplier(),
        approval(Role::CategoryManager),
        &["escalate.new-supplier", "supplier.onboarding-proposal"],
    );
    check(
        Principal::user("cam", &[Role::CategoryManager]),
        Action::AgentsPause,
        Resource::new("agents"),
        Outcome::Allow,
        &["admin.pause-agents"],
    );
    check(
        Principal::user("aud", &[Role::Auditor]),
        Action::AgentsPause,
        Resource::new("agents"),
        Outcome::Deny,
        &["accord:default-deny"],
    );
    check(
        Principal::agent(AgentKind::Sentinel, "1.0.0"),
        Action::AutonomyChange,
        Resource::new("category/office"),
        Outcome::Deny,
        &["admin.no-agent-administration"],
    );
}

#[test]
fn incomplete_requests_fail_closed() {
    let no_supplier = Resource::new("negotiation/1").with_amount(Money::new(1, Currency::EUR));
    check(
        negotiator(),
        Action::NegotiationOffer,
        no_supplier,
        Outcome::Deny,
        &["accord:invalid-request"],
    );
    let no_amount =
        Resource::new("negotiation/1").with_supplier(RiskTier::Low, SizeClass::Small, false);
    check(
        negotiator(),
        Action::NegotiationOffer,
        no_amount,
        Outcome::Deny,
        &["accord:invalid-request"],
    );
}

#[test]
fn verdicts_convert_into_core_and_explain_in_plain_language() {
    let req = GateRequest::new(negotiator(), Action::NegotiationAccept, deal(60_000));
    let (a, k) = (autonomy(), KillSwitch::Running);
    let v = GATE.decide(
        &req,
        &GateEnv {
            fx: None,
            autonomy: &a,
            kill_switch: &k,
        },
    );
    let core: accord_core::PolicyVerdict = v.clone().into();
    assert_eq!(
        core.outcome,
        accord_core::VerdictOutcome::NeedsApproval {
            role: "category_manager".into()
        }
    );
    assert_eq!(core.policy_set_hash.len(), 64);
    let text = GATE.explain(&req, &v);
    let expected = format!(
        "negotiation.accept on `negotiation/1` by negotiator agent `negotiator` version 1.0.0: needs approval by a `category_manager`
facts: amount EUR 60000.00; category office; region FR; supplier risk low, size small; autonomy act_alone
because:
  - [escalate.over-50k] the amount is over 50,000 in reporting currency
  - [negotiation.propose-to-category-manager] anyone in negotiation may propose a deal for a category manager's approval
policy set: sha256:{}",
        GATE.policies().hash()
    );
    assert_eq!(text, expected);
}

#[test]
fn slicing_the_policy_set_never_changes_a_verdict() {
    let full = Gate::new(Arc::new(PolicySet::default_pack()), Currency::EUR)
        .unwrap()
        .unsliced();
    let (a, k, fx) = (autonomy(), KillSwitch::Running, fx());
    let env = GateEnv {
        fx: Some(&fx),
        autonomy: &a,
        kill_switch: &k,
    };
    let mut principals: Vec<Principal> = AgentKind::ALL
        .iter()
        .map(|k| Principal::agent(*k, "1.0.0"))
        .collect();
    for r in Role::ALL {
        principals.push(Principal::user("ann", &[*r]));
    }
    principals.push(Principal::user(
        "rita",
        &[Role::Treasurer, Role::Approver, Role::Buyer],
    ));
    let mut resources = Vec::new();
    for eur in [4_999, 5_000, 9_000, 10_000, 10_001, 50_000, 50_001, 77_777] {
        for (risk, new) in [
            (RiskTier::Low, false),
            (RiskTier::Medium, false),
            (RiskTier::High, true),
        ] {
            for category in ["office", "legal"] {
                for (requester, approver, receipt) in [("rita", "ann", true), ("bo", "rita", false)]
                {
                    resources.push(
                        deal(eur)
                            .with_supplier(risk, SizeClass::Small, new)
                            .with_category(CategoryCode::parse(category).unwrap())
                            .with_requester(requester)
                            .with_approver(approver)
                            .with_goods_receipt(receipt),
                    );
                }
            }
        }
    }
    let mut outcomes = std::collections::BTreeSet::new();
    let mut n = 0;
    for p in &principals {
        for action in Action::ALL {
            for r in &resources {
                let req = GateRequest::new(p.clone(), *action, r.clone());
                let (sliced, whole) = (GATE.decide(&req, &env), full.decide(&req, &env));
                assert_eq!(sliced, whole, "{req:?}");
                // Asked again, the answer comes from the verdict cache: still the same.
                assert_eq!(GATE.decide(&req, &env), whole, "{req:?}");
                outcomes.insert(format!("{:?}", sliced.outcome));
                n += 1;
            }
        }
    }
    assert!(n > 12_000, "{n}");
    // The grid reaches allow, deny and each approver role the default pack names.
    assert_eq!(outcomes.len(), 6, "{outcomes:?}");
}
