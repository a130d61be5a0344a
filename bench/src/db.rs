//! A database of a benchmark's own: a fresh PostgreSQL database (on the
//! server of `BENCH_DATABASE_URL`), or a SQLite file in a folder of its
//! own; dropped at the end.

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Postgres,
    Sqlite,
}

pub struct BenchDb {
    pub backend: Backend,
    pub url: String,
    /// The server's admin URL (PostgreSQL).
    admin: String,
    /// The database's name (PostgreSQL) or folder (SQLite).
    name: String,
}

impl BenchDb {
    pub async fn create(backend: Backend) -> anyhow::Result<Self> {
        let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
        if backend == Backend::Sqlite {
            let folder = std::env::temp_dir().join(&name);
            let url = format!("sqlite://{}", folder.join("meetings.db").display());
            return Ok(Self {
                backend,
                url,
                admin: String::new(),
                name: folder.display().to_string(),
            });
        }
        let admin = std::env::var("BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into());
        let pool = meetings::db::connect(&admin, 1).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await?;
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let url = format!("{base}/{name}");
        Ok(Self {
            backend,
            url,
            admin,
            name,
        })
    }

    pub async fn drop_db(self) -> anyhow::Result<()> {
        if self.backend == Backend::Sqlite {
            std::fs::remove_dir_all(&self.name)?;
            return Ok(());
        }
        let pool = meetings::db::connect(&self.admin, 1).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&pool)
        .await?;
        Ok(())
    }
}

/// The NATS server the bus scenarios use (`BENCH_NATS_URL`).
pub fn nats_url() -> String {
    std::env::var("BENCH_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}
