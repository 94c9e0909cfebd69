//! `accord policy check` and `accord policy explain`: the Cedar decision rights, from the
//! command line.

use std::{io::Read, path::Path, process::ExitCode, sync::Arc};

use accord_core::Currency;
use accord_policy::{
    Action, AgentKind, AutonomyLevel, AutonomyTable, CategoryAutonomy, Gate, GateEnv, GateRequest,
    KillSwitch, PolicySet, Principal, Resource, Role, check,
};
use anyhow::Context;

use crate::cli::{ExplainArgs, PolicyCommand};

pub fn run(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Check { dir } => check_dir(dir.as_deref()),
        PolicyCommand::Explain(args) => explain(args),
    }
}

fn check_dir(dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let report = match dir {
        Some(dir) => check(dir),
        None => {
            let set = PolicySet::default_pack();
            println!(
                "the built-in default pack: {} policies, hash {}",
                set.policy_ids().len(),
                set.hash()
            );
            return Ok(ExitCode::SUCCESS);
        }
    };
    for d in &report.diagnostics {
        eprintln!("{d}");
    }
    let name = dir.map_or_else(String::new, |d| d.display().to_string());
    if report.ok {
        println!(
            "policy set `{name}` is valid: {} policies, hash {}",
            report.policies,
            report.hash.as_deref().unwrap_or("-")
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("policy set `{name}` is refused; nothing of it would load");
        Ok(ExitCode::FAILURE)
    }
}

/// Parses `agent:KIND[@VERSION]` or `user:ID:ROLE[,ROLE…]`.
fn parse_principal(spec: &str) -> anyhow::Result<Principal> {
    let mut parts = spec.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("agent"), Some(kind), None) => {
            let (kind, version) = kind
                .split_once('@')
                .unwrap_or((kind, env!("CARGO_PKG_VERSION")));
            Ok(Principal::agent(AgentKind::parse(kind)?, version))
        }
        (Some("user"), Some(id), Some(roles)) if !id.is_empty() => {
            let roles = roles
                .split(',')
                .map(Role::parse)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Principal::user(id, &roles))
        }
        _ => anyhow::bail!(
            "malformed principal `{spec}`: expected `agent:KIND[@VERSION]` or `user:ID:ROLE[,ROLE…]`"
        ),
    }
}

fn explain(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let principal = parse_principal(&args.principal)?;
    let action = Action::parse(&args.action)?;
    let json = if args.resource_json.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s
    } else {
        std::fs::read_to_string(&args.resource_json)
            .with_context(|| format!("cannot read `{}`", args.resource_json.display()))?
    };
    let resource = Resource::from_json(&json).with_context(|| {
        format!(
            "malformed resource JSON in `{}`",
            args.resource_json.display()
        )
    })?;
    let set = match &args.policies {
        Some(dir) => PolicySet::load_dir(dir).map_err(|e| {
            for d in e.diagnostics() {
                eprintln!("{d}");
            }
            anyhow::anyhow!("cannot load the policy set `{}`: {e}", dir.display())
        })?,
        None => PolicySet::default_pack(),
    };
    let reporting = resource.amount.map_or(Currency::EUR, |m| m.currency);
    let gate = Gate::new(Arc::new(set), reporting)?;
    let level = match args.autonomy.as_str() {
        "recommend_only" => AutonomyLevel::RecommendOnly,
        "act_with_review" => AutonomyLevel::ActWithReview,
        _ => AutonomyLevel::ActAlone,
    };
    let autonomy = AutonomyTable::new(CategoryAutonomy::new(level, 0));
    let kill_switch = if args.paused {
        KillSwitch::Paused {
            since: chrono::Utc::now(),
            by: "accord policy explain".into(),
            reason: "--paused".into(),
        }
    } else {
        KillSwitch::Running
    };
    let request = GateRequest::new(principal, action, resource);
    let verdict = gate.decide(&request, &GateEnv::new(&autonomy, &kill_switch));
    println!("{}", gate.explain(&request, &verdict));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_parse() {
        assert!(parse_principal("agent:negotiator").unwrap().is_agent());
        assert!(parse_principal("agent:negotiator@2.0").is_ok());
        let u = parse_principal("user:alice:treasurer,approver").unwrap();
        assert_eq!(u.id(), "alice");
        assert!(
            parse_principal("agent:boss")
                .unwrap_err()
                .to_string()
                .contains("unknown agent kind `boss`")
        );
        assert!(parse_principal("alice").is_err());
        assert!(parse_principal("user:alice:chef").is_err());
    }
}
