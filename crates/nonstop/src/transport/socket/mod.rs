//! Socket Mode as a [`Transport`]: opening a socket (`apps.connections.open`, the upgrade,
//! `hello`) and what its frames mean (`connection.rs`; the loop that runs it is `transport::ws`, deciding through `supervisor::lifecycle`). Slots, backoff
//! and make-before-break are the supervisor's.

mod connection;

use std::future::Future;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::supervisor::{OpenError, OpenedInfo, Order, Report, Transport};
use connection::Opened;
pub(crate) use connection::SocketContext;

impl Transport for SocketContext {
    type Opened = Opened;

    async fn open(self: Arc<Self>, _connection: u64) -> Result<Opened, OpenError> {
        connection::open(&self).await
    }

    fn describe(opened: &Opened) -> OpenedInfo {
        OpenedInfo {
            host: opened.host.clone(),
            approximate_connection_time: opened.approximate_connection_time,
        }
    }

    fn run(
        self: Arc<Self>,
        connection: u64,
        opened: Opened,
        orders: mpsc::Receiver<Order>,
        reports: mpsc::Sender<Report>,
    ) -> impl Future<Output = ()> + Send + 'static {
        connection::run(self, connection, opened, orders, reports)
    }
}
