// Reset the missing order totals to zero
// oneoff:timeout 10m
use diesel::RunQueryDsl;
use oneoff::Context;

pub fn run(ctx: &mut Context) -> oneoff::ScriptResult {
    let n = ctx.execute("UPDATE orders SET total = 0 WHERE total IS NULL")?;
    ctx.log(format!("reset {n} totals"));
    // Post-conditions, checked before the work commits.
    ctx.verify("SELECT id FROM orders WHERE total IS NULL")?;
    ctx.expect_rows(">=0")?;
    test_hooks(ctx)
}

/// What the tests make this script do after its update: panic, or break
/// the rules in ways oneoff must catch (its work is then never counted twice).
fn test_hooks(ctx: &mut Context) -> oneoff::ScriptResult {
    match std::env::var("ONEOFF_EXAMPLE_HOOK").as_deref() {
        Ok("panic") => panic!("asked to panic by ONEOFF_EXAMPLE_HOOK"),
        Ok("verify_fails") => {
            ctx.verify("SELECT id, total FROM orders WHERE total = 0")?;
        }
        Ok("expect_rows_fails") => {
            ctx.expect_rows("<=0")?;
        }
        Ok("execute_commit") => {
            ctx.execute("COMMIT")?;
        }
        Ok("conn_commit") => {
            diesel::sql_query("COMMIT").execute(ctx.conn())?;
        }
        Ok("conn_transaction") => {
            use diesel::Connection;
            ctx.conn().transaction(|conn| {
                diesel::sql_query("UPDATE orders SET total = 1 WHERE id = 1").execute(conn)
            })?;
        }
        Ok("external_then_fail") => {
            ctx.record_change("crm.contacts", &7, Some(&"old@example.com"), Some(&"new@example.com"))?;
            return Err("the CRM answered 500 after the update".into());
        }
        Ok("record_change_blank_target") => {
            ctx.record_change(" ", &7, None, Some("new@example.com"))?;
        }
        Ok("record_change_not_json") => {
            // A map with tuple keys: serde_json has no JSON for it.
            let value = std::collections::BTreeMap::from([((1, 2), "x")]);
            ctx.record_change("crm.contacts", &7, None, Some(&value))?;
        }
        Ok("conn_ledger") => {
            diesel::sql_query("UPDATE oneoff_ledger SET attempts = 99").execute(ctx.conn())?;
        }
        _ => {}
    }
    Ok(())
}
