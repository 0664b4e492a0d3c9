//! `ctx.record_change` refusing what it cannot record: a blank target, a
//! value serde_json cannot write as JSON. The script gets the error, returns
//! it with `?`, and its attempt fails: its work rolls back and the change
//! log stays empty.

use crate::on_all_backends;
use crate::support::Project;

const CREATE: &str = "20261201090000";
const FILL: &str = "20261201100000";
const RESET: &str = "20261202090000";

on_all_backends!(
    record_change_with_a_blank_target_fails_the_script_and_changes_nothing,
    record_change_of_a_value_with_no_json_fails_the_script_and_changes_nothing,
);

/// Runs the reset script with `hook`; checks that it failed with `message`,
/// exit 1, its work rolled back and nothing in the change log.
fn fails_with(p: &Project, hook: &str, message: &str) {
    p.app(&["run", CREATE, FILL], &[]).code(0);
    let missing = "SELECT COUNT(*) AS n FROM orders WHERE total IS NULL";
    let before = p.db.count(missing);
    assert!(before > 0);
    p.app(&["run", RESET], &[("ONEOFF_EXAMPLE_HOOK", hook)])
        .code(1)
        .stderr_has(message);
    assert_eq!(p.db.count(missing), before, "the update rolled back");
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_changes"), 0);
    assert_eq!(
        p.db.lines(&format!(
            "SELECT status AS line FROM oneoff_ledger WHERE id = '{RESET}'"
        )),
        ["failed"]
    );
    let error = p.db.lines(&format!(
        "SELECT error AS line FROM oneoff_ledger WHERE id = '{RESET}'"
    ));
    assert!(error[0].contains(message), "{error:?}");
    // Fixed, it runs once.
    p.app(&["run", RESET, "--retry"], &[]).code(0);
    assert_eq!(p.db.count(missing), 0);
}

fn record_change_with_a_blank_target_fails_the_script_and_changes_nothing(p: Project) {
    fails_with(
        &p,
        "record_change_blank_target",
        "ctx.record_change needs the name of what changed",
    );
}

fn record_change_of_a_value_with_no_json_fails_the_script_and_changes_nothing(p: Project) {
    fails_with(
        &p,
        "record_change_not_json",
        "the new value of the change to crm.contacts cannot be saved as JSON",
    );
}
