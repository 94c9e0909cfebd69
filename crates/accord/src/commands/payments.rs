//! `accord payments`: list the payments the matcher scheduled, release one to the bank as
//! a configured treasurer (through the gate and segregation of duties), and record the
//! bank's confirmation. The same acts as `POST /v1/payments/{id}/release|settle`.

use std::process::ExitCode;

use accord_core::Money;
use accord_core::document::Payment;
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
    fn state(self) -> PaymentState {
        match self {
            StateFilter::Scheduled => PaymentState::Scheduled,
            StateFilter::Released => PaymentState::Released,
            StateFilter::Settled => PaymentState::Settled,
            StateFilter::Failed => PaymentState::Failed,
            StateFilter::Cancelled => PaymentState::Cancelled,
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
            let state = state.map(|s| state_name(s.state()));
            let payments = due(flow.payments(state.as_deref()).await?, due_by);
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
            for p in &payments {
                println!(
                    "{:<36}  {:<36}  {:>14}  {:<10}  {}",
                    p.id.to_string(),
                    p.invoice.to_string(),
                    p.amount.to_string(),
                    p.due_on.to_string(),
                    state_name(p.state)
                );
            }
            println!(
                "{} payment{}, total {}",
                payments.len(),
                if payments.len() == 1 { "" } else { "s" },
                totals(payments.iter().map(|p| p.amount))?
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
            let scheduled = state_name(PaymentState::Scheduled);
            let due = due(flow.payments(Some(&scheduled)).await?, Some(due_by));
            let mut released = Vec::new();
            for p in &due {
                match flow.release_payment(p.id, &by, chrono::Utc::now()).await {
                    Ok(payment) => {
                        println!(
                            "released {}: {} for invoice {}, due {}",
                            payment.id, payment.amount, payment.invoice, payment.due_on
                        );
                        released.push(payment.amount);
                    }
                    Err(e) => eprintln!("refused {}: {e}", p.id),
                }
            }
            let refused = due.len() - released.len();
            println!(
                "payment run by {user}, due by {due_by}: {} released ({}), {refused} refused",
                released.len(),
                if released.is_empty() {
                    "nothing".to_owned()
                } else {
                    totals(released.into_iter())?
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

/// `payments` due on or before `due_by` (all of them without a date), by due date.
fn due(mut payments: Vec<Payment>, due_by: Option<chrono::NaiveDate>) -> Vec<Payment> {
    payments.retain(|p| due_by.is_none_or(|d| p.due_on <= d));
    payments.sort_by(|a, b| a.due_on.cmp(&b.due_on).then(a.id.cmp(&b.id)));
    payments
}

/// The sum of `amounts` per currency, e.g. `EUR 249.60, USD 12.00`; overflow is an error.
fn totals(amounts: impl Iterator<Item = Money>) -> anyhow::Result<String> {
    let mut sums = std::collections::BTreeMap::new();
    for amount in amounts {
        let sum = sums
            .entry(amount.currency)
            .or_insert(Money::zero(amount.currency));
        *sum = sum.checked_add(amount)?;
    }
    Ok(sums
        .values()
        .map(Money::to_string)
        .collect::<Vec<_>>()
        .join(", "))
}

/// The state as the read model stores it (`scheduled`, `released`, …).
fn state_name(state: PaymentState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{state:?}"))
}
