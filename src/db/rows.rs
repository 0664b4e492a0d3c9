//! The first rows of any query, each as a JSON object text in column order
//! (`{"id":3,"balance":-5}`), for messages that show what a query returned
//! (a post-condition's violating rows). PostgreSQL renders them itself
//! (`row_to_json`); SQLite and MySQL rows are read column by column.

use diesel::deserialize::{FromSql, QueryableByName};
use diesel::prelude::*;
use diesel::row::{Field, NamedRow, Row};
use diesel::sql_types::{BigInt, Text};

use super::AnyConnection;

/// Up to `limit` rows of `query` (one query, no trailing `;`).
pub fn first_rows(conn: &mut AnyConnection, query: &str, limit: usize) -> QueryResult<Vec<String>> {
    // On a line of its own, so that a trailing `--` comment ends before it.
    let wrapped =
        |select: &str| format!("SELECT {select} FROM ({query}\n) AS oneoff_rows LIMIT {limit}");
    match conn {
        AnyConnection::Postgresql(c) => {
            #[derive(QueryableByName)]
            struct Json {
                #[diesel(sql_type = Text)]
                r: String,
            }
            let sql = wrapped("pg_catalog.row_to_json(oneoff_rows)::text AS r");
            let rows: Vec<Json> = diesel::sql_query(sql).load(c)?;
            Ok(rows.into_iter().map(|j| j.r).collect())
        }
        AnyConnection::Sqlite(c) => {
            let rows: Vec<JsonRow> = diesel::sql_query(wrapped("*")).load(c)?;
            Ok(rows.into_iter().map(|j| j.0).collect())
        }
        AnyConnection::Mysql(c) => {
            let rows: Vec<JsonRow> = diesel::sql_query(wrapped("*")).load(c)?;
            Ok(rows.into_iter().map(|j| j.0).collect())
        }
    }
}

/// A row as a JSON object text, whatever its columns.
struct JsonRow(String);

/// One column's value as JSON.
fn json_object<'a, DB, R>(row: &R, value: impl Fn(&R::Field<'_>) -> serde_json::Value) -> JsonRow
where
    DB: diesel::backend::Backend,
    R: Row<'a, DB>,
{
    let mut out = String::from("{");
    for i in 0..row.field_count() {
        let Some(field) = Row::get(row, i) else {
            continue;
        };
        if i > 0 {
            out.push(',');
        }
        let name = field.field_name().unwrap_or("?").to_string();
        let value = if field.is_null() {
            serde_json::Value::Null
        } else {
            value(&field)
        };
        out.push_str(&format!("{}:{value}", serde_json::Value::String(name)));
    }
    out.push('}');
    JsonRow(out)
}

impl QueryableByName<diesel::sqlite::Sqlite> for JsonRow {
    fn build<'a>(
        row: &impl NamedRow<'a, diesel::sqlite::Sqlite>,
    ) -> diesel::deserialize::Result<Self> {
        use diesel::sqlite::SqliteType;
        Ok(json_object(row, |field| {
            let Some(mut v) = field.value() else {
                return serde_json::Value::Null;
            };
            match v.value_type() {
                Some(SqliteType::Long | SqliteType::Integer | SqliteType::SmallInt) => {
                    serde_json::Value::from(v.read_long())
                }
                Some(SqliteType::Double | SqliteType::Float) => {
                    serde_json::Value::from(v.read_double())
                }
                Some(SqliteType::Binary) => serde_json::Value::String(hex(v.read_blob())),
                Some(SqliteType::Text) => serde_json::Value::String(v.read_text().to_string()),
                None => serde_json::Value::Null,
            }
        }))
    }
}

impl QueryableByName<diesel::mysql::Mysql> for JsonRow {
    fn build<'a>(
        row: &impl NamedRow<'a, diesel::mysql::Mysql>,
    ) -> diesel::deserialize::Result<Self> {
        Ok(json_object(row, |field| match field.value() {
            Some(v) => mysql_value(v),
            None => serde_json::Value::Null,
        }))
    }
}

fn mysql_value(v: diesel::mysql::MysqlValue<'_>) -> serde_json::Value {
    use diesel::mysql::data_types::MysqlTime;
    use diesel::mysql::{Mysql, MysqlType as T};
    use diesel::sql_types::{Date, Datetime, Double, Time, Unsigned};
    let text =
        |bytes: &[u8]| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned());
    let time = |t: MysqlTime, date: bool, clock: bool| {
        let d = format!("{:04}-{:02}-{:02}", t.year, t.month, t.day);
        let c = format!(
            "{}{:02}:{:02}:{:02}",
            if t.neg { "-" } else { "" },
            t.hour,
            t.minute,
            t.second
        );
        serde_json::Value::String(match (date, clock) {
            (true, true) => format!("{d} {c}"),
            (true, false) => d,
            _ => c,
        })
    };
    let ty = v.value_type();
    match ty {
        T::UnsignedLongLong => <u64 as FromSql<Unsigned<BigInt>, Mysql>>::from_sql(v)
            .map_or(serde_json::Value::Null, serde_json::Value::from),
        T::Tiny
        | T::UnsignedTiny
        | T::Short
        | T::UnsignedShort
        | T::Long
        | T::UnsignedLong
        | T::LongLong => <i64 as FromSql<BigInt, Mysql>>::from_sql(v)
            .map_or(serde_json::Value::Null, serde_json::Value::from),
        T::Float | T::Double => <f64 as FromSql<Double, Mysql>>::from_sql(v)
            .map_or(serde_json::Value::Null, serde_json::Value::from),
        T::Date => <MysqlTime as FromSql<Date, Mysql>>::from_sql(v)
            .map_or(serde_json::Value::Null, |t| time(t, true, false)),
        T::Time => <MysqlTime as FromSql<Time, Mysql>>::from_sql(v)
            .map_or(serde_json::Value::Null, |t| time(t, false, true)),
        T::DateTime | T::Timestamp => <MysqlTime as FromSql<Datetime, Mysql>>::from_sql(v)
            .map_or(serde_json::Value::Null, |t| time(t, true, true)),
        T::Blob | T::Bit => {
            let bytes = v.as_bytes();
            match std::str::from_utf8(bytes) {
                Ok(s) => serde_json::Value::String(s.to_string()),
                Err(_) => serde_json::Value::String(hex(bytes)),
            }
        }
        _ => text(v.as_bytes()),
    }
}

fn hex(bytes: &[u8]) -> String {
    let digits: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("x'{digits}'")
}
