//! The app's socket total across replicas (`NONSTOP_APP_SOCKETS`): a slot takes a share
//! before it opens a socket and gives it back when the socket has closed, so that replicas on
//! one Redis together stay within what Slack allows an app, replacements and sockets still
//! closing included.
//!
//! The count is kept by the store the replicas share ([`LeaseStore::take_socket`](crate::journal::LeaseStore::take_socket)); with a store
//! one process owns there is no budget (each process's `NONSTOP_CONNECTIONS` is all there is).

use std::sync::Arc;

use tracing::warn;

use crate::journal::{SocketShare, Store};

/// The shared socket count and the total it is kept within.
pub(crate) struct SocketBudget {
    store: Arc<dyn Store>,
    total: usize,
}

impl std::fmt::Debug for SocketBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketBudget")
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

/// What [`SocketBudget::take`] got.
#[derive(Debug)]
pub(crate) enum Take {
    /// A share, given back when the permit is dropped (with the socket it was taken for).
    Taken(SocketPermit),
    /// The replicas together hold `held` of `total`: wait for one to close.
    Full { held: usize, total: usize },
    /// The store could not be asked (Redis away): the socket opens uncounted, as it would
    /// without a budget; Slack's own limit still holds.
    Unchecked,
}

impl SocketBudget {
    /// A budget of `total` sockets kept in `store`, when the store is shared by several
    /// processes.
    pub(crate) fn for_store(store: &Arc<dyn Store>, total: usize) -> Option<Self> {
        store.is_shared().then(|| SocketBudget {
            store: Arc::clone(store),
            total,
        })
    }

    /// Takes one share, on a blocking thread (the store may be across the network; its own
    /// timeout bounds the wait).
    pub(crate) async fn take(&self) -> Take {
        let store = Arc::clone(&self.store);
        let total = self.total;
        let asked = tokio::task::spawn_blocking(move || store.take_socket(total)).await;
        match asked {
            Ok(Ok(SocketShare::Taken)) => Take::Taken(SocketPermit {
                store: Arc::clone(&self.store),
            }),
            Ok(Ok(SocketShare::Full { held })) => Take::Full { held, total },
            Ok(Err(error)) => {
                warn!(%error, "the app's socket count could not be read; opening the socket uncounted");
                Take::Unchecked
            }
            Err(join) => {
                warn!(error = %join, "the app's socket count could not be read; opening the socket uncounted");
                Take::Unchecked
            }
        }
    }
}

/// One socket's share of the total; given back when dropped.
pub(crate) struct SocketPermit {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for SocketPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SocketPermit")
    }
}

impl Drop for SocketPermit {
    fn drop(&mut self) {
        self.store.give_socket();
    }
}
