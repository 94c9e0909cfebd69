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

            /// A UUID v7 for a given instant and random bits, for deterministic replay.
            pub fn from_parts(unix_millis: u64, random: u128) -> Self {
                let ts = uuid::Timestamp::from_unix(
                    uuid::NoContext,
                    unix_millis / 1000,
                    ((unix_millis % 1000) * 1_000_000) as u32,
                );
                let mut bytes = *Uuid::new_v7(ts).as_bytes();
                // Keep the 48-bit timestamp and version/variant bits; fill the rest.
                let r = random.to_be_bytes();
                bytes[6] = (bytes[6] & 0xF0) | (r[6] & 0x0F);
                bytes[7] = r[7];
                bytes[8] = (bytes[8] & 0xC0) | (r[8] & 0x3F);
                bytes[9..16].copy_from_slice(&r[9..16]);
                Self(Uuid::from_bytes(bytes))
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
}
