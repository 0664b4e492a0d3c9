//! When a group of scripts sharing one transaction commits (see
//! [`work::grouped`]), and how its scripts are reported: when it commits,
//! and never before. A group that ended otherwise is settled from the
//! ledger: a script whose row says it succeeded in this attempt committed;
//! any other was rolled back with its group and is pending again.

use super::attempt::{defers_claim, Ctx, Job};
use super::outcome::ScriptOutcome;
use super::work::{self, grouped};
use super::RunEvent;
use crate::error::{Error, Result};
use crate::ledger::{self, Status};

/// After a script succeeded in the open group (`held`): commits the group
/// unless `next` can join it.
pub(crate) fn after_held(
    ctx: &mut Ctx<'_>,
    job: &Job<'_>,
    next: Option<&Job<'_>>,
    held: &mut Vec<ScriptOutcome>,
    outcomes: &mut Vec<ScriptOutcome>,
) -> Result<()> {
    // How long a group stays open for more scripts: other writers wait at
    // most this long (plus a script) for the locks its scripts took.
    let window = ctx.db.engine.group_window();
    let young = ctx
        .group
        .as_ref()
        .is_some_and(|g| g.opened.elapsed() < window);
    // A job whose claim commits with its work runs in the group.
    let joins = next.is_some_and(|n| defers_claim(ctx, n));
    if young && joins && !grouped::ends_group(job) && !ctx.watchdog.cancelled() {
        return Ok(());
    }
    end(ctx, held, outcomes)
}

/// Ends the group: commits it if it is still open, and reports its scripts.
pub(crate) fn end(
    ctx: &mut Ctx<'_>,
    held: &mut Vec<ScriptOutcome>,
    outcomes: &mut Vec<ScriptOutcome>,
) -> Result<()> {
    let committed = match ctx.group.take() {
        Some(_) if grouped::in_tx(ctx.db) => {
            let sql = ctx.db.engine.commit_group_sql();
            diesel::connection::SimpleConnection::batch_execute(&mut ctx.db.conn, &sql)
        }
        Some(_) => Err(diesel::result::Error::RollbackTransaction),
        None if held.is_empty() => return Ok(()),
        // Ended by a failure recorded in it (committed), or rolled back.
        None => return settle(ctx, held, outcomes),
    };
    match committed {
        Ok(()) => {
            clear_marker(ctx);
            // What only a session outside a transaction can put back
            // (attached databases, pragmas) is put back now.
            if let Err(e) = ctx.db.engine.end_of_group(&mut ctx.db.conn) {
                tracing::warn!("could not put the session back after a group of scripts: {e}");
            }
            for out in held.drain(..) {
                report(ctx, out, outcomes);
            }
            Ok(())
        }
        Err(e) => {
            work::rollback(ctx.db);
            settle(ctx, held, outcomes)?;
            Err(Error::Ledger {
                database: ctx.database.to_string(),
                message: format!(
                    "the transaction of a group of scripts did not commit ({e}); they were rolled back and are pending again"
                ),
            })
        }
    }
}

/// Reports the held scripts that committed, from their rows.
fn settle(
    ctx: &mut Ctx<'_>,
    held: &mut Vec<ScriptOutcome>,
    outcomes: &mut Vec<ScriptOutcome>,
) -> Result<()> {
    for out in std::mem::take(held) {
        let row = ledger::row(&mut ctx.db.conn, &out.id).map_err(|e| Error::Ledger {
            database: ctx.database.to_string(),
            message: ctx.url.scrub(&e.to_string()),
        })?;
        let committed = row
            .is_some_and(|r| r.status == Status::Succeeded.as_str() && r.attempts == out.attempts);
        if committed {
            report(ctx, out, outcomes);
        } else {
            tracing::warn!(id = %out.id, name = %out.name, "rolled back with the scripts of its transaction; it is pending again");
        }
    }
    clear_marker(ctx);
    Ok(())
}

fn report(ctx: &mut Ctx<'_>, mut out: ScriptOutcome, outcomes: &mut Vec<ScriptOutcome>) {
    out.held = false;
    (ctx.observe)(RunEvent::ScriptFinished(&out));
    outcomes.push(out);
}

fn clear_marker(ctx: &mut Ctx<'_>) {
    if let Err(e) = ctx.db.engine.set_in_flight(&mut ctx.db.conn, None) {
        tracing::warn!("could not clear the in-flight marker: {e}");
    }
}
