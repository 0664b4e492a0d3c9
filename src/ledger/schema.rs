//! diesel `table!` declarations of the ledger tables. Their DDL lives in
//! `ledger_schema/<backend>/`; keep the two in step.

/// oneoff's other objects, which a script must not name either: the
/// PostgreSQL sequence that names a grouped script in flight.
pub const SEQUENCES: &[&str] = &["oneoff_in_flight"];

/// oneoff's own tables, which a script must never write nor name: the
/// backends' ledger guards and the script rules all read this one list, so a
/// new table is added here (SQLite's authorizer refuses every `oneoff_*`).
pub const TABLES: &[&str] = &[
    "oneoff_ledger",
    "oneoff_runs",
    "oneoff_lock",
    "oneoff_schema_migrations",
    "oneoff_output",
    "oneoff_invocations",
    "oneoff_approvals",
    "oneoff_changes",
    "oneoff_capture",
    "oneoff_cursors",
];

diesel::table! {
    /// One row per script: its latest outcome.
    oneoff_ledger (id) {
        id -> Text,
        name -> Text,
        checksum -> Text,
        status -> Text,
        attempts -> Integer,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        duration_ms -> Nullable<BigInt>,
        rows_affected -> Nullable<BigInt>,
        error -> Nullable<Text>,
        run_by -> Text,
        tool_version -> Text,
        note -> Nullable<Text>,
        batches -> Nullable<BigInt>,
        rows_total -> Nullable<BigInt>,
        committed -> Nullable<BigInt>,
        committed_checksum -> Nullable<Text>,
    }
}

diesel::table! {
    /// One row per attempt (and per dry run): the history, never overwritten.
    oneoff_runs (run_id, script_id) {
        run_id -> Text,
        script_id -> Text,
        status -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        duration_ms -> Nullable<BigInt>,
        rows_affected -> Nullable<BigInt>,
        error -> Nullable<Text>,
        run_by -> Text,
        dry_run -> Bool,
        note -> Nullable<Text>,
        batches -> Nullable<BigInt>,
        checksum -> Nullable<Text>,
    }
}

diesel::table! {
    /// Who holds the run lock, for the message a waiting runner prints.
    oneoff_lock (id) {
        id -> Integer,
        holder -> Text,
        pid -> Integer,
        acquired_at -> Timestamp,
    }
}

diesel::table! {
    /// Versions of `ledger_schema` applied to this database. oneoff keeps its
    /// own table so that it never mixes with the application's
    /// `__diesel_schema_migrations`.
    oneoff_schema_migrations (version) {
        version -> Text,
        run_on -> Timestamp,
    }
}

diesel::table! {
    /// What an attempt printed, a line each, in order: per-statement rows,
    /// database notices, a Rust script's log lines. Bounded per attempt; the
    /// last line says when the rest was cut.
    oneoff_output (run_id, script_id, seq) {
        run_id -> Text,
        script_id -> Text,
        seq -> Integer,
        kind -> Text,
        message -> Text,
    }
}

diesel::table! {
    /// One row per oneoff command that wrote the ledger: who, from where, as
    /// which database user, with which oneoff, on which environment.
    /// `oneoff_runs.run_id` points here.
    oneoff_invocations (run_id) {
        run_id -> Text,
        command -> Text,
        environment -> Nullable<Text>,
        os_user -> Text,
        host -> Text,
        db_user -> Nullable<Text>,
        tool_version -> Text,
        started_at -> Timestamp,
    }
}

diesel::table! {
    /// An approval of one version (checksum) of a script for one
    /// environment, by one person; never updated or deleted by oneoff.
    oneoff_approvals (run_id, script_id) {
        run_id -> Text,
        script_id -> Text,
        environment -> Text,
        checksum -> Text,
        approved_by -> Text,
        reason -> Text,
        approved_at -> Timestamp,
    }
}

diesel::table! {
    /// The change log of a revertible script (`-- oneoff:revertible`): each
    /// row it inserted, updated or deleted, in order, with its key and its
    /// values before and after as JSON text. Written in the script's own
    /// transaction; `oneoff revert` undoes them, last first.
    oneoff_changes (script_id, run_id, seq) {
        script_id -> Text,
        run_id -> Text,
        seq -> BigInt,
        table_name -> Text,
        op -> Text,
        row_key -> Text,
        old_values -> Nullable<Text>,
        new_values -> Nullable<Text>,
    }
}

diesel::table! {
    /// MySQL's staging of a running revertible script's changes, tagged with
    /// the capture's random id; emptied into `oneoff_changes` in the
    /// script's transaction. Unused on SQLite and PostgreSQL.
    oneoff_capture (seq) {
        seq -> BigInt,
        capture -> Text,
        table_name -> Text,
        op -> Text,
        row_key -> Text,
        old_values -> Nullable<Text>,
        new_values -> Nullable<Text>,
    }
}

diesel::table! {
    /// A Rust script's last committed checkpoint: the cursor (JSON) a retry
    /// resumes from, written in the same transaction as the work.
    oneoff_cursors (script_id) {
        script_id -> Text,
        run_id -> Text,
        cursor_json -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(oneoff_runs, oneoff_invocations);
