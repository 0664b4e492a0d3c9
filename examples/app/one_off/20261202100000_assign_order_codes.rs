// Give every order a code computed by the application, four orders a step
//
// Checkpoints after each step: a killed run resumes with `oneoff run --retry`
// after the last committed step, which is never done again.
use diesel::prelude::*;
use oneoff::Context;

use crate::schema::orders;

const STEP: i32 = 4;

pub fn run(ctx: &mut Context) -> oneoff::ScriptResult {
    let count: i64 = orders::table.count().get_result(ctx.conn())?;
    ctx.set_total(count as u64);
    let mut after: i32 = ctx.cursor().unwrap_or(0);
    if after > 0 {
        ctx.log(format!("resuming after order {after}"));
    }
    loop {
        let ids: Vec<i32> = orders::table
            .filter(orders::id.gt(after))
            .order(orders::id.asc())
            .limit(STEP.into())
            .select(orders::id)
            .load(ctx.conn())?;
        let Some(&last) = ids.last() else {
            break;
        };
        for id in &ids {
            diesel::update(orders::table.find(id))
                .set(orders::code.eq(code_for(*id)))
                .execute(ctx.conn())?;
        }
        ctx.execute(&format!(
            "INSERT INTO steps (script, step) VALUES ('codes', {last})"
        ))?;
        ctx.advance(ids.len() as u64);
        after = last;
        ctx.checkpoint(&after)?;
        // The tests slow it down, to kill it between two checkpoints.
        if let Ok(ms) = std::env::var("ONEOFF_EXAMPLE_STEP_MS") {
            std::thread::sleep(std::time::Duration::from_millis(ms.parse()?));
        }
    }
    ctx.log(format!("codes given up to order {after}"));
    Ok(())
}

/// The application's own rule for an order's code.
fn code_for(id: i32) -> String {
    format!("ORD-{:05}", id * 7 % 100_000)
}
