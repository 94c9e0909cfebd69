//! `accord approvals …`: the approval queue from the command line. The acting person is
//! named with `--as` and their roles come from `[users.ID]` in accord.toml; segregation of
//! duties and the approval life cycle are enforced by `accord_policy::Governance`.

use std::{process::ExitCode, sync::Arc};

use accord_core::{
    ApprovalRequest, ApprovalState,
    governance::{ApprovalStep, Authorises},
    id::ApprovalId,
};
use accord_policy::{
    Action, Approver, EscalationChain, Gate, Governance, GovernanceConfig, NewApproval, PolicySet,
    Role,
};
use accord_store::AnyStore;
use anyhow::Context;
use clap::{Args, Subcommand};

use super::Node;
use crate::cli::GlobalArgs;

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List approval requests, oldest first.
    #[command(after_help = "\
Examples:
  accord approvals list                       pending requests, for every role
  accord approvals list --role approver       what approvers have to decide
  accord approvals list --state all --json    everything, as JSON lines")]
    List(ListArgs),
    /// Approve a pending request. The requester can never approve their own request.
    #[command(after_help = "\
Example:
  accord approvals approve 0193a1b2-… --as alice --comment \"within budget\"

USER must be configured with the request's role in accord.toml:
  [users.alice]
  roles = [\"approver\"]")]
    Approve(DecideArgs),
    /// Deny a pending request, with the reason.
    #[command(after_help = "\
Example:
  accord approvals deny 0193a1b2-… --as alice --comment \"price above the contract\"")]
    Deny(DecideArgs),
    /// Hand a pending request to one named person, who alone may then decide it.
    #[command(after_help = "\
Example:
  accord approvals delegate 0193a1b2-… --as alice --to dan --comment \"on leave this week\"")]
    Delegate(DelegateArgs),
    /// Ask for an approval (a person proposing an action; agents ask through the API).
    #[command(after_help = "\
Example:
  accord approvals request --as rita --role approver --action purchase_order.issue \\
      --subject purchase_order/PO-1042 --summary \"laptops for the new team, 18,400 EUR\"")]
    Request(RequestArgs),
    /// Escalate every request whose deadline has passed to the next role (or expire it at
    /// the end of the chain). Run it from a timer.
    #[command(after_help = "Example:\n  accord approvals escalate")]
    Escalate,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// `pending`, `approved`, `denied`, `expired`, `withdrawn` or `all`.
    #[arg(long, default_value = "pending")]
    pub state: String,
    /// Only requests waiting for this role (requester, buyer, category_manager, approver,
    /// ap_clerk, treasurer, auditor, admin).
    #[arg(long)]
    pub role: Option<String>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The approval request's id (from `accord approvals list`).
    pub id: String,
    /// Who decides: a user configured in accord.toml under `[users.USER]`.
    #[arg(long = "as", value_name = "USER")]
    pub user: String,
    /// Why (required; it goes into the audit log).
    #[arg(long)]
    pub comment: String,
}

#[derive(Debug, Args)]
pub struct DelegateArgs {
    #[command(flatten)]
    pub decide: DecideArgs,
    /// The person who takes the decision over.
    #[arg(long, value_name = "USER")]
    pub to: String,
}

#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Who asks: a user configured in accord.toml.
    #[arg(long = "as", value_name = "USER")]
    pub user: String,
    /// The role that must approve.
    #[arg(long)]
    pub role: String,
    /// The action to authorise, such as purchase_order.issue or negotiation.accept.
    #[arg(long)]
    pub action: String,
    /// What it is about, such as purchase_order/PO-1042.
    #[arg(long)]
    pub subject: String,
    /// One line for the approval queue.
    #[arg(long)]
    pub summary: String,
    /// Hours the role has before the request escalates (accord.toml's
    /// `approvals.sla_hours` by default).
    #[arg(long)]
    pub sla_hours: Option<u32>,
    /// Idempotency key: asking again with the same key returns the first request
    /// (default: USER, action and subject).
    #[arg(long)]
    pub key: Option<String>,
}

