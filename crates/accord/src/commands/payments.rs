//! `accord payments`: list the payments the matcher scheduled, release one to the bank as
//! a configured treasurer (through the gate and segregation of duties), and record the
//! bank's confirmation. The same acts as `POST /v1/payments/{id}/release|settle`.

use std::process::ExitCode;

use accord_core::Money;
use accord_core::id::PaymentId;
use accord_core::lifecycle::PaymentState;
use accord_policy::{Approver, AutonomyLevel};
use clap::{Subcommand, ValueEnum};

use super::Node;
use crate::cli::GlobalArgs;

#[derive(Debug, Subcommand)]
pub enum PaymentsCommand {
    /// The payments scheduled for approved invoices, by due date, with totals per currency.
    #[command(
        after_help = "Examples:\n  accord payments list\n  accord payments list --state scheduled --due-by 2026-12-31\n  accord payments list --json"
    )]
    List {
        /// Only payments in this state.
        #[arg(long, value_enum)]
        state: Option<StateFilter>,
        /// Only payments due on or before this date (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        due_by: Option<chrono::NaiveDate>,
        /// Print JSON (one array) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Release a scheduled payment to the bank; the invoice becomes paid.
    #[command(
        after_help = "Examples:\n  accord payments release 019a… --as tess\n  accord payments release --due-by 2026-12-31 --as tess   # a payment run\n\nThe gate decides `payment.release` for the person `--as` names (configured under\n[users] in accord.toml; the default pack wants a treasurer), and segregation of duties\nrefuses the order's requester and anyone who approved an exception on the invoice.\nThe decision goes into the audit log either way. A payment run releases every scheduled\npayment due by the date, each decided on its own; it lists what was refused and why, and\nexits non-zero if anything was."
    )]
    Release {
        /// The payment id (from `accord payments list`); or give `--due-by` instead.
        #[arg(required_unless_present = "due_by", conflicts_with = "due_by")]
        id: Option<String>,
        /// A payment run: every scheduled payment due on or before this date (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        due_by: Option<chrono::NaiveDate>,
        /// The person who releases it, configured under `[users]`.
        #[arg(long = "as", value_name = "USER")]
        user: String,
    },
    /// Record the bank's confirmation that a released payment settled.
    #[command(after_help = "Example:\n  accord payments settle 019a… --as tess")]
    Settle {
        /// The payment id.
        id: String,
        /// The person recording it, configured under `[users]`.
        #[arg(long = "as", value_name = "USER")]
        user: String,
    },
}

/// The states a payment can be listed by.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StateFilter {
    Scheduled,
    Released,
    Settled,
    Failed,
    Cancelled,
}

impl StateFilter {
    fn as_str(self) -> &'static str {
        match self {
            StateFilter::Scheduled => "scheduled",
            StateFilter::Released => "released",
            StateFilter::Settled => "settled",
            StateFilter::Failed => "failed",
            StateFilter::Cancelled => "cancelled",
        }
    }
}

pub async fn run(g: &GlobalArgs, command: PaymentsCommand) -> anyhow::Result<ExitCode> {
    let node = Node::open(g).await?;
    let logged = super::serve::governance(&node, AutonomyLevel::ActAlone).await?;
    let (flow, _stop) = super::serve::p2p_runtime(&node, logged, false)?;
    match command {
        PaymentsCommand::List {
            state,
            due_by,
            json,
        } => {
            let mut payments = flow.payments(state.map(StateFilter::as_str)).await?;
            payments.retain(|p| due_by.is_none_or(|d| p.due_on <= d));
            payments.sort_by(|a, b| a.due_on.cmp(&b.due_on).then(a.id.cmp(&b.id)));
            if json {
                println!("{}", serde_json::to_string_pretty(&payments)?);
                return Ok(ExitCode::SUCCESS);
            }
            if payments.is_empty() {
                println!("no payments");
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<36}  {:<36}  {:>14}  {:<10}  state",
                "payment", "invoice", "amount", "due on"
            );
            let mut totals = std::collections::BTreeMap::new();
            for p in &payments {
                println!(
                    "{:<36}  {:<36}  {:>14}  {:<10}  {}",
                    p.id.to_string(),
                    p.invoice.to_string(),
                    p.amount.to_string(),
                    p.due_on.to_string(),
                    state_name(p.state)
                );
                let total = totals
                    .entry(p.amount.currency)
                    .or_insert(Money::zero(p.amount.currency));
                *total = total.checked_add(p.amount)?;
            }
            let totals: Vec<String> = totals.values().map(Money::to_string).collect();
            println!(
                "{} payment{}, total {}",
                payments.len(),
                if payments.len() == 1 { "" } else { "s" },
                totals.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        PaymentsCommand::Release { id, due_by, user } => {
            let by = Approver::new(&user, node.config.user_roles(&user)?);
            let Some(due_by) = due_by else {
                let id = payment_id(id.as_deref().unwrap_or_default())?;
                let payment = flow.release_payment(id, &by, chrono::Utc::now()).await?;
                println!(
                    "payment {} released by {user}: {} for invoice {}, due {}",
                    payment.id, payment.amount, payment.invoice, payment.due_on
                );
                return Ok(ExitCode::SUCCESS);
            };
            let mut due = flow.payments(Some("scheduled")).await?;
            due.retain(|p| p.due_on <= due_by);
            due.sort_by(|a, b| a.due_on.cmp(&b.due_on).then(a.id.cmp(&b.id)));
            let mut released = std::collections::BTreeMap::new();
            let mut refused = 0;
            for p in &due {
                match flow.release_payment(p.id, &by, chrono::Utc::now()).await {
                    Ok(payment) => {
                        println!(
                            "released {}: {} for invoice {}, due {}",
                            payment.id, payment.amount, payment.invoice, payment.due_on
                        );
                        let total = released
                            .entry(payment.amount.currency)
                            .or_insert(Money::zero(payment.amount.currency));
                        *total = total.checked_add(payment.amount)?;
                    }
                    Err(e) => {
                        refused += 1;
                        eprintln!("refused {}: {e}", p.id);
                    }
                }
            }
            let totals: Vec<String> = released.values().map(Money::to_string).collect();
            println!(
                "payment run by {user}, due by {due_by}: {} released ({}), {refused} refused",
                due.len() - refused,
                if totals.is_empty() {
                    "nothing".to_owned()
                } else {
                    totals.join(", ")
                }
            );
            Ok(if refused == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        PaymentsCommand::Settle { id, user } => {
            let id = payment_id(&id)?;
            node.config.user_roles(&user)?;
            let payment = flow.settle_payment(id, &user).await?;
            println!(
                "payment {} settled, confirmed by {user}: {}",
                payment.id, payment.amount
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn payment_id(raw: &str) -> anyhow::Result<PaymentId> {
    PaymentId::parse(raw).map_err(|_| {
        anyhow::anyhow!("malformed payment id `{raw}`: expected a UUID from `accord payments list`")
    })
}

fn state_name(state: PaymentState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{state:?}"))
}
