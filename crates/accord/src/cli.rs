//! The command-line interface: every subcommand, flag and its help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str =
    "Accord: autonomous procurement with decision rights and a verifiable audit log";

const LONG_ABOUT: &str = "\
Accord negotiates with tail suppliers, runs procure-to-pay and keeps a hash-chained,
signed record of every decision.

Everything lives in a data dir (default ./accord-data): the configuration (accord.toml),
the node's signing key and, unless --database-url selects PostgreSQL, the embedded SQLite
database.

Start here:
  accord init                           create the data dir, database, key and genesis entry
  accord import suppliers FILE.csv      load master data (see docs/import.md)
  accord status                         what the data dir holds
  accord audit verify                   check the hash chain and signed checkpoints";

#[derive(Debug, Parser)]
#[command(name = "accord", version, about = ABOUT, long_about = LONG_ABOUT, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The data dir: configuration, node key and the embedded database.
    #[arg(
        long,
        global = true,
        env = "ACCORD_DATA_DIR",
        default_value = "./accord-data"
    )]
    pub data_dir: PathBuf,

    /// Use PostgreSQL at this URL instead of the embedded SQLite file,
    /// e.g. postgres://postgres@127.0.0.1:5432/accord.
    #[arg(
        long,
        global = true,
        env = "ACCORD_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// An extra configuration file, read after the data dir's accord.toml.
    #[arg(long, global = true, env = "ACCORD_CONFIG")]
    pub config: Option<PathBuf>,

    /// Log format on standard error.
    #[arg(long, global = true, env = "ACCORD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// Log more (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the data dir, the database, the node key and a default configuration,
    /// and write the log's genesis entry.
    #[command(after_help = "Example:\n  accord --data-dir ./acme init --reporting-currency USD")]
    Init(InitArgs),

    /// Initialise a data dir (if needed), import the suppliers.csv, contracts.csv and
    /// spend.csv found in DIR, verify the audit log and print the status.
    #[command(after_help = "Example:\n  accord --data-dir ./accord-data quickstart examples/erp")]
    Quickstart(QuickstartArgs),

    /// The main job, end to end: generate an enterprise, import it, serve the API
    /// in-process, run a tail-spend campaign against simulated supplier bots over HTTP,
    /// and report close rate, savings and payment terms beside the Walmart–Pactum pilot.
    #[command(
        after_help = "Examples:\n  accord demo\n  accord --data-dir ./big demo --suppliers 10000 --lines 200000 --tail-share 1"
    )]
    Demo(DemoArgs),

    /// Serve the supplier negotiation protocol and the buyer API on the data dir's store
    /// (or PostgreSQL with --database-url). Several nodes may share one PostgreSQL.
    #[command(
        after_help = "Example:\n  ACCORD_API_KEY=secret accord serve --listen 127.0.0.1:8080\n  curl -H 'Authorization: Bearer secret' http://127.0.0.1:8080/openapi.json\n\nThe protocol: docs/protocol.md"
    )]
    Serve(ServeArgs),

    /// Print what the data dir holds: configuration, key fingerprint, log length, counts.
    Status,

    /// Import an ERP export (CSV). Each file is all-or-nothing; re-importing it changes nothing.
    #[command(subcommand)]
    Import(ImportCommand),

    /// Check a Cedar policy set, or explain the verdict it gives for one request.
    #[command(subcommand)]
    Policy(PolicyCommand),

    /// Verify or export the hash-chained audit log.
    #[command(subcommand)]
    Audit(AuditCommand),

    /// Measure Accord's hot paths on this machine.
    #[command(subcommand)]
    Bench(BenchCommand),

    /// Work the approval queue: list, approve, deny, delegate (docs/governance.md).
    #[command(subcommand)]
    Approvals(crate::commands::approvals::ApprovalsCommand),

    /// The kill switch: pause or resume every agent, or show whether they run.
    #[command(subcommand)]
    Agents(crate::commands::agents::AgentsCommand),

    /// Autonomy per category: recommend only, act with review, or act alone.
    #[command(subcommand)]
    Autonomy(crate::commands::agents::AutonomyCommand),

    /// Accounts payable: import UBL e-invoices and match them, show one, read the
    /// compliance and savings-realisation metrics.
    #[command(subcommand)]
    Invoices(crate::commands::invoices::InvoicesCommand),

    /// Payments: list what is scheduled and due, release one to the bank as a treasurer,
    /// record its settlement.
    #[command(subcommand)]
    Payments(crate::commands::payments::PaymentsCommand),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Currency for reports and policy thresholds (ISO 4217).
    #[arg(long, default_value = "EUR")]
    pub reporting_currency: String,

    /// Sign a checkpoint of the audit chain every this many entries.
    #[arg(long, default_value_t = 1000)]
    pub checkpoint_every: u64,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Suppliers in the synthetic enterprise.
    #[arg(long, default_value_t = 2_000)]
    pub suppliers: usize,
    /// Spend lines over its last year.
    #[arg(long, default_value_t = 100_000)]
    pub lines: usize,
    /// The campaign approaches the suppliers that make up this share of spend, smallest
    /// first (1 = every supplier).
    #[arg(long, default_value = "0.2")]
    pub tail_share: String,
    /// Seeds the enterprise, the suppliers' hidden economics and every agent.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Supplier bots negotiating at the same time.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// The buyer offers three equivalent options per move (MESO).
    #[arg(long)]
    pub meso: bool,
    /// Also print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "ACCORD_LISTEN")]
    pub listen: String,
    /// The public URL put into supplier invitations (default: http://<listen address>).
    #[arg(long, env = "ACCORD_BASE_URL")]
    pub base_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// A directory holding suppliers.csv, contracts.csv and/or spend.csv.
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Suppliers: supplier_ref,name,region,size_class[,status,risk_tier,payment_days,iban,bic].
    #[command(
        after_help = "Example:\n  accord import suppliers suppliers.csv\n\nColumns and an example file: docs/import.md"
    )]
    Suppliers(ImportArgs),
    /// Contracts, one row per contract price line: contract_ref,supplier_ref,category,
    /// currency,sku,unit_price,payment_days,lead_time_days,valid_from,valid_to[,state].
    #[command(
        after_help = "Example:\n  accord import contracts contracts.csv\n\nColumns and an example file: docs/import.md"
    )]
    Contracts(ImportArgs),
    /// Spend lines: line_ref,supplier_ref,date,category[,sku],description,quantity,amount,currency.
    #[command(
        after_help = "Example:\n  accord import spend spend-2026.csv\n\nColumns and an example file: docs/import.md"
    )]
    Spend(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The CSV file (UTF-8, comma-separated, with a header row).
    pub file: PathBuf,
    /// Check the file and report every bad row, but write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy directory (`.cedar` files and one `.cedarschema`) against its
    /// schema and Accord's vocabulary; prints every diagnostic and the set's hash.
    #[command(after_help = "Example:\n  accord policy check policies/default")]
    Check {
        /// The policy directory; the built-in default pack when omitted.
        dir: Option<PathBuf>,
    },
    /// Print the gate's verdict for one request, the deciding policies and their reasons.
    #[command(after_help = "\
Examples:
  accord policy explain --principal agent:negotiator --action negotiation.accept \\
      --resource-json deal.json
  accord policy explain --principal user:alice:treasurer --action payment.release \\
      --resource-json payment.json

The resource JSON carries what policies look at, e.g.
  {\"id\": \"negotiation/42\", \"amount\": {\"minor\": 1200000, \"currency\": \"EUR\"},
   \"category\": \"office-supplies\", \"region\": \"FR\",
   \"supplier\": {\"risk\": \"low\", \"size\": \"small\", \"new\": false},
   \"requester\": \"bob\", \"has_goods_receipt\": true}")]
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Who acts: `agent:KIND[@VERSION]` (negotiator, sourcing, sentinel, matcher) or
    /// `user:ID:ROLE[,ROLE…]` (requester, buyer, category_manager, approver, ap_clerk,
    /// treasurer, auditor, admin).
    #[arg(long)]
    pub principal: String,
    /// The action, such as negotiation.offer, negotiation.accept, contract.award,
    /// purchase_order.issue, invoice.approve_exception, payment.release, supplier.onboard,
    /// supplier.change_bank_details, autonomy.change, agents.pause.
    #[arg(long)]
    pub action: String,
    /// A JSON file describing the resource (`-` for standard input).
    #[arg(long)]
    pub resource_json: PathBuf,
    /// The policy directory; the built-in default pack when omitted.
    #[arg(long)]
    pub policies: Option<PathBuf>,
    /// The autonomy level of the resource's category.
    #[arg(long, default_value = "act_alone", value_parser = ["recommend_only", "act_with_review", "act_alone"])]
    pub autonomy: String,
    /// Evaluate as if the kill switch were on (every agent paused).
    #[arg(long)]
    pub paused: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every entry's hash link and every signed checkpoint. Exits non-zero and names
    /// the first bad sequence number when the log has been tampered with.
    Verify,
    /// Write the whole log to a file an auditor can re-verify without Accord
    /// (docs/audit.md gives the steps).
    #[command(after_help = "Example:\n  accord audit export --format jsonl --output audit.jsonl")]
    Export(ExportArgs),
    /// Check the read models (suppliers, contracts, spend, documents and decisions,
    /// tallies) against the log: replay every event into a scratch database and compare
    /// each row. Exits non-zero and lists the first rows that differ.
    #[command(after_help = "Example:\n  accord audit projections
  accord audit projections --json\n\nThe read models are derived from the log and not chained; `audit verify` proves the\nlog, this proves what was derived from it. The scratch database goes in a temporary\ndirectory and is removed afterwards; the live store is only read.")]
    Projections {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    pub format: ExportFormat,
    /// Output file; standard output when omitted.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Event-log append and verify throughput on SQLite (and PostgreSQL with --database-url).
    ///
    /// Each append scenario runs with negotiation moves (the log's hot path, no read-model
    /// row) and with spend lines (each with its `spend` projection row), `--runs` times,
    /// interleaved so that a slow minute hits every scenario alike. Batched: 10,000 events
    /// per transaction. Single: one event per transaction, one caller. Group commit:
    /// `--writers` concurrent callers with `synchronous=FULL`. PostgreSQL: four callers,
    /// one event per call (`full` and `normal` durability) and 100 per call, and the
    /// server's own rate for bare one-row commits beside them. SQLite's own rate for the
    /// same rows, prebuilt and inserted bare, runs beside Accord's too. The summary
    /// compares the median run of each with the store's targets, and with those floors:
    /// machines differ, the share of what the database itself does here much less.
    #[command(after_help = "Examples:
  accord bench store
  accord bench store --runs 5 --writers 4096
  accord --database-url postgres://postgres@127.0.0.1/test bench store")]
    Store(BenchStoreArgs),
    /// The CSV importer end to end: generate a spend file, import it into a fresh SQLite
    /// data dir, report lines per second and peak memory.
    #[command(after_help = "Example:\n  accord bench import --lines 1000000")]
    Import(BenchImportArgs),
    /// Round-robin negotiation tournament over Genius domains: quality and speed per agent.
    #[command(
        after_help = "Example:\n  accord bench negotiate --domains ../shared/data/genius --json tournament.json"
    )]
    Negotiate(BenchNegotiateArgs),
    /// Procure-to-pay end to end: seed orders and receipts through the flow, then post UBL
    /// invoices over HTTP to an in-process server and wait until the matcher has decided
    /// every one. SQLite in a scratch dir; PostgreSQL too with --database-url.
    #[command(after_help = "Example:
  accord bench p2p --invoices 5000
  accord --database-url postgres://postgres@127.0.0.1/test bench p2p")]
    P2p(BenchP2pArgs),
    /// Supplier-protocol throughput and latency over HTTP: a campaign over a generated
    /// enterprise in a scratch data dir, then light clients play the supplier side (every
    /// move a `reject`, which the buyer's agent answers with a fresh offer) for a fixed
    /// time. Prints moves/s and POST latency percentiles, then verifies the audit chain.
    #[command(after_help = "Example:
  accord bench protocol --suppliers 3000 --concurrency 64 --seconds 30")]
    Protocol(BenchProtocolArgs),
    /// Memory with many open negotiations: generate and import an enterprise, open one
    /// negotiation per supplier (a campaign over every active supplier), then make first
    /// supplier moves on a random sample through the negotiation host, so its cache evicts
    /// and rebuilds. Reports resident memory, time to open, moves/s and `audit verify`.
    /// SQLite only (--database-url is not used).
    #[command(after_help = "Examples:
  accord bench hold
  accord bench hold --negotiations 10000 --moves 2000 --dir /tmp/hold10k")]
    Hold(BenchHoldArgs),
}

