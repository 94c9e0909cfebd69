//! Typed identifiers: UUID v7 (time-ordered) wrapped in one newtype per entity.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh UUID v7 from the system clock. Pure code that must replay exactly
            /// takes ids from its caller instead.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// A UUID v7 for a given instant and random bits, for deterministic replay:
            /// the 48-bit millisecond timestamp, then the low 74 bits of `random` around
            /// the version and variant bits. Pure: it draws no entropy.
            pub fn from_parts(unix_millis: u64, random: u128) -> Self {
                let r = random.to_be_bytes();
                let mut tail = [0u8; 10];
                tail.copy_from_slice(&r[6..]);
                Self(uuid::Builder::from_unix_timestamp_millis(unix_millis, &tail).into_uuid())
            }

            pub fn parse(s: &str) -> Result<Self, uuid::Error> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    )*};
}

typed_id!(
    /// A supplier.
    SupplierId,
    /// A contract.
    ContractId,
    /// A spend line (one historical purchase from an ERP export).
    SpendLineId,
    /// A purchase requisition.
    RequisitionId,
    /// A purchase order.
    PurchaseOrderId,
    /// A goods receipt.
    ReceiptId,
    /// An invoice or credit note.
    InvoiceId,
    /// A payment.
    PaymentId,
    /// A recorded decision.
    DecisionId,
    /// A negotiation.
    NegotiationId,
    /// A negotiation campaign.
    CampaignId,
    /// An approval request.
    ApprovalId,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_ordered() {
        let a = SupplierId::new();
        let b = SupplierId::new();
        assert_eq!(a.0.get_version_num(), 7);
        assert!(a <= b);
        let c = SupplierId::from_parts(1_700_000_000_123, 42);
        assert_eq!(c.0.get_version_num(), 7);
        assert_eq!(c, SupplierId::from_parts(1_700_000_000_123, 42));
        assert_eq!(SupplierId::parse(&c.to_string()).unwrap(), c);
    }

    /// Ids already in logs and fixtures were built from these parts; they must not change.
    #[test]
    fn ids_from_parts_keep_their_layout() {
        let id =
            SupplierId::from_parts(1_700_000_000_123, 0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(id.to_string(), "018bcfe5-687b-7def-8123-456789abcdef");
        let (secs, nanos) = id.0.get_timestamp().expect("a v7 timestamp").to_unix();
        assert_eq!((secs, nanos), (1_700_000_000, 123_000_000));
        assert_eq!(
            NegotiationId::from_parts(1_790_000_000_000, 999).to_string(),
            "01a0c450-6c00-7000-8000-0000000003e7"
        );
    }
}
