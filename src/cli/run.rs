//! `oneoff run [ID...]`: runs pending scripts (or only the ids given), or
//! rehearses them with `--dry-run`.

use std::time::Duration;

use std::sync::atomic::{AtomicUsize, Ordering};

use oneoff::error::{EXIT_CANCELLED, EXIT_FAILED, EXIT_OK};
use oneoff::runner::CancelToken;
use oneoff::{Error, RunEvent, RunOptions};

use oneoff::config::Target;
use oneoff::protect::{PreviewOptions, Rules};
use oneoff::Selection;

use super::confirm::{confirm, ConfirmArg};
use super::{parse_duration, GlobalArgs};
use crate::progress::Progress;
use crate::render;

/// Arguments of `oneoff run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Run only these scripts (14-digit ids), in id order.
    #[arg(value_name = "ID")]
    ids: Vec<String>,

    /// Re-attempt failed and interrupted scripts (in id order) before the pending ones.
    #[arg(long)]
    retry: bool,

    /// Execute each script in a transaction that is always rolled back and report the rows it
    /// would change; the ledger rows are not touched (the attempt is kept in the history).
    #[arg(long)]
    dry_run: bool,

    /// Print a JSON summary instead of the human lines.
    #[arg(long)]
    pub json: bool,

    /// Print nothing but errors (and the JSON summary with --json); no progress.
    #[arg(long, short)]
    quiet: bool,

    /// How long to wait for another runner's lock (e.g. 30s, 2m) [default: the environment's
    /// lock_timeout, else 60s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    lock_timeout: Option<Duration>,

    /// Stop and roll back a script that runs longer than this (e.g. 30s, 5m); it is recorded
    /// `failed` with "timeout after …" [default: the environment's timeout]. A script's
    /// `oneoff:timeout` directive overrides it.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,

    #[command(flatten)]
    confirm: ConfirmArg,

    /// Sleep this long between the batches of batched scripts, so production keeps breathing
    /// (the longer of this and a script's `oneoff:pause` directive applies).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pause: Option<Duration>,

    /// Stop a batched script (recorded failed; `--retry` continues) after this many batches in
    /// one run, in case its statement never reaches a batch that changes no rows.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_batches: Option<u64>,

    /// Run the named scripts (IDs required) once more although `oneoff revert` undid them.
    #[arg(long, requires = "ids", requires = "reason")]
    again: bool,

    /// Why a reverted script runs again (with --again; kept in the history with who and when).
    #[arg(long, value_name = "TEXT", requires = "again")]
    reason: Option<String>,
}

pub fn handle(args: &RunArgs, global: &GlobalArgs) -> Result<i32, Error> {
    let target = global.target()?;
    let runner = oneoff::identity::Identity::current().user;
    let env = target.environment.as_ref();
    if let (true, Some(reason)) = (args.again, args.reason.as_deref()) {
        crate::error::reason(
            reason,
            "why the reverted script runs again",
            "price list fixed (ticket DATA-12)",
        )?;
    }
    let opts = RunOptions {
        database: target.url.clone(),
        dir: target.dir.clone(),
        scripts: global.scripts,
        ids: args.ids.clone(),
        retry: args.retry,
        dry_run: args.dry_run,
        lock_timeout: super::lock_timeout(args.lock_timeout, &target),
        timeout: args
            .timeout
            .or(env.and_then(|e| e.timeout))
            .filter(|t| !t.is_zero()),
        cancel: CancelToken::default(),
        pause: args.pause,
        max_batches: args.max_batches,
        environment: target.environment_name().map(str::to_string),
        gate: env.and_then(|e| Rules::of(e, &runner)),
        again: args.reason.clone().filter(|_| args.again),
    };
    if !args.dry_run {
        review_and_confirm(&opts, &target, args)?;
    }
    stop_on_signals(&opts.cancel);
    let human = !args.json && !args.quiet;
    let place = render::place(&opts.database.redacted(), opts.environment.as_deref());
    let mut progress = Progress::new(!args.quiet);
    let report = oneoff::run(&opts, &mut |event| match event {
        RunEvent::Start {
            database,
            scripts,
            dry_run,
        } if human => {
            let _ = database;
            println!("{}", render::run_start(&place, scripts, dry_run));
        }
        RunEvent::ScriptStarted {
            index,
            of,
            id,
            name,
        } => progress.script_started(index, of, id, name),
        RunEvent::Batch {
            batches,
            rows_done,
            rows_total,
            elapsed,
            ..
        } => progress.batch(batches, rows_done, rows_total, elapsed),
        RunEvent::ScriptFinished(outcome) => {
            progress.script_finished();
            if human {
                println!("{}", render::run_line(outcome));
            }
        }
        _ => {}
    })?;
    drop(progress);
    if args.json {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        if let Err(e) = render::write_run_json(&report, &mut out) {
            tracing::warn!("could not write the report: {e}");
        }
    } else if let Some(line) = render::run_summary(&report).filter(|_| human) {
        println!("{line}");
    }
    if report.cancelled {
        let partly = report.scripts.iter().any(|s| s.cancelled() && s.partial);
        if partly {
            eprintln!("error: cancelled by a signal; the script in flight runs without a transaction: the statements before the stopped one stay committed (see above)");
        } else {
            eprintln!(
                "error: cancelled by a signal; the script in flight was rolled back (see above)"
            );
        }
        return Ok(EXIT_CANCELLED);
    }
    match report.failure() {
        Some(failed) => {
            let hint = if failed.connection_lost && failed.partial {
                "the connection died in a statement that runs without a transaction, so whether it committed is \
                 unknown: check the data, then `oneoff mark` or `oneoff skip` (`--retry` refuses to guess)"
            } else if failed.connection_lost {
                "a transaction whose connection dies before its commit is rolled back by the database, and the \
                 failure was recorded on a new connection where possible; if it died during the commit, \
                 `oneoff status` shows whether the script succeeded; `oneoff run --retry` runs a failed one again"
            } else if failed.partial {
                "part of its work is committed and stays so (see the error above for which part): `oneoff run --retry` \
                 resumes after the statements that committed when the ledger knows them, and otherwise refuses until \
                 you `oneoff mark` or `oneoff skip` it"
            } else if report.dry_run {
                "fix the script and dry-run it again"
            } else {
                "its transaction was rolled back; fix the script, then `oneoff run --retry`"
            };
            eprintln!(
                "error: script {} ({}) failed: {}\nhint: {hint}",
                failed.id,
                failed.name,
                failed.error.as_deref().unwrap_or("unknown error")
            );
            Ok(EXIT_FAILED)
        }
        None => Ok(effects_failed(&report)),
    }
}