pub async fn run(g: &GlobalArgs, command: ApprovalsCommand) -> anyhow::Result<ExitCode> {
    let node = Node::open(g).await?;
    let gov = open_governance(&node).await?;
    let now = chrono::Utc::now();
    match command {
        ApprovalsCommand::List(args) => list(&gov, args).await,
        ApprovalsCommand::Approve(args) => {
            let (id, who) = decider(&node, &args)?;
            let r = gov.approve(id, &who, &args.comment, now).await?;
            println!("approval {} approved by `{}`", r.id, who.id);
            Ok(ExitCode::SUCCESS)
        }
        ApprovalsCommand::Deny(args) => {
            let (id, who) = decider(&node, &args)?;
            let r = gov.deny(id, &who, &args.comment, now).await?;
            println!("approval {} denied by `{}`", r.id, who.id);
            Ok(ExitCode::SUCCESS)
        }
        ApprovalsCommand::Delegate(args) => {
            let (id, who) = decider(&node, &args.decide)?;
            node.config.user_roles(&args.to).with_context(|| {
                format!(
                    "cannot delegate to `{}`: they must be a configured user",
                    args.to
                )
            })?;
            let r = gov
                .delegate(id, &who, &args.to, &args.decide.comment, now)
                .await?;
            println!(
                "approval {} delegated by `{}` to `{}`",
                r.id, who.id, args.to
            );
            Ok(ExitCode::SUCCESS)
        }
        ApprovalsCommand::Request(args) => request(&node, &gov, args, now).await,
        ApprovalsCommand::Escalate => {
            let changed = gov.escalate_overdue(now).await?;
            for r in &changed {
                match r.state {
                    ApprovalState::Expired => println!("approval {} expired", r.id),
                    _ => println!("approval {} escalated to `{}`", r.id, r.role),
                }
            }
            println!("{} overdue requests handled", changed.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The governance service over the node's store, with the default policy pack.
pub async fn open_governance(node: &Node) -> anyhow::Result<Governance<AnyStore>> {
    let gate = Gate::new(
        Arc::new(PolicySet::default_pack()),
        node.config.reporting_currency,
    )?;
    let a = &node.config.approvals;
    anyhow::ensure!(a.sla_hours > 0, "`approvals.sla_hours` must be at least 1");
    let config = GovernanceConfig {
        escalation: EscalationChain::new(
            &a.escalation,
            chrono::Duration::hours(a.sla_hours.into()),
        ),
        ..GovernanceConfig::default()
    };
    Ok(Governance::open(node.store.clone(), Arc::new(gate), config).await?)
}

fn parse_id(id: &str) -> anyhow::Result<ApprovalId> {
    ApprovalId::parse(id.trim()).map_err(|_| {
        anyhow::anyhow!(
            "malformed approval id `{id}`: expected a UUID from `accord approvals list`"
        )
    })
}

fn decider(node: &Node, args: &DecideArgs) -> anyhow::Result<(ApprovalId, Approver)> {
    let id = parse_id(&args.id)?;
    let roles = node.config.user_roles(&args.user)?;
    Ok((id, Approver::new(&args.user, roles)))
}

async fn request(
    node: &Node,
    gov: &Governance<AnyStore>,
    args: RequestArgs,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<ExitCode> {
    node.config.user_roles(&args.user)?;
    let role = Role::parse(&args.role)?;
    let action = Action::parse(&args.action)?;
    anyhow::ensure!(!args.subject.trim().is_empty(), "`--subject` is empty");
    anyhow::ensure!(!args.summary.trim().is_empty(), "`--summary` is empty");
    let key = args
        .key
        .unwrap_or_else(|| format!("cli/{}/{}/{}", args.user, action, args.subject));
    let r = gov
        .request_approval(
            NewApproval {
                key,
                authorises: Authorises::Pending {
                    decision: serde_json::json!({
                        "action": action.as_str(),
                        "subject": args.subject,
                        "summary": args.summary,
                    }),
                },
                role,
                requester: args.user.clone(),
                action,
                subject: args.subject.clone(),
                summary: args.summary.clone(),
                sla: args.sla_hours.map(|h| chrono::Duration::hours(h.into())),
            },
            now,
        )
        .await?;
    println!(
        "approval {} pending: `{}` must decide by {}",
        r.id,
        r.role,
        r.deadline.format("%Y-%m-%d %H:%M UTC")
    );
    Ok(ExitCode::SUCCESS)
}

async fn list(gov: &Governance<AnyStore>, args: ListArgs) -> anyhow::Result<ExitCode> {
    let state = match args.state.trim() {
        "all" => None,
        s => Some(
            ApprovalState::ALL
                .iter()
                .copied()
                .find(|st| st.as_str() == s)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown state `{s}`: expected pending, approved, denied, expired, withdrawn or all"
                    )
                })?,
        ),
    };
    let role = args.role.as_deref().map(Role::parse).transpose()?;
    let requests = gov.approvals(state, role).await?;
    if args.json {
        for r in &requests {
            println!("{}", serde_json::to_string(r)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if requests.is_empty() {
        println!("no approval requests");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<36}  {:<9}  {:<16}  {:<12}  {:<17}  {:<26}  SUMMARY",
        "ID", "STATE", "ROLE", "REQUESTER", "DEADLINE (UTC)", "ACTION / SUBJECT"
    );
    for r in &requests {
        println!(
            "{:<36}  {:<9}  {:<16}  {:<12}  {:<17}  {:<26}  {}",
            r.id,
            r.state.as_str(),
            who_decides(r),
            r.requester,
            r.deadline.format("%Y-%m-%d %H:%M"),
            format!("{} {}", r.action, r.subject),
            last_word(r),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The role that decides, or the person it was delegated to.
fn who_decides(r: &ApprovalRequest) -> String {
    match &r.delegated_to {
        Some(to) => format!("{} (→ {to})", r.role),
        None => r.role.to_string(),
    }
}

/// The summary, followed by the last decision's comment when there is one.
fn last_word(r: &ApprovalRequest) -> String {
    let comment = r.history.iter().rev().find_map(|s| match s {
        ApprovalStep::Approved { by, comment, .. }
        | ApprovalStep::Denied { by, comment, .. }
        | ApprovalStep::Withdrawn { by, comment, .. } => Some(format!("{by}: {comment}")),
        _ => None,
    });
    match comment {
        Some(c) => format!("{} [{c}]", r.summary),
        None => r.summary.clone(),
    }
}
