//! Personas and the negotiations built from them: legal caps, today's terms in the
//! space, the persona's utility is the scenario's supplier side, and small suppliers'
//! capital costs more.

use accord_core::SizeClass;
use accord_sim::TailNegotiation;
use accord_sim::persona::BuyerTemplate;
use rust_decimal::Decimal;

use crate::small;

#[test]
fn negotiations_respect_caps_and_contain_today() {
    let e = small(120, 600, 21);
    let template = BuyerTemplate::default();
    for i in 0..e.suppliers.len() {
        let s = &e.suppliers[i];
        let region = e.region_of(i);
        let n = TailNegotiation::build(s, region, &e.personas[i], &template).unwrap();
        let cap = i64::from(region.payment_cap(s.supplier.size));
        let outcomes = n.scenario.outcomes() as u32;
        let (mut lo, mut hi, mut max_days) = (i64::MAX, i64::MIN, 0);
        for k in 0..outcomes {
            let t = n.space.terms(k);
            lo = lo.min(t.price.minor);
            hi = hi.max(t.price.minor);
            max_days = max_days.max(t.payment_days);
        }
        assert!(
            max_days <= cap,
            "{}: {max_days} days over the cap {cap}",
            s.supplier.external_ref
        );
        let today = n.buyer.batna;
        assert!(lo <= today.price.minor && today.price.minor <= hi);
        assert_eq!(today.payment_days, i64::from(s.payment_days()));
        // The persona's own table is the scenario's supplier side.
        let own = e.personas[i]
            .utility(&n.space, n.buyer.annual_volume)
            .unwrap();
        assert_eq!(own.utils(), n.scenario.tables[1].utils());
    }
}

#[test]
fn small_suppliers_capital_costs_more() {
    let e = small(400, 2_000, 8);
    let mean = |size: SizeClass| {
        let rates: Vec<Decimal> = e
            .suppliers
            .iter()
            .zip(&e.personas)
            .filter(|(s, _)| s.supplier.size == size)
            .map(|(_, p)| p.cost_of_capital)
            .collect();
        rates.iter().sum::<Decimal>() / Decimal::from(rates.len().max(1))
    };
    assert!(mean(SizeClass::Micro) > mean(SizeClass::Small));
    assert!(mean(SizeClass::Small) > mean(SizeClass::Medium));
    assert!(mean(SizeClass::Medium) > mean(SizeClass::Large));
    assert!(e.personas.iter().all(|p| (0.0..1.0).contains(&p.silence)));
}
