//! Unit tests of the planning step: no database, no files.

use super::*;
use crate::script::{Directives, Script};

fn script(id: &str, checksum: &str) -> Script {
    Script {
        kind: crate::script::ScriptKind::Sql,
        id: id.into(),
        name: format!("s{id}"),
        path: format!("one_off/{id}_s{id}.sql").into(),
        checksum: checksum.into(),
        description: String::new(),
        directives: Directives::default(),
        text: Some("select 1;".into()),
    }
}

fn row(id: &str, status: &str, checksum: &str) -> LedgerRow {
    LedgerRow {
        id: id.into(),
        name: format!("s{id}"),
        checksum: checksum.into(),
        status: status.into(),
        attempts: 1,
        error: Some("boom".into()),
        run_by: "me@here".into(),
        tool_version: "0".into(),
        ..LedgerRow::default()
    }
}

fn ids(selected: &[&PlanEntry]) -> Vec<String> {
    selected.iter().map(|e| e.id.clone()).collect()
}

const A: &str = "20260101000000";
const B: &str = "20260102000000";
const C: &str = "20260103000000";

#[test]
fn pending_scripts_run_in_id_order() {
    let plan = Plan::build(vec![script(C, "c"), script(A, "a"), script(B, "b")], vec![]).unwrap();
    let selected = plan.select(&Selection::default()).unwrap();
    assert_eq!(ids(&selected), [A, B, C]);
}

#[test]
fn files_and_rows_given_in_any_order_join_by_id() {
    let plan = Plan::build(
        vec![script(C, "c"), script(A, "a")],
        vec![row(C, "succeeded", "c"), row(B, "succeeded", "b")],
    )
    .unwrap();
    let joined: Vec<_> = plan
        .entries
        .iter()
        .map(|e| (e.id.as_str(), e.script.is_some(), e.row.is_some()))
        .collect();
    assert_eq!(
        joined,
        [(A, true, false), (B, false, true), (C, true, true)]
    );
    assert!(plan.entries[1].missing);
}

#[test]
fn succeeded_scripts_are_not_selected_again() {
    let plan = Plan::build(
        vec![script(A, "a"), script(B, "b")],
        vec![row(A, "succeeded", "a")],
    )
    .unwrap();
    assert_eq!(ids(&plan.select(&Selection::default()).unwrap()), [B]);
}

#[test]
fn asking_for_a_succeeded_script_by_id_is_refused() {
    let plan = Plan::build(vec![script(A, "a")], vec![row(A, "succeeded", "a")]).unwrap();
    let err = plan
        .select(&Selection {
            ids: vec![A.into()],
            retry: true,
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyDone { .. }), "{err:?}");
    assert_eq!(err.exit_code(), 3);
}

#[test]
fn a_failed_script_blocks_the_run_without_retry() {
    let plan = Plan::build(
        vec![script(A, "a"), script(B, "b")],
        vec![row(A, "failed", "a")],
    )
    .unwrap();
    let err = plan.select(&Selection::default()).unwrap_err();
    match err {
        Error::Blocked(blockers) => {
            assert_eq!(blockers.len(), 1);
            assert_eq!(blockers[0].id, A);
            assert_eq!(blockers[0].error.as_deref(), Some("boom"));
        }
        other => panic!("expected Blocked, got {other:?}"),
    }
}

#[test]
fn retry_runs_failed_and_interrupted_first_then_pending() {
    let scripts = [script(A, "a"), script(B, "b"), script(C, "c")];
    let rows = [row(B, "interrupted", "b"), row(C, "failed", "c")];
    let plan = Plan::build(scripts.into(), rows.into()).unwrap();
    let selected = plan
        .select(&Selection {
            ids: vec![],
            retry: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&selected), [B, C, A]);
}

