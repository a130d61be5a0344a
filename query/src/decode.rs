//! Reading typed values out of read-model rows: the read models keep ids,
//! statuses and times as text and flags as 0/1, and the queries answer
//! with the vocabulary's types. A value that does not parse is a decode
//! error naming its column (the read models are written only by the
//! projections, so it means a bug, not bad input).

use std::fmt::Display;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::flag::Flag;

/// `value`, or a decode error naming `column`.
pub fn decode<T, E: Display>(value: Result<T, E>, column: &str) -> Result<T, sqlx::Error> {
    value.map_err(|e| sqlx::Error::Decode(format!("{column}: {e}").into()))
}

/// A text column parsed into `T`.
pub fn parsed<T>(row: &AnyRow, column: &str) -> Result<T, sqlx::Error>
where
    T: FromStr,
    T::Err: Display,
{
    decode(row.try_get::<String, _>(column)?.parse(), column)
}

/// A flag column.
pub fn flag(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    Ok(row.try_get::<Flag, _>(column)?.0)
}

/// A nullable timestamp column (RFC 3339 text).
pub fn timestamp(row: &AnyRow, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    row.try_get::<Option<String>, _>(column)?
        .map(|text| {
            decode(
                events::time::parse(&text).ok_or("not an RFC 3339 time"),
                column,
            )
        })
        .transpose()
}
