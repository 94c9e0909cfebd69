//! The vocabulary of decision rights: roles, agent kinds, principals, business actions and
//! the facts about what an action is about (the resource), as the gate receives them.

use std::fmt;

pub use accord_core::governance::{Role, UnknownName};
use accord_core::{Actor, CategoryCode, Money, RegionCode, RiskTier, SizeClass, id::DecisionId};
use serde::{Deserialize, Serialize};

macro_rules! name_enum {
    ($(#[$doc:meta])* $name:ident ($what:literal) { $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub enum $name { $($(#[$vdoc])* $variant),* }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            pub fn parse(s: &str) -> Result<$name, UnknownName> {
                let t = s.trim();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == t)
                    .ok_or_else(|| UnknownName {
                        what: $what,
                        name: t.to_owned(),
                        expected: $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                    })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

name_enum!(
    /// The kind of an autonomous agent.
    AgentKind ("agent kind") {
        Negotiator = "negotiator",
        Sourcing = "sourcing",
        Sentinel = "sentinel",
        Matcher = "matcher",
    }
);

name_enum!(
    /// A business action that decision rights govern. Each maps to two Cedar actions,
    /// `<name>:act` (act alone) and `<name>:propose` (propose for approval), grouped under
    /// `<name>` and under a domain group.
    Action ("action") {
        /// Make an offer in a negotiation.
        NegotiationOffer = "negotiation.offer",
        /// Accept a deal in a negotiation.
        NegotiationAccept = "negotiation.accept",
        /// Award a contract.
        ContractAward = "contract.award",
        /// Issue a purchase order.
        PurchaseOrderIssue = "purchase_order.issue",
        /// Approve an invoice that failed matching.
        InvoiceApproveException = "invoice.approve_exception",
        /// Release a payment to the bank.
        PaymentRelease = "payment.release",
        /// Onboard a new supplier.
        SupplierOnboard = "supplier.onboard",
        /// Change a supplier's bank details.
        SupplierChangeBankDetails = "supplier.change_bank_details",
        /// Change a category's autonomy level.
        AutonomyChange = "autonomy.change",
        /// Pause (or resume) every agent: the kill switch.
        AgentsPause = "agents.pause",
    }
);

impl Action {
    /// The domain group the action belongs to in the schema.
    pub fn domain(self) -> &'static str {
        match self {
            Action::NegotiationOffer | Action::NegotiationAccept | Action::ContractAward => {
                "negotiation"
            }
            Action::PurchaseOrderIssue
            | Action::InvoiceApproveException
            | Action::PaymentRelease => "documents",
            Action::SupplierOnboard | Action::SupplierChangeBankDetails => "supplier_master",
            Action::AutonomyChange | Action::AgentsPause => "administration",
        }
    }

    /// Whether the action concerns a supplier, so that the request must say who it is.
    pub fn needs_supplier(self) -> bool {
        self.domain() != "administration"
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Who asks the gate: a user with roles, or an agent of a kind at a version.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    User {
        id: String,
        roles: Vec<Role>,
    },
    Agent {
        /// The agent instance, such as `negotiator-1`; defaults to the kind's name.
        id: String,
        agent: AgentKind,
        version: String,
    },
}

impl Principal {
    pub fn user(id: &str, roles: &[Role]) -> Principal {
        Principal::User {
            id: id.to_owned(),
            roles: roles.to_vec(),
        }
    }

    pub fn agent(agent: AgentKind, version: &str) -> Principal {
        Principal::Agent {
            id: agent.as_str().to_owned(),
            agent,
            version: version.to_owned(),
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Principal::User { id, .. } | Principal::Agent { id, .. } => id,
        }
    }

    pub fn is_agent(&self) -> bool {
        matches!(self, Principal::Agent { .. })
    }

    /// The actor as the decision log records it. A user with several roles is recorded
    /// with them joined by `+`.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::User { id, roles } => {
                let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                Actor::user(id, &roles.join("+"))
            }
            Principal::Agent { agent, version, .. } => Actor::agent(agent.as_str(), version),
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User { id, roles } => {
                let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                write!(f, "user `{id}` ({})", roles.join(", "))
            }
            Principal::Agent { id, agent, version } => {
                write!(f, "{agent} agent `{id}` version {version}")
            }
        }
    }
}

/// What the gate knows about the supplier involved.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SupplierFacts {
    pub risk: RiskTier,
    pub size: SizeClass,
    /// True while the supplier has no completed order history with the buyer.
    #[serde(default)]
    pub new: bool,
}

