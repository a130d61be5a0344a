//! Many rows in one statement: a batch's rows travel as ONE JSON parameter
//! and are read back as a table, so a statement's text does not depend on
//! how many rows it carries (it is prepared once per connection) and a
//! whole batch costs one round trip per table, on either database.
//!
//! The only dialect difference in the read models lives here: PostgreSQL
//! reads the array with `jsonb_to_recordset`, SQLite with `json_each`.

use serde::Serialize;
use sqlx::AnyConnection;

/// A column of a row set: its name (the JSON key) and SQL type.
#[derive(Clone, Copy)]
pub enum Column {
    Text(&'static str),
    Int(&'static str),
}

/// `(SELECT ... ) AS v`: the rows of parameter `$1` as a table named `v`
/// with `columns`, for the database `conn` talks to.
pub fn table(conn: &AnyConnection, columns: &[Column]) -> String {
    if conn.backend_name().eq_ignore_ascii_case("sqlite") {
        let fields: Vec<String> = columns
            .iter()
            .map(|c| {
                let name = c.name();
                format!("json_extract(value, '$.{name}') AS {name}")
            })
            .collect();
        format!("(SELECT {} FROM json_each($1)) AS v", fields.join(", "))
    } else {
        let fields: Vec<String> = columns
            .iter()
            .map(|c| match c {
                Column::Text(name) => format!("{name} text"),
                Column::Int(name) => format!("{name} bigint"),
            })
            .collect();
        format!(
            "(SELECT * FROM json_to_recordset(CAST($1 AS json)) AS r({})) AS v",
            fields.join(", ")
        )
    }
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Self::Text(name) | Self::Int(name) => name,
        }
    }
}

/// Runs `sql` (whose `$1` is read through [`table`]) with `rows`; nothing
/// when there are none.
pub async fn execute(
    conn: &mut AnyConnection,
    sql: &str,
    rows: &[impl Serialize],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let rows = serde_json::to_string(rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(sql).bind(rows).execute(conn).await?;
    Ok(())
}
