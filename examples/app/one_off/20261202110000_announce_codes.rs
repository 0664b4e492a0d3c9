// Tell the team the order codes are ready, once the data change committed
use oneoff::Context;

pub fn run(ctx: &mut Context) -> oneoff::ScriptResult {
    let n = ctx.execute("INSERT INTO steps (script, step) VALUES ('announce', 1)")?;
    ctx.log(format!("announced {n} time(s)"));
    // What goes out is outside the database: recorded in the change log
    // (`oneoff changes`), since `oneoff revert` could never take it back.
    ctx.record_change("outbox", "order-codes", None, Some("order codes are ready"))?;
    // The message goes out only after the commit: a rolled-back or dry run sends nothing.
    let outbox = std::env::var("ONEOFF_EXAMPLE_OUTBOX").ok();
    let fail = std::env::var("ONEOFF_EXAMPLE_EFFECT_FAIL").is_ok();
    ctx.after_commit(move || {
        if fail {
            return Err("the mail server refused the message".into());
        }
        if let Some(path) = outbox {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
            writeln!(file, "order codes are ready")?;
        }
        Ok(())
    });
    Ok(())
}
