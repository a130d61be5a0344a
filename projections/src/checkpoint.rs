//! Projection checkpoints: how far each read model has applied the log.

use sqlx::AnyConnection;

pub async fn get(conn: &mut AnyConnection, name: &str) -> Result<i64, sqlx::Error> {
    let position: Option<i64> =
        sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE name = $1")
            .bind(name)
            .fetch_optional(conn)
            .await?;
    Ok(position.unwrap_or(0))
}

/// Moves the checkpoint from `from` to `to`; false if someone else moved it
/// first (the caller must roll back: that batch was applied elsewhere).
pub async fn advance(
    conn: &mut AnyConnection,
    name: &str,
    from: i64,
    to: i64,
) -> Result<bool, sqlx::Error> {
    if from == 0 {
        let inserted = sqlx::query(
            "INSERT INTO projection_checkpoints (name, position) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(to)
        .execute(&mut *conn)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(true);
        }
    }
    let updated = sqlx::query(
        "UPDATE projection_checkpoints SET position = $1 WHERE name = $2 AND position = $3",
    )
    .bind(to)
    .bind(name)
    .bind(from)
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Sets a checkpoint outright (a replay starting over).
pub async fn reset(conn: &mut AnyConnection, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM projection_checkpoints WHERE name = $1")
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

/// The lowest checkpoint among `names` (0 for one that has none yet).
pub async fn lowest(conn: &mut AnyConnection, names: &[&str]) -> Result<i64, sqlx::Error> {
    let mut lowest = i64::MAX;
    for name in names {
        lowest = lowest.min(get(conn, name).await?);
    }
    Ok(if names.is_empty() { 0 } else { lowest })
}
