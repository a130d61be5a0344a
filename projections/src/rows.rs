//! Many rows in one statement: a batch's rows travel as parameters whose
//! number does not depend on how many rows there are, and are read back as
//! a table, so a statement's text is prepared once per connection and a
//! whole batch costs one round trip per table, on either database.
//!
//! The only dialect difference in the read models lives here. PostgreSQL
//! gets one array literal per column (`{"a","b",NULL}`), read with
//! `unnest`: an array literal is split by a plain scanner, where a JSON row
//! set cost a JSON parse and a hash table per row (15% of the machine in a
//! rebuild). SQLite, which has no arrays, gets the rows as one JSON array
//! read with `json_each`. Both encodings come from the same `Serialize`
//! rows ([`columns`] for the arrays).

use std::sync::OnceLock;

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use columns::columns;

mod columns;

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

/// A statement over one row set, its columns and text built once per
/// dialect.
pub struct Statement {
    columns: Columns,
    /// The statement, given the row set as a table expression named `v`.
    template: fn(&str) -> String,
    built: OnceLock<Built>,
}

/// The columns of a row set: a fixed list, or one derived from a
/// declaration elsewhere (the room settings).
enum Columns {
    Fixed(&'static [Column]),
    Derived(fn() -> Vec<Column>),
}

struct Built {
    columns: Vec<Column>,
    postgres: String,
    sqlite: String,
}

impl Statement {
    pub const fn new(columns: &'static [Column], template: fn(&str) -> String) -> Self {
        Self {
            columns: Columns::Fixed(columns),
            template,
            built: OnceLock::new(),
        }
    }

    /// A statement whose columns are computed (once, on first use).
    pub const fn derived(columns: fn() -> Vec<Column>, template: fn(&str) -> String) -> Self {
        Self {
            columns: Columns::Derived(columns),
            template,
            built: OnceLock::new(),
        }
    }

    fn built(&self) -> &Built {
        self.built.get_or_init(|| {
            let columns = match self.columns {
                Columns::Fixed(columns) => columns.to_vec(),
                Columns::Derived(columns) => columns(),
            };
            Built {
                postgres: (self.template)(&postgres_table(&columns)),
                sqlite: (self.template)(&sqlite_table(&columns)),
                columns,
            }
        })
    }

    fn text(&self, conn: &AnyConnection) -> &str {
        let built = self.built();
        if is_sqlite(conn) {
            &built.sqlite
        } else {
            &built.postgres
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
        self.query(conn, rows)?.execute(conn).await?;
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
        let found = self.query(conn, rows)?.fetch_all(conn).await?;
        found.iter().map(|row| row.try_get(0)).collect()
    }

    /// The statement with `rows` bound in the connection's dialect.
    fn query(
        &self,
        conn: &AnyConnection,
        rows: &[impl Serialize],
    ) -> Result<Query<'_>, sqlx::Error> {
        fn encoding<E: std::error::Error + Send + Sync + 'static>(e: E) -> sqlx::Error {
            sqlx::Error::Encode(Box::new(e))
        }
        let query = sqlx::query(self.text(conn));
        if is_sqlite(conn) {
            return Ok(query.bind(serde_json::to_string(rows).map_err(encoding)?));
        }
        Ok(columns(&self.built().columns, rows)
            .map_err(encoding)?
            .into_iter()
            .fold(query, |query, literal| query.bind(literal)))
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn is_sqlite(conn: &AnyConnection) -> bool {
    conn.backend_name().eq_ignore_ascii_case("sqlite")
}

/// `unnest($1::text[], $2::bigint[], ...) AS v(name, ...)`; a flag is a
/// 0/1 bigint like the column it goes to.
fn postgres_table(columns: &[Column]) -> String {
    let (mut arrays, mut names) = (Vec::new(), Vec::new());
    for (i, column) in columns.iter().enumerate() {
        let ty = match column {
            Column::Text(_) => "text",
            Column::Int(_) | Column::Flag(_) => "bigint",
        };
        arrays.push(format!("CAST(${} AS {ty}[])", i + 1));
        names.push(column.name());
    }
    format!("unnest({}) AS v({})", arrays.join(", "), names.join(", "))
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
