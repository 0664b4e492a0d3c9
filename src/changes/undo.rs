//! Undoing one recorded change, per backend: read the row as it is now (to
//! compare with what the script left), delete an inserted row, put back an
//! updated or deleted one. Values come from the recorded JSON, bound as one
//! parameter and taken apart in SQL, so that every value keeps its type.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use serde_json::{Map, Value};

use crate::capture::quoted;
use crate::db::{AnyConnection, Backend};
use crate::script::revertible::TableName;

/// SQL for one table on one backend.
pub(super) struct Table {
    backend: Backend,
    /// The table, quoted.
    sql: String,
}

fn mysql_quoted(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

impl Table {
    pub(super) fn new(backend: Backend, name: &str) -> Table {
        let table = TableName::parse(name).unwrap_or(TableName {
            schema: None,
            name: name.to_string(),
        });
        let quote = if backend == Backend::Mysql {
            mysql_quoted
        } else {
            quoted
        };
        Table {
            backend,
            sql: crate::capture::quoted_table(&table, quote),
        }
    }

    fn quote(&self, column: &str) -> String {
        match self.backend {
            Backend::Mysql => mysql_quoted(column),
            _ => quoted(column),
        }
    }

    /// Column `column` of the JSON object bound as parameter `n`.
    fn value(&self, n: usize, column: &str) -> String {
        let path = crate::db::literal(&format!("$.\"{}\"", column.replace('"', "\\\"")));
        match self.backend {
            Backend::Sqlite => format!("json_extract(?{n}, {path})"),
            Backend::Postgres => format!(
                "(pg_catalog.jsonb_populate_record(NULL::{}, ${n}::jsonb)).{}",
                self.sql,
                self.quote(column)
            ),
            Backend::Mysql => format!(
                "(CASE WHEN JSON_TYPE(JSON_EXTRACT(@oneoff_p{n}, {path})) = 'NULL' THEN NULL \
                 ELSE JSON_UNQUOTE(JSON_EXTRACT(@oneoff_p{n}, {path})) END)"
            ),
        }
    }

    fn key_condition(&self, n: usize, key: &Map<String, Value>) -> String {
        let terms: Vec<String> = key
            .keys()
            .map(|c| format!("{} = {}", self.quote(c), self.value(n, c)))
            .collect();
        terms.join(" AND ")
    }

    fn row_json(&self, columns: &[&String]) -> String {
        let pairs = |q: &dyn Fn(&str) -> String| {
            columns
                .iter()
                .map(|c| format!("{}, {}", crate::db::literal(c), q(c)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.backend {
            Backend::Sqlite => format!("json_object({})", pairs(&|c| quoted(c))),
            Backend::Postgres => "to_jsonb(oneoff_row)::text".into(),
            Backend::Mysql => format!("CAST(JSON_OBJECT({}) AS CHAR)", pairs(&|c| mysql_quoted(c))),
        }
    }

    /// The row at `key` now, as a JSON object of `like`'s columns.
    pub(super) fn current(
        &self,
        conn: &mut AnyConnection,
        key: &Value,
        like: &Value,
    ) -> QueryResult<Option<Value>> {
        let (Some(key_map), Some(columns)) = (key.as_object(), like.as_object()) else {
            return Ok(None);
        };
        let columns: Vec<&String> = columns.keys().collect();
        let lock = if self.backend == Backend::Sqlite {
            ""
        } else {
            " FOR UPDATE"
        };
        let sql = format!(
            "SELECT {} AS j FROM {} AS oneoff_row WHERE {}{lock}",
            self.row_json(&columns),
            self.sql,
            self.key_condition(1, key_map)
        );
        let key_text = key.to_string();
        let rows = self.query(conn, &sql, &key_text)?;
        Ok(rows
            .into_iter()
            .next()
            .flatten()
            .map(|j| serde_json::from_str(&j).unwrap_or(Value::String(j))))
    }

    /// Deletes the row at `key`.
    pub(super) fn delete(&self, conn: &mut AnyConnection, key: &Value) -> QueryResult<usize> {
        let Some(key_map) = key.as_object() else {
            return Ok(0);
        };
        let sql = format!(
            "DELETE FROM {} WHERE {}",
            self.sql,
            self.key_condition(1, key_map)
        );
        let key_text = key.to_string();
        self.execute(conn, &sql, &[&key_text])
    }

    /// Sets the row at `key` to `row`.
    pub(super) fn update(
        &self,
        conn: &mut AnyConnection,
        key: &Value,
        row: &Value,
    ) -> QueryResult<usize> {
        let (Some(key_map), Some(row_map)) = (key.as_object(), row.as_object()) else {
            return Ok(0);
        };
        let sets: Vec<String> = row_map
            .keys()
            .map(|c| format!("{} = {}", self.quote(c), self.value(2, c)))
            .collect();
        let sql = format!(
            "UPDATE {} SET {} WHERE {}",
            self.sql,
            sets.join(", "),
            self.key_condition(1, key_map)
        );
        let (key_text, row_text) = (key.to_string(), row.to_string());
        self.execute(conn, &sql, &[&key_text, &row_text])
    }

    /// Inserts `row`.
    pub(super) fn insert(&self, conn: &mut AnyConnection, row: &Value) -> QueryResult<usize> {
        let Some(row_map) = row.as_object() else {
            return Ok(0);
        };
        let columns: Vec<String> = row_map.keys().map(|c| self.quote(c)).collect();
        let values: Vec<String> = row_map.keys().map(|c| self.value(1, c)).collect();
        let overriding = if self.backend == Backend::Postgres {
            " OVERRIDING SYSTEM VALUE"
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO {} ({}){overriding} VALUES ({})",
            self.sql,
            columns.join(", "),
            values.join(", ")
        );
        let row_text = row.to_string();
        self.execute(conn, &sql, &[&row_text])
    }

    /// Sets MySQL's parameter variables `@oneoff_p1`, `@oneoff_p2`
    /// (its placeholders cannot be referred to twice).
    fn set_variables(&self, conn: &mut AnyConnection, params: &[&String]) -> QueryResult<()> {
        for (i, param) in params.iter().enumerate() {
            diesel::sql_query(format!("SET @oneoff_p{} = ?", i + 1))
                .bind::<Text, _>(param.as_str())
                .execute(conn)?;
        }
        Ok(())
    }

    /// Runs a statement with `params` bound as parameters 1 and 2.
    fn execute(
        &self,
        conn: &mut AnyConnection,
        sql: &str,
        params: &[&String],
    ) -> QueryResult<usize> {
        if self.backend == Backend::Mysql {
            self.set_variables(conn, params)?;
            return diesel::sql_query(sql).execute(conn);
        }
        match params {
            [a] => diesel::sql_query(sql)
                .bind::<Text, _>(a.as_str())
                .execute(conn),
            [a, b] => diesel::sql_query(sql)
                .bind::<Text, _>(a.as_str())
                .bind::<Text, _>(b.as_str())
                .execute(conn),
            _ => diesel::sql_query(sql).execute(conn),
        }
    }

    /// Runs a query of one text column `j` with one parameter.
    fn query(
        &self,
        conn: &mut AnyConnection,
        sql: &str,
        param: &String,
    ) -> QueryResult<Vec<Option<String>>> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Nullable<Text>)]
            j: Option<String>,
        }
        let rows: Vec<Row> = if self.backend == Backend::Mysql {
            self.set_variables(conn, &[param])?;
            diesel::sql_query(sql).load(conn)?
        } else {
            diesel::sql_query(sql)
                .bind::<Text, _>(param.as_str())
                .load(conn)?
        };
        Ok(rows.into_iter().map(|r| r.j).collect())
    }
}

/// Clears the MySQL parameter variables after a revert.
pub(super) fn clear(conn: &mut AnyConnection, backend: Backend) -> QueryResult<()> {
    if backend == Backend::Mysql {
        conn.batch_execute("SET @oneoff_p1 = NULL, @oneoff_p2 = NULL")?;
    }
    Ok(())
}
