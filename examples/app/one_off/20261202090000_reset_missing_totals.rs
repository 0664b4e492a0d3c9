// Reset the missing order totals to zero
// oneoff:timeout 10m
use oneoff::Context;

pub fn run(ctx: &mut Context) -> oneoff::ScriptResult {
    let n = ctx.execute("UPDATE orders SET total = 0 WHERE total IS NULL")?;
    ctx.log(format!("reset {n} totals"));
    // The tests make it panic after its update, to see the update rolled back.
    if std::env::var("ONEOFF_EXAMPLE_PANIC").as_deref() == Ok("reset_missing_totals") {
        panic!("asked to panic by ONEOFF_EXAMPLE_PANIC");
    }
    Ok(())
}