#[test]
fn explicit_ids_limit_the_selection_and_ignore_unrelated_failures() {
    let plan = Plan::build(
        vec![script(A, "a"), script(B, "b"), script(C, "c")],
        vec![row(A, "failed", "a")],
    )
    .unwrap();
    let selected = plan
        .select(&Selection {
            ids: vec![C.into()],
            retry: false,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&selected), [C]);
}

#[test]
fn unknown_ids_are_reported_before_anything_else() {
    let plan = Plan::build(vec![script(A, "a")], vec![row(A, "succeeded", "a")]).unwrap();
    let err = plan
        .select(&Selection {
            ids: vec![A.into(), "20990101000000".into()],
            retry: false,
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownIds(ids) if ids == &["20990101000000".to_string()]),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn a_changed_file_of_a_succeeded_script_is_modified_but_not_rerun() {
    let plan = Plan::build(vec![script(A, "new")], vec![row(A, "succeeded", "old")]).unwrap();
    assert!(plan.entries[0].modified);
    assert_eq!(plan.modified().count(), 1);
    assert!(plan.select(&Selection::default()).unwrap().is_empty());
}

#[test]
fn a_changed_file_of_a_failed_script_is_not_called_modified() {
    let plan = Plan::build(vec![script(A, "new")], vec![row(A, "failed", "old")]).unwrap();
    assert!(!plan.entries[0].modified);
}

#[test]
fn ledger_rows_without_a_file_are_missing() {
    let plan = Plan::build(vec![script(B, "b")], vec![row(A, "succeeded", "a")]).unwrap();
    assert_eq!(plan.entries.len(), 2);
    assert!(plan.entries[0].missing);
    assert_eq!(plan.entries[0].name, format!("s{A}"));
    assert!(!plan.entries[1].missing);
    let summary = plan.summary();
    assert_eq!(summary.missing, 1);
    assert_eq!(summary.by_status.get("pending"), Some(&1));
}

#[test]
fn retrying_a_failed_script_whose_file_is_gone_is_an_error() {
    let plan = Plan::build(vec![], vec![row(A, "failed", "a")]).unwrap();
    let err = plan
        .select(&Selection {
            ids: vec![],
            retry: true,
            ..Default::default()
        })
        .unwrap_err();
    assert!(err.to_string().contains("file is gone"), "{err}");
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn an_unknown_status_word_is_reported() {
    let err = Plan::build(vec![], vec![row(A, "exploded", "a")]).unwrap_err();
    assert_eq!(err.status, "exploded");
}

#[test]
fn skipped_scripts_never_run() {
    let plan = Plan::build(vec![script(A, "a")], vec![row(A, "skipped", "a")]).unwrap();
    assert!(plan.select(&Selection::default()).unwrap().is_empty());
}

#[test]
fn a_pending_script_older_than_a_succeeded_one_is_out_of_order() {
    let plan = Plan::build(
        vec![script(A, "a"), script(B, "b"), script(C, "c")],
        vec![row(B, "succeeded", "b")],
    )
    .unwrap();
    let late: Vec<&str> = plan
        .out_of_order()
        .iter()
        .map(|l| l.entry.id.as_str())
        .collect();
    assert_eq!(late, vec![A]);
    assert_eq!(plan.out_of_order()[0].after.id, B);
    let none = Plan::build(vec![script(A, "a")], vec![]).unwrap();
    assert!(none.out_of_order().is_empty());
}

#[test]
fn join_pairs_files_and_rows_given_in_any_order_by_id() {
    // Rows come from the ledger in the order they were written: a script
    // merged late is written after newer ones.
    let scripts = [script(A, "a"), script(B, "b")];
    let rows = [row(C, "succeeded", "c"), row(A, "succeeded", "a")];
    let joined: Vec<_> = join(&scripts, &rows)
        .map(|(s, r)| (s.map(|s| s.id.as_str()), r.map(|r| r.id.as_str())))
        .collect();
    assert_eq!(
        joined,
        [(Some(A), Some(A)), (Some(B), None), (None, Some(C))]
    );
}
