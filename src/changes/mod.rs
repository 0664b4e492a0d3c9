//! The change log of revertible scripts, for people: `oneoff changes`
//! lists what a script changed, [`revert`] undoes it.

pub mod revert;
mod undo;

use serde::Serialize;
use serde_json::Value;

use crate::db::{DatabaseUrl, Db};
use crate::error::{Error, Result};
use crate::ledger::{self, changes::ChangeRow};

pub use revert::{revert, Conflict, RevertOptions, RevertReport};

/// One row a script changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The table.
    pub table: String,
    /// `insert`, `update` or `delete`.
    pub op: String,
    /// Its primary key.
    pub key: Value,
    /// The row before (`null` for an insert).
    pub old: Option<Value>,
    /// The row after (`null` for a delete).
    pub new: Option<Value>,
}

impl Change {
    pub(crate) fn from_row(row: &ChangeRow) -> Change {
        let parse =
            |text: &str| serde_json::from_str(text).unwrap_or(Value::String(text.to_string()));
        Change {
            table: row.table_name.clone(),
            op: row.op.clone(),
            key: parse(&row.row_key),
            old: row.old_values.as_deref().map(parse),
            new: row.new_values.as_deref().map(parse),
        }
    }
}

/// Options of `oneoff changes`.
#[derive(Debug, Clone)]
pub struct ChangesOptions {
    /// The target database.
    pub database: DatabaseUrl,
    /// The script.
    pub id: String,
    /// Show at most this many (the total is counted anyway).
    pub limit: Option<i64>,
}

/// What `oneoff changes` shows.
#[derive(Debug, Clone, Serialize)]
pub struct ChangesReport {
    /// Script id.
    pub script: String,
    /// The attempt that made them, if any did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The changes, in the order the script made them.
    pub changes: Vec<Change>,
    /// How many there are in all.
    pub total: i64,
}

/// Lists the changes a revertible script recorded (its latest attempt's);
/// reads only, without the run lock.
pub fn changes(opts: &ChangesOptions) -> Result<ChangesReport> {
    if opts.database.sqlite_path().is_some_and(|p| !p.exists()) {
        return Err(no_ledger(&opts.id));
    }
    let mut db = Db::open(&opts.database)?;
    let database = opts.database.redacted();
    let ledger_err = |e: diesel::result::Error| Error::Ledger {
        database: database.clone(),
        message: opts.database.scrub(&e.to_string()),
    };
    if !ledger::table_exists(&mut db.conn, "oneoff_changes").map_err(ledger_err)? {
        return Err(no_ledger(&opts.id));
    }
    if ledger::row(&mut db.conn, &opts.id)
        .map_err(ledger_err)?
        .is_none()
    {
        return Err(Error::UnknownIds(vec![opts.id.clone()]));
    }
    let Some(run_id) = ledger::changes::latest_run(&mut db.conn, &opts.id).map_err(ledger_err)?
    else {
        return Ok(ChangesReport {
            script: opts.id.clone(),
            run_id: None,
            changes: Vec::new(),
            total: 0,
        });
    };
    let rows =
        ledger::changes::load(&mut db.conn, &opts.id, &run_id, opts.limit).map_err(ledger_err)?;
    let total = ledger::changes::count(&mut db.conn, &opts.id, &run_id).map_err(ledger_err)?;
    Ok(ChangesReport {
        script: opts.id.clone(),
        run_id: Some(run_id),
        changes: rows.iter().map(Change::from_row).collect(),
        total,
    })
}

fn no_ledger(id: &str) -> Error {
    Error::UnknownIds(vec![id.to_string()])
}