/// What an action is about: the facts policies need. Build it with [`Resource::new`] and
/// the `with_*` methods, or from JSON with [`Resource::from_json`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Resource {
    /// What it is, such as `negotiation/0190…` or `payment/0190…`.
    pub id: String,
    /// The amount at stake in the deal's or document's own currency; `None` when no money
    /// is involved (administration).
    #[serde(default)]
    pub amount: Option<Money>,
    /// The amount already converted to the reporting currency, when the caller has it.
    /// Otherwise the gate converts `amount` with the FX table it is given.
    #[serde(default)]
    pub reporting_amount: Option<Money>,
    #[serde(default)]
    pub category: Option<CategoryCode>,
    #[serde(default)]
    pub region: Option<RegionCode>,
    #[serde(default)]
    pub supplier: Option<SupplierFacts>,
    /// Id of the principal who requested the action (segregation of duties).
    #[serde(default)]
    pub requester: Option<String>,
    /// Id of the user who approved the underlying document (segregation of duties).
    #[serde(default)]
    pub approver: Option<String>,
    /// Whether a goods receipt exists for the document (payments need one).
    #[serde(default)]
    pub has_goods_receipt: bool,
}

impl Resource {
    pub fn new(id: impl Into<String>) -> Resource {
        Resource {
            id: id.into(),
            amount: None,
            reporting_amount: None,
            category: None,
            region: None,
            supplier: None,
            requester: None,
            approver: None,
            has_goods_receipt: false,
        }
    }

    pub fn with_amount(mut self, amount: Money) -> Resource {
        self.amount = Some(amount);
        self
    }

    pub fn with_category(mut self, category: CategoryCode) -> Resource {
        self.category = Some(category);
        self
    }

    pub fn with_region(mut self, region: RegionCode) -> Resource {
        self.region = Some(region);
        self
    }

    pub fn with_supplier(mut self, risk: RiskTier, size: SizeClass, new: bool) -> Resource {
        self.supplier = Some(SupplierFacts { risk, size, new });
        self
    }

    pub fn with_requester(mut self, id: &str) -> Resource {
        self.requester = Some(id.to_owned());
        self
    }

    pub fn with_approver(mut self, id: &str) -> Resource {
        self.approver = Some(id.to_owned());
        self
    }

    pub fn with_goods_receipt(mut self, has: bool) -> Resource {
        self.has_goods_receipt = has;
        self
    }

    /// Reads a resource from JSON, as `accord policy explain` takes it. Codes are
    /// validated on the way in (currency, region, category, risk tier, size class).
    pub fn from_json(json: &str) -> Result<Resource, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// One question to the gate: may `principal` take `action` on `resource`?
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct GateRequest {
    pub principal: Principal,
    pub action: Action,
    pub resource: Resource,
    /// The id the decision will be logged under, when known: it seeds the deterministic
    /// draw of autonomous decisions for spot review.
    #[serde(default)]
    pub decision_id: Option<DecisionId>,
}

impl GateRequest {
    pub fn new(principal: Principal, action: Action, resource: Resource) -> GateRequest {
        GateRequest {
            principal,
            action,
            resource,
            decision_id: None,
        }
    }

    pub fn with_decision_id(mut self, id: DecisionId) -> GateRequest {
        self.decision_id = Some(id);
        self
    }

    /// Reads a request from JSON: `{"principal": {...}, "action": "...", "resource": {...}}`.
    pub fn from_json(json: &str) -> Result<GateRequest, serde_json::Error> {
        serde_json::from_str(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_reject_unknowns() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()).unwrap(), *a);
            assert_eq!(Action::ALL[a.index()], *a);
        }
        let e = Role::parse("boss").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown role `boss`: expected one of requester, buyer, category_manager, approver, ap_clerk, treasurer, auditor, admin"
        );
    }

    #[test]
    fn request_reads_from_json() {
        let r = GateRequest::from_json(
            r#"{"principal": {"kind": "agent", "id": "n1", "agent": "negotiator", "version": "1.2.0"},
                "action": "negotiation.accept",
                "resource": {"id": "negotiation/1", "amount": {"minor": 120000, "currency": "EUR"},
                             "category": "office", "region": "fr",
                             "supplier": {"risk": "low", "size": "small"}}}"#,
        )
        .unwrap();
        assert_eq!(r.action, Action::NegotiationAccept);
        assert_eq!(r.resource.region.unwrap().as_str(), "FR");
        assert!(!r.resource.supplier.unwrap().new);
        assert!(GateRequest::from_json(r#"{"principal": {"kind": "agent"}}"#).is_err());
    }
}
