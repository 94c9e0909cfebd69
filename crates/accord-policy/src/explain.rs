//! Plain-language rendering of a verdict: what was asked, what the gate said, which
//! policies decided and why (from their `@reason` annotations), for `accord policy explain`
//! and for the rationale of a logged decision.

use std::fmt::Write;

use crate::{
    autonomy::Review,
    gate::{
        AUTONOMY_ID, DEFAULT_DENY_ID, EVALUATION_ERROR_ID, INVALID_REQUEST_ID, KILL_SWITCH_ID,
        Outcome, Verdict,
    },
    policy_set::PolicySet,
    vocab::GateRequest,
};

/// Renders `verdict` for `request` in plain language, one fact per line.
pub fn explain(policies: &PolicySet, request: &GateRequest, verdict: &Verdict) -> String {
    let mut out = String::new();
    let r = &request.resource;
    let outcome = match verdict.outcome {
        Outcome::Allow => "allowed: may act alone".to_owned(),
        Outcome::NeedsApproval { role } => format!("needs approval by a `{role}`"),
        Outcome::Deny => "denied".to_owned(),
    };
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "{} on `{}` by {}: {outcome}",
        request.action, r.id, request.principal
    );
    let mut facts = Vec::new();
    if let Some(a) = r.amount {
        facts.push(format!("amount {a}"));
    }
    if let Some(a) = r.reporting_amount {
        facts.push(format!("reporting amount {a}"));
    }
    if let Some(c) = &r.category {
        facts.push(format!("category {c}"));
    }
    if let Some(reg) = &r.region {
        facts.push(format!("region {reg}"));
    }
    if let Some(s) = &r.supplier {
        facts.push(format!(
            "supplier risk {}, size {}{}",
            s.risk,
            s.size,
            if s.new { ", new" } else { "" }
        ));
    }
    if let Some(q) = &r.requester {
        facts.push(format!("requested by `{q}`"));
    }
    if let Some(a) = &r.approver {
        facts.push(format!("approved by `{a}`"));
    }
    if r.has_goods_receipt {
        facts.push("goods received".to_owned());
    }
    facts.push(format!("autonomy {}", verdict.autonomy.as_str()));
    let _ = writeln!(out, "facts: {}", facts.join("; "));
    let _ = writeln!(out, "because:");
    for id in &verdict.policy_ids {
        let reason = match id.as_str() {
            KILL_SWITCH_ID => "the kill switch is on: every agent is paused".to_owned(),
            AUTONOMY_ID => {
                "the category is set to recommend only: agents never act alone there".to_owned()
            }
            INVALID_REQUEST_ID => "the request lacks facts this action needs".to_owned(),
            EVALUATION_ERROR_ID => {
                "a policy could not be evaluated, so the gate failed closed".to_owned()
            }
            DEFAULT_DENY_ID => "no policy permits this action".to_owned(),
            other => match policies.policy(other) {
                Some(info) => info
                    .reason
                    .clone()
                    .unwrap_or_else(|| format!("(no reason given, see `{}`)", info.file)),
                None => "(policy not in this set)".to_owned(),
            },
        };
        let _ = writeln!(out, "  - [{id}] {reason}");
    }
    for note in &verdict.notes {
        let _ = writeln!(out, "  - {note}");
    }
    match verdict.review {
        Review::None => {}
        Review::Required => {
            let _ = writeln!(
                out,
                "review: a person reviews this decision afterwards (act with review)"
            );
        }
        Review::Sampled => {
            let _ = writeln!(out, "review: drawn for spot review");
        }
    }
    let _ = write!(out, "policy set: sha256:{}", verdict.policy_set_hash);
    out
}