#[derive(Debug, Args)]
pub struct BenchProtocolArgs {
    /// Suppliers in the generated enterprise; the campaign approaches every active one.
    #[arg(long, default_value_t = 3_000)]
    pub suppliers: usize,
    /// Concurrent clients, each playing one negotiation at a time.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// How long the clients play.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Data dir to build (a fresh temporary one by default; it must not exist yet).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchHoldArgs {
    /// Negotiations to hold open (one per supplier; the enterprise is generated larger,
    /// since some suppliers are inactive or under a long contract).
    #[arg(long, default_value_t = 100_000)]
    pub negotiations: u32,
    /// First supplier moves, each on a different open negotiation chosen at random.
    #[arg(long, default_value_t = 20_000)]
    pub moves: u32,
    /// Moves in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Negotiations the host keeps built in memory (its default unless set).
    #[arg(long)]
    pub cache_capacity: Option<usize>,
    /// Seed of the enterprise and of the sample.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Data dir to build in (a temporary one by default). An existing one that already
    /// holds the enterprise is reused: generation and import are skipped.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Internal: generate and import only (run as a child process, so that the
    /// measuring process never holds the generated enterprise).
    #[arg(long, hide = true)]
    pub setup_only: bool,
}

#[derive(Debug, Args)]
pub struct BenchP2pArgs {
    /// Invoices to post (one order, received in full, for each).
    #[arg(long, default_value_t = 5_000)]
    pub invoices: u64,
    /// Lines per invoice.
    #[arg(long, default_value_t = 3)]
    pub lines: u32,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

#[derive(Debug, Args)]
pub struct BenchStoreArgs {
    /// Events to append in each batched and group-commit run (a quarter of them in the
    /// single-event runs). Short runs read low: the first batch has nothing to overlap
    /// with, and a fresh WAL grows on new disk blocks until its first rewind.
    #[arg(long, default_value_t = 400_000)]
    pub events: u64,
    /// Runs of each append scenario, SQLite's and PostgreSQL's, each on a fresh file or
    /// schema; the summary takes the median run and shows the range (rates on a shared machine swing ±10% from one minute to
    /// the next).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub runs: u32,
    /// Entries in the log that `verify` is timed on.
    #[arg(long, default_value_t = 1_000_000)]
    pub verify_entries: u64,
    /// Concurrent callers in the group-commit scenario, each appending one event at a
    /// time.
    #[arg(long, default_value_t = 1024)]
    pub writers: usize,
    /// Scratch directory for the benchmark databases (a temporary one by default).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchImportArgs {
    /// Spend lines to generate and import.
    #[arg(long, default_value_t = 1_000_000)]
    pub lines: u64,
    /// Suppliers the lines are spread over.
    #[arg(long, default_value_t = 2_000)]
    pub suppliers: u64,
    /// Scratch directory (a temporary one by default).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchNegotiateArgs {
    /// A directory of Genius domains, one sub-directory each.
    #[arg(long)]
    pub domains: PathBuf,
    /// Rounds per negotiation (a round is one move by each side).
    #[arg(long, default_value_t = 100)]
    pub rounds: u32,
    /// Comma-separated agents: boulware, linear, conceder, tit-for-tat, micro, random, accord.
    #[arg(long, value_delimiter = ',')]
    pub agents: Option<Vec<String>>,
    /// Seed for every random choice; the same seed gives the same tournament.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Also write the per-agent table and every negotiation's record as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}
