//! Read-model queries and their DTOs (the read-side issue fills this crate).
//!
//! This crate will own the SELECTs that serve the query API, with paging and
//! filters, written once for every read-model database.
