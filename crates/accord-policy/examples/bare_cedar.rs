//! Calibration: a bare Cedar authorizer with three small policies, timed in a loop.

use std::{
    collections::{HashMap, HashSet},
    str::FromStr,
    time::Instant,
};

use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityUid, PolicySet, Request, RestrictedExpression,
};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let policies = PolicySet::from_str(
        r#"
        permit(principal, action == Action::"view", resource) when { resource.amount < 100 };
        forbid(principal, action == Action::"view", resource) when { resource.risk == "high" };
        permit(principal in Group::"admins", action, resource);
    "#,
    )
    .unwrap();
    let auth = Authorizer::new();
    let p = EntityUid::from_str(r#"User::"alice""#).unwrap();
    let a = EntityUid::from_str(r#"Action::"view""#).unwrap();
    let r = EntityUid::from_str(r#"Doc::"d1""#).unwrap();
    let t = Instant::now();
    let mut allowed = 0;
    for _ in 0..n {
        let res = Entity::new(
            r.clone(),
            HashMap::from([
                ("amount".to_owned(), RestrictedExpression::new_long(50)),
                (
                    "risk".to_owned(),
                    RestrictedExpression::new_string("low".to_owned()),
                ),
            ]),
            HashSet::new(),
        )
        .unwrap();
        let pe = Entity::new_no_attrs(
            p.clone(),
            HashSet::from([EntityUid::from_str(r#"Group::"users""#).unwrap()]),
        );
        let es = Entities::from_entities([res, pe], None).unwrap();
        let req = Request::new(p.clone(), a.clone(), r.clone(), Context::empty(), None).unwrap();
        allowed += usize::from(
            auth.is_authorized(&req, &policies, &es).decision() == cedar_policy::Decision::Allow,
        );
    }
    let el = t.elapsed();
    println!("{n} bare decisions, {allowed} allowed, {:?} each", el / n);
}

#[allow(dead_code)]
fn unused() {}
