//! Where the watcher's next look comes from: the node's new heads (a websocket with
//! `eth_subscribe`), or a timer.

use std::time::Duration;

use alloy::pubsub::Subscription;
use tokio::sync::broadcast::error::RecvError;

/// With a subscription, a look this long after the last new head even if none comes, so a
/// subscription that goes quiet delays a plot by at most a mainnet slot instead of hiding it.
const QUIET_SUBSCRIPTION_LOOK: Duration = Duration::from_secs(12);

/// The longest wait between retries while the RPC is unreachable, whatever `--interval` says.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(1);

/// What made the watcher look at the chain; said in each plot's log line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Look {
    Start,
    NewHead,
    Timer,
    Retry,
}

impl Look {
    pub fn name(self) -> &'static str {
        match self {
            Look::Start => "start",
            Look::NewHead => "new-head",
            Look::Timer => "timer",
            Look::Retry => "retry",
        }
    }
}

/// Where the next look comes from: the node's new heads, or a timer.
pub enum Feed {
    NewHeads(Subscription<serde_json::Value>),
    Poll,
}

impl Feed {
    pub fn describe(&self, interval: Duration) -> String {
        match self {
            Feed::NewHeads(_) => "looking on each new head (websocket subscription)".into(),
            Feed::Poll => format!("polling every {} s", interval.as_secs_f64()),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Feed::NewHeads(_) => "subscription",
            Feed::Poll => "poll",
        }
    }

    /// Waits for the next reason to look; `None` means the subscription ended.
    pub async fn next(&mut self, interval: Duration) -> Option<Look> {
        match self {
            Feed::Poll => {
                tokio::time::sleep(interval).await;
                Some(Look::Timer)
            }
            Feed::NewHeads(heads) => {
                tokio::select! {
                    head = heads.recv() => match head {
                        // Heads we were too slow to read change nothing: a look scans every block since the last.
                        Ok(_) | Err(RecvError::Lagged(_)) => Some(Look::NewHead),
                        Err(RecvError::Closed) => None,
                    },
                    _ = tokio::time::sleep(QUIET_SUBSCRIPTION_LOOK) => Some(Look::Timer),
                }
            }
        }
    }
}
