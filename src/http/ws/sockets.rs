//! What one client holds of the gateway: WebSockets counted by caller
//! and by client network, each bounded (`WS_MAX_PER_CALLER`,
//! `WS_MAX_PER_ADDRESS`), so no one client takes every connection the
//! node serves.

use std::net::IpAddr;

use command::meeting::Caller;

use super::super::ApiError;
use crate::peer::{Counted, Counts, PeerAddr};

/// The WebSockets open on this node, counted by caller and by client
/// network, so no one client takes every connection the node serves.
#[derive(Default)]
pub struct Sockets {
    callers: Counts<events::UserId>,
    networks: Counts<IpAddr>,
}

/// A socket's places among its caller's and its network's.
pub(super) struct Places {
    _caller: Counted<events::UserId>,
    _network: Option<Counted<IpAddr>>,
}

impl Sockets {
    /// Takes the places of a new socket, or refuses it (429).
    pub(super) fn take(
        &self,
        config: &crate::config::WebSocketConfig,
        caller: &Caller,
        peer: Option<PeerAddr>,
    ) -> Result<Places, ApiError> {
        let network = match peer {
            Some(peer) => Some(
                self.networks
                    .take(peer.network(), config.max_per_address)
                    .ok_or(ApiError::TooManyConnections("from this address"))?,
            ),
            None => None,
        };
        let caller = self
            .callers
            .take(caller.user_id.clone(), config.max_per_caller)
            .ok_or(ApiError::TooManyConnections("for this caller"))?;
        Ok(Places {
            _caller: caller,
            _network: network,
        })
    }
}