/// On a protected environment: refuses scripts the gate does not clear
/// before asking anything, then shows what will run (checksums, approvals,
/// the last dry run) and asks for the environment's name. The runner checks
/// the gate again under the run lock.
fn review_and_confirm(opts: &RunOptions, target: &Target, args: &RunArgs) -> Result<(), Error> {
    if !target.protected() {
        return Ok(());
    }
    let reviews = match &opts.gate {
        Some(rules) => oneoff::protect::preview(&PreviewOptions {
            database: opts.database.clone(),
            dir: opts.dir.clone(),
            selection: Selection {
                ids: opts.ids.clone(),
                retry: opts.retry,
                again: opts.again.is_some(),
            },
            rules: rules.clone(),
            scripts: opts.scripts,
        })?,
        None => Vec::new(),
    };
    if reviews.is_empty() {
        // Nothing to run (or scripts that block the run): the run says so.
        return Ok(());
    }
    oneoff::protect::refuse_missing(&reviews, target.environment_name().unwrap_or_default())?;
    eprint!("{}", render::audit::review(&reviews));
    let noun = if reviews.len() == 1 {
        "script"
    } else {
        "scripts"
    };
    confirm(
        target,
        args.confirm.confirm.as_deref(),
        &format!("run {} {noun}", reviews.len()),
    )
}

/// A run whose scripts succeeded but an after-commit effect of one failed
/// exits 1 too: the effect is not run again, so a person must know.
fn effects_failed(report: &oneoff::RunReport) -> i32 {
    let mut code = EXIT_OK;
    for script in report.scripts.iter().filter(|s| s.effects_failed > 0) {
        let failed = script
            .output
            .iter()
            .filter(|l| l.message.contains(" failed: "));
        for line in failed {
            eprintln!(
                "error: script {} ({}): {}",
                script.id, script.name, line.message
            );
        }
        eprintln!("hint: its data change is committed and stays; the effect is never run again: do by hand what it should have done");
        code = EXIT_FAILED;
    }
    code
}

/// The first Ctrl-C or SIGTERM stops the script in flight (rolled back) and
/// the run; a second one exits at once.
fn stop_on_signals(token: &CancelToken) {
    static SIGNALS: AtomicUsize = AtomicUsize::new(0);
    let token = token.clone();
    let installed = ctrlc::set_handler(move || {
        if SIGNALS.fetch_add(1, Ordering::SeqCst) == 0 {
            eprintln!(
                "stopping: rolling back the script in flight; press Ctrl-C again to exit at once"
            );
            token.cancel();
        } else {
            std::process::exit(EXIT_CANCELLED);
        }
    });
    if let Err(e) = installed {
        tracing::warn!("cannot handle Ctrl-C/SIGTERM: {e}");
    }
}
