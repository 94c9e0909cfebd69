//! A tail-spend negotiation in money: the flagship buys from a small supplier with hidden
//! costs, and the deal is shown as terms, the buyer's saving against today's terms and the
//! supplier's surplus over its margin floor, beside the Nash point of the same space.

use accord_core::{Currency, Money};
use accord_negotiate::procurement::{
    Bounds, Buyer, BuyerValuation, EarlyPayment, ProcurementSpace, Supplier, Terms, percent,
};
use accord_negotiate::session::{self, SessionConfig};
use accord_negotiate::strategy::{AgentKind, Context};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let eur = |s: &str| Money::parse(s, Currency::parse("EUR").expect("ISO code")).expect("amount");
    let ps = ProcurementSpace::new(Bounds {
        price_min: eur("8.80"),
        price_max: eur("10.40"),
        price_tick: eur("0.05"),
        payment_days: (15, 90, 15),
        lead_time_days: (7, 28, 7),
        contract_months: vec![12, 24, 36],
        early_payment: vec![EarlyPayment {
            discount: percent(2),
            within_days: 10,
        }],
    })?;
    let today = Terms {
        price: eur("10.00"),
        payment_days: 30,
        lead_time_days: 14,
        contract_months: 12,
        early_payment: None,
    };
    let buyer = Buyer {
        batna: today,
        annual_volume: 20_000,
        cost_of_capital: percent(7),
        lead_time_cost_per_day: eur("120.00"),
    };
    let supplier = Supplier {
        unit_cost: eur("8.40"),
        margin_floor: percent(4),
        cost_of_capital: percent(18),
        annual_volume: 20_000,
        usual_lead_time_days: 21,
        rush_cost_per_day: eur("300.00"),
        value_per_contract_month: eur("250.00"),
    };
    let s = ps.scenario("tail-supplier", &buyer, &supplier)?;
    let show = |label: &str, k: u32| -> Result<(), Box<dyn std::error::Error>> {
        let t = ps.terms(k);
        println!(
            "{label:<22} {} net {:>2} lead {:>2}d {:>2}m {:<5} saving {:>12} surplus {:>12} u=({:.3}, {:.3})",
            t.price,
            t.payment_days,
            t.lead_time_days,
            t.contract_months,
            t.early_payment.map_or("-".to_owned(), |e| e.to_string()),
            buyer.saving(&t)?,
            supplier.surplus(&t)?,
            s.tables[0].get(k),
            s.tables[1].get(k)
        );
        Ok(())
    };
    println!(
        "{} outcomes; today: {}",
        s.outcomes(),
        buyer.total_cost(&today)?
    );
    if let Some(n) = s.stats.nash {
        show("nash point", n.outcome)?;
    }
    for opponent in [
        AgentKind::Boulware,
        AgentKind::Linear,
        AgentKind::Conceder,
        AgentKind::Accord,
    ] {
        let mut a = AgentKind::Accord.build(&Context::of(&s, 0));
        let mut b = opponent.build(&Context::of(&s, 1));
        let t = session::run(
            &s,
            a.as_mut(),
            b.as_mut(),
            &SessionConfig::rounds(100, 5),
            &mut || 0,
        );
        match t.agreement() {
            Some(k) => show(&format!("accord vs {opponent} (r{})", t.rounds), k)?,
            None => println!("accord vs {opponent}: no deal"),
        }
    }
    Ok(())
}
