//! Read-model queries and their DTOs: paging, filters, and who may read a
//! meeting. Plain SELECTs on the read models (never a rebuild of an
//! aggregate), portable through `sqlx::Any` so one copy serves PostgreSQL
//! and SQLite. Knows no HTTP.

pub mod access;
pub mod activity;
pub mod decode;
pub mod flag;
pub mod history;
pub mod meeting;
pub mod page;

pub use page::{Page, Paging};
