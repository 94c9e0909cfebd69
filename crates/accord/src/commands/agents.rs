//! `accord agents pause|resume|status` (the kill switch) and `accord autonomy set|show`
//! (autonomy per category). Both kinds of change go through the policy gate and are
//! logged as decisions naming the deciding policies.

use std::process::ExitCode;

use accord_core::{AutonomyLevel, CategoryAutonomy, CategoryCode};
use accord_policy::{KillSwitch, Principal};
use accord_store::{DocumentQuery, Store};
use clap::{Args, Subcommand};

use super::{Node, approvals::open_governance};
use crate::cli::GlobalArgs;

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// The kill switch: stop every autonomous action at once. In-flight negotiations hold
    /// their state and continue on `accord agents resume`.
    #[command(after_help = "\
Example:
  accord agents pause --as alice --reason \"supplier fraud alert, checking bank changes\"

USER needs a role the policies let pause agents (default pack: admin, category_manager
or approver), configured in accord.toml:
  [users.alice]
  roles = [\"approver\"]")]
    Pause(PauseArgs),
    /// Let agents act again.
    #[command(
        after_help = "Example:\n  accord agents resume --as alice --reason \"alert cleared\""
    )]
    Resume(ResumeArgs),
    /// Whether agents are running or paused, by whom and why.
    #[command(after_help = "Example:\n  accord agents status")]
    Status,
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Who pulls the switch: a user configured in accord.toml.
    #[arg(long = "as", value_name = "USER")]
    pub user: String,
    /// Why (required; it goes into the audit log).
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Who resumes: a user configured in accord.toml.
    #[arg(long = "as", value_name = "USER")]
    pub user: String,
    /// Why (optional).
    #[arg(long, default_value = "")]
    pub reason: String,
}

#[derive(Debug, Subcommand)]
pub enum AutonomyCommand {
    /// Set how far agents may go alone in a category.
    #[command(after_help = "\
Example:
  accord autonomy set office-supplies --level act_alone --sample-rate 0.05 \\
      --as cleo --reason \"three months without an incident\"

Levels: recommend_only (agents propose, people decide), act_with_review (agents act, every
decision is reviewed afterwards), act_alone (agents act within the policies; a sample of
--sample-rate is reviewed). The default pack lets admins and category managers change it.")]
    Set(SetAutonomyArgs),
    /// Show the autonomy of every category that was set (others are recommend_only).
    #[command(after_help = "Example:\n  accord autonomy show")]
    Show,
}

#[derive(Debug, Args)]
pub struct SetAutonomyArgs {
    /// The category code, as in the spend and contract files.
    pub category: String,
    /// recommend_only, act_with_review or act_alone.
    #[arg(long)]
    pub level: String,
    /// Share of autonomous decisions drawn for human review, from 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    pub sample_rate: f64,
    #[arg(long = "as", value_name = "USER")]
    pub user: String,
    /// Why (required; it goes into the audit log).
    #[arg(long)]
    pub reason: String,
}

pub async fn run(g: &GlobalArgs, command: AgentsCommand) -> anyhow::Result<ExitCode> {
    let node = Node::open(g).await?;
    let gov = open_governance(&node).await?;
    let now = chrono::Utc::now();
    match command {
        AgentsCommand::Pause(args) => {
            let by = principal(&node, &args.user)?;
            let decision = gov.pause_agents(&by, &args.reason, now).await?;
            println!("agents paused by `{}` (decision {decision})", args.user);
        }
        AgentsCommand::Resume(args) => {
            let by = principal(&node, &args.user)?;
            let decision = gov.resume_agents(&by, &args.reason, now).await?;
            println!("agents resumed by `{}` (decision {decision})", args.user);
        }
        AgentsCommand::Status => match gov.kill_switch() {
            KillSwitch::Running => println!("agents running"),
            KillSwitch::Paused { since, by, reason } => println!(
                "agents PAUSED since {} by `{by}`: {reason}",
                since.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        },
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn autonomy(g: &GlobalArgs, command: AutonomyCommand) -> anyhow::Result<ExitCode> {
    let node = Node::open(g).await?;
    match command {
        AutonomyCommand::Set(args) => {
            let gov = open_governance(&node).await?;
            let category = CategoryCode::parse(&args.category).map_err(anyhow::Error::msg)?;
            let level = AutonomyLevel::parse(&args.level)?;
            anyhow::ensure!(
                (0.0..=1.0).contains(&args.sample_rate),
                "`--sample-rate` must be between 0 and 1, got `{}`",
                args.sample_rate
            );
            let ppm = (args.sample_rate * 1e6).round() as u32;
            let by = principal(&node, &args.user)?;
            let decision = gov
                .set_autonomy(
                    &category,
                    CategoryAutonomy::new(level, ppm),
                    &by,
                    &args.reason,
                    chrono::Utc::now(),
                )
                .await?;
            println!(
                "`{category}` is now {} with {:.2}% sampled for review (decision {decision})",
                level.as_str(),
                f64::from(ppm) / 1e4
            );
        }
        AutonomyCommand::Show => {
            let docs = node
                .store
                .documents(&DocumentQuery::kind("autonomy", 1000))
                .await?;
            if docs.is_empty() {
                println!("no category set: every category is recommend_only");
            }
            for d in docs {
                let ppm = d.data["sample_ppm"].as_u64().unwrap_or(0);
                println!(
                    "{:<24} {:<16} {:>6.2}% sampled  set by `{}`: {}",
                    d.id,
                    d.state,
                    ppm as f64 / 1e4,
                    d.data["by"].as_str().unwrap_or("?"),
                    d.data["reason"].as_str().unwrap_or("")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The configured user as the gate sees them.
fn principal(node: &Node, user: &str) -> anyhow::Result<Principal> {
    let roles = node.config.user_roles(user)?;
    Ok(Principal::user(user, roles))
}
