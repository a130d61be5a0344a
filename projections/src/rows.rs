//! Many rows in one statement: a batch's rows travel as ONE JSON parameter
//! and are read back as a table, so a statement's text does not depend on
//! how many rows it carries (it is prepared once per connection) and a
//! whole batch costs one round trip per table, on either database.
//!
//! The only dialect difference in the read models lives here: PostgreSQL
//! reads the array with `json_to_recordset` (plain `json`: parsed once as
//! it is read, no binary `jsonb` built first), SQLite with `json_each`.

use std::sync::OnceLock;

use serde::Serialize;
use sqlx::AnyConnection;

/// A column of a row set: its name (the JSON key) and SQL type. A flag is
/// a JSON boolean read as the 0/1 BIGINT the read models store.
#[derive(Clone, Copy)]
pub enum Column {
    Text(&'static str),
    Int(&'static str),
    Flag(&'static str),
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Self::Text(name) | Self::Int(name) | Self::Flag(name) => name,
        }
    }
}

/// A statement over one row set, its text built once per dialect.
pub struct Statement {
    columns: &'static [Column],
    /// The statement, given the row set as a table expression named `v`.
    template: fn(&str) -> String,
    /// (PostgreSQL, SQLite).
    texts: OnceLock<(String, String)>,
}

impl Statement {
    pub const fn new(columns: &'static [Column], template: fn(&str) -> String) -> Self {
        Self {
            columns,
            template,
            texts: OnceLock::new(),
        }
    }

    fn text(&self, conn: &AnyConnection) -> &str {
        let (postgres, sqlite) = self.texts.get_or_init(|| {
            (
                (self.template)(&postgres_table(self.columns)),
                (self.template)(&sqlite_table(self.columns)),
            )
        });
        if conn.backend_name().eq_ignore_ascii_case("sqlite") {
            sqlite
        } else {
            postgres
        }
    }

    /// Runs the statement with `rows` as its row set; nothing when there
    /// are none.
    pub async fn run(
        &self,
        conn: &mut AnyConnection,
        rows: &[impl Serialize],
    ) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        sqlx::query(self.text(conn))
            .bind(encode(rows)?)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Runs a statement that returns one text column (`RETURNING ...`) and
    /// collects it; nothing when there are no rows.
    pub async fn returning(
        &self,
        conn: &mut AnyConnection,
        rows: &[impl Serialize],
    ) -> Result<Vec<String>, sqlx::Error> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query_scalar(self.text(conn))
            .bind(encode(rows)?)
            .fetch_all(conn)
            .await
    }
}

/// A row set as the statement's one JSON parameter.
fn encode(rows: &[impl Serialize]) -> Result<String, sqlx::Error> {
    serde_json::to_string(rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

fn postgres_table(columns: &[Column]) -> String {
    let (mut fields, mut types) = (Vec::new(), Vec::new());
    for column in columns {
        let name = column.name();
        let (field, ty) = match column {
            Column::Text(_) => (name.to_owned(), "text"),
            Column::Int(_) => (name.to_owned(), "bigint"),
            Column::Flag(_) => (format!("CAST({name} AS int) AS {name}"), "boolean"),
        };
        fields.push(field);
        types.push(format!("{name} {ty}"));
    }
    format!(
        "(SELECT {} FROM json_to_recordset(CAST($1 AS json)) AS r({})) AS v",
        fields.join(", "),
        types.join(", ")
    )
}

/// `json_extract` reads JSON booleans as 1/0 already.
fn sqlite_table(columns: &[Column]) -> String {
    let fields: Vec<String> = columns
        .iter()
        .map(|c| {
            let name = c.name();
            format!("json_extract(value, '$.{name}') AS {name}")
        })
        .collect();
    format!("(SELECT {} FROM json_each($1)) AS v", fields.join(", "))
}
