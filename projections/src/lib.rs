//! Read-model builders (the read-side issue fills this crate).
//!
//! This crate will own one module per read model and the runner that moves
//! a feed of committed events into them, applying each batch and its
//! checkpoint in one transaction. Until then the write side is complete on
//! its own: nothing here is called.
