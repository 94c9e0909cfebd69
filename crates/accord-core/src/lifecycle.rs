//! Document life cycles as explicit transition tables.
//!
//! Each document state enum implements [`Lifecycle`] with a `const` table of allowed
//! `(from, to)` pairs. [`Lifecycle::transition`] is the only way code changes a state, so
//! an illegal transition is rejected in one place, and a test walks every pair of states.

use std::fmt::Debug;

use serde::{Deserialize, Serialize};

/// A document state machine described by its full transition table.
pub trait Lifecycle: Copy + Eq + Debug + 'static {
    /// The document kind, for error messages (`purchase order`).
    const DOCUMENT: &'static str;
    /// Every state, in a stable order.
    const STATES: &'static [Self];
    /// Every allowed `(from, to)` transition. Anything else is illegal.
    const TRANSITIONS: &'static [(Self, Self)];

    /// The state a new document starts in.
    fn initial() -> Self;

    /// States with no way out.
    fn is_terminal(self) -> bool {
        !Self::TRANSITIONS.iter().any(|(from, _)| *from == self)
    }

    fn can_transition_to(self, to: Self) -> bool {
        Self::TRANSITIONS.iter().any(|&(f, t)| f == self && t == to)
    }

    /// Moves to `to`, or explains why that is not allowed.
    fn transition(self, to: Self) -> Result<Self, IllegalTransition> {
        if self.can_transition_to(to) {
            Ok(to)
        } else {
            Err(IllegalTransition {
                document: Self::DOCUMENT,
                from: format!("{self:?}"),
                to: format!("{to:?}"),
            })
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{document} cannot go from `{from}` to `{to}`")]
pub struct IllegalTransition {
    pub document: &'static str,
    pub from: String,
    pub to: String,
}

macro_rules! lifecycle {
    (
        $(#[$doc:meta])* $name:ident ($document:literal) initial $initial:ident {
            states: [$($state:ident),* $(,)?],
            transitions: [$($from:ident -> $to:ident),* $(,)?] $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($state),* }

        impl Lifecycle for $name {
            const DOCUMENT: &'static str = $document;
            const STATES: &'static [Self] = &[$($name::$state),*];
            const TRANSITIONS: &'static [(Self, Self)] = &[$(($name::$from, $name::$to)),*];
            fn initial() -> Self { $name::$initial }
        }
    };
}

lifecycle!(
    /// A contract's life: drafted (for example by a negotiation), approved, in force, ended.
    ContractState ("contract") initial Draft {
        states: [Draft, PendingApproval, Active, Rejected, Expired, Terminated],
        transitions: [
            Draft -> PendingApproval, Draft -> Active, Draft -> Rejected,
            PendingApproval -> Active, PendingApproval -> Rejected,
            Active -> Expired, Active -> Terminated,
        ],
    }
);

lifecycle!(
    /// A purchase requisition: a request to buy, routed to a contract PO or to sourcing.
    RequisitionState ("requisition") initial Submitted {
        states: [Submitted, Approved, Rejected, Sourcing, Ordered, Cancelled],
        transitions: [
            Submitted -> Approved, Submitted -> Rejected, Submitted -> Cancelled,
            Approved -> Ordered, Approved -> Sourcing, Approved -> Cancelled,
            Sourcing -> Ordered, Sourcing -> Cancelled,
        ],
    }
);

lifecycle!(
    /// A purchase order from draft to closed. A change to an issued PO keeps it `Issued`.
    PurchaseOrderState ("purchase order") initial Draft {
        states: [Draft, PendingApproval, Issued, PartiallyReceived, Received, Closed, Cancelled],
        transitions: [
            Draft -> PendingApproval, Draft -> Issued, Draft -> Cancelled,
            PendingApproval -> Issued, PendingApproval -> Cancelled,
            Issued -> PartiallyReceived, Issued -> Received, Issued -> Cancelled,
            PartiallyReceived -> Received, PartiallyReceived -> Closed,
            Received -> Closed,
        ],
    }
);

lifecycle!(
    /// A goods receipt: posted, and possibly reversed (a correction is a new receipt).
    ReceiptState ("goods receipt") initial Posted {
        states: [Posted, Reversed],
        transitions: [Posted -> Reversed],
    }
);

lifecycle!(
    /// An invoice or credit note from arrival to payment.
    InvoiceState ("invoice") initial Received {
        states: [Received, Matched, Exception, Approved, Rejected, Paid],
        transitions: [
            Received -> Matched, Received -> Exception, Received -> Rejected,
            Exception -> Matched, Exception -> Approved, Exception -> Rejected,
            Matched -> Approved,
            Approved -> Paid,
        ],
    }
);

lifecycle!(
    /// A payment: scheduled, released by treasury, settled by the bank.
    PaymentState ("payment") initial Scheduled {
        states: [Scheduled, Released, Settled, Failed, Cancelled],
        transitions: [
            Scheduled -> Released, Scheduled -> Cancelled,
            Released -> Settled, Released -> Failed,
            Failed -> Scheduled, Failed -> Cancelled,
        ],
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks every ordered pair of states: `transition` succeeds exactly for the pairs in
    /// the table, every state is reachable from the initial one, and no state is listed twice.
    fn check<L: Lifecycle>(expected_pairs: usize) {
        assert_eq!(
            L::TRANSITIONS.len(),
            expected_pairs,
            "{} table size",
            L::DOCUMENT
        );
        for &from in L::STATES {
            for &to in L::STATES {
                let listed = L::TRANSITIONS.contains(&(from, to));
                let result = from.transition(to);
                assert_eq!(result.is_ok(), listed, "{} {from:?} -> {to:?}", L::DOCUMENT);
                if let Err(e) = result {
                    assert!(e.to_string().contains(L::DOCUMENT));
                }
            }
        }
        // Reachability from the initial state.
        let mut seen = vec![L::initial()];
        let mut i = 0;
        while i < seen.len() {
            let s = seen[i];
            for &(f, t) in L::TRANSITIONS {
                if f == s && !seen.contains(&t) {
                    seen.push(t);
                }
            }
            i += 1;
        }
        assert_eq!(
            seen.len(),
            L::STATES.len(),
            "{}: unreachable states",
            L::DOCUMENT
        );
        assert!(!L::initial().is_terminal());
    }

    #[test]
    fn every_pair_of_states_is_walked() {
        check::<ContractState>(7);
        check::<RequisitionState>(8);
        check::<PurchaseOrderState>(11);
        check::<ReceiptState>(1);
        check::<InvoiceState>(8);
        check::<PaymentState>(6);
    }

    #[test]
    fn illegal_transition_names_the_states() {
        let e = InvoiceState::Paid
            .transition(InvoiceState::Received)
            .unwrap_err();
        assert_eq!(e.to_string(), "invoice cannot go from `Paid` to `Received`");
        assert!(InvoiceState::Paid.is_terminal());
        assert!(PurchaseOrderState::Cancelled.is_terminal());
    }
}
