//! Ledger timestamps, read without chrono's format parser on SQLite.
//! diesel tries `%F %T%.f` (then 17 other formats) on every SQLite
//! timestamp, a fifth of `oneoff status`'s instructions over 10,000 rows;
//! oneoff writes exactly `YYYY-MM-DD HH:MM:SS[.fff]`, which is read here by
//! hand. Anything else goes to diesel, as before; PostgreSQL and MySQL send
//! timestamps as binary and are diesel's.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use diesel::deserialize::{self, FromSql};
use diesel::sql_types::{Nullable, Timestamp};
use diesel::sqlite::{Sqlite, SqliteType};

use crate::db::{MultiBackend, MultiRawValue};

/// A nullable ledger timestamp, as it loads into an `Option<NaiveDateTime>`.
#[derive(diesel::deserialize::FromSqlRow)]
pub struct When(Option<NaiveDateTime>);

impl From<When> for Option<NaiveDateTime> {
    fn from(when: When) -> Self {
        when.0
    }
}

impl FromSql<Nullable<Timestamp>, MultiBackend> for When {
    fn from_sql(value: MultiRawValue<'_>) -> deserialize::Result<Self> {
        read(value).map(|t| When(Some(t)))
    }

    fn from_nullable_sql(value: Option<MultiRawValue<'_>>) -> deserialize::Result<Self> {
        match value {
            Some(value) => Self::from_sql(value),
            None => Ok(When(None)),
        }
    }
}

fn read(value: MultiRawValue<'_>) -> deserialize::Result<NaiveDateTime> {
    match value {
        MultiRawValue::Sqlite(mut value) => {
            if value.value_type() == Some(SqliteType::Text) {
                if let Some(t) = parse(value.read_text()) {
                    return Ok(t);
                }
            }
            <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value)
        }
        other => other.from_sql::<NaiveDateTime, Timestamp>(),
    }
}

/// `YYYY-MM-DD HH:MM:SS`, then `.` and 1 to 9 digits or nothing: what
/// chrono's `%F %T%.f` reads them as; `None` for anything else, leap
/// seconds included (chrono is asked then).
fn parse(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    let shape = b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':';
    if !shape {
        return None;
    }
    let number = |digits: &[u8]| -> Option<u32> {
        digits.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(number(&b[0..4])?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, number(&b[5..7])?, number(&b[8..10])?)?;
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            number(digits)? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let (h, m, s) = (
        number(&b[11..13])?,
        number(&b[14..16])?,
        number(&b[17..19])?,
    );
    Some(date.and_time(NaiveTime::from_hms_nano_opt(h, m, s, nanos)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_it_reads_chrono_reads_alike_and_the_rest_is_left_to_chrono() {
        let read = [
            "2026-12-03 19:19:27",
            "2026-12-03 19:19:27.123",
            "2026-12-03 19:19:27.1",
            "2026-12-03 19:19:27.123456789",
            "2024-02-29 23:59:59.999",
            "0001-01-01 00:00:00.000001",
        ];
        for text in read {
            let chrono = NaiveDateTime::parse_from_str(text, "%F %T%.f").unwrap();
            assert_eq!(parse(text), Some(chrono), "{text}");
        }
        let left = [
            "2026-12-03T19:19:27",
            "2026-12-03 19:19:27.",
            "2026-12-03 19:19:27.1234567891",
            "2026-12-03 19:19:27+01:00",
            "2026-12-03 19:19:60",
            "2023-02-29 00:00:00",
            "2026-1-03 19:19:27",
            "2026-12-03 19:19",
            "+2026-12-03 19:19:27",
            "2459000.5",
        ];
        for text in left {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
