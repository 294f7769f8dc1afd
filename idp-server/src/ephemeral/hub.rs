//! In-process fan-out of pub/sub messages to local subscribers, shared by both
//! stores: the Redis store feeds it from its one subscriber connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

/// Messages a slow subscriber may fall behind by before it skips ahead.
const CHANNEL_CAPACITY: usize = 16;

type Payload = Arc<[u8]>;

#[derive(Default)]
pub(crate) struct Hub {
    topics: Mutex<HashMap<String, broadcast::Sender<Payload>>>,
}

impl Hub {
    pub(crate) fn subscribe(self: &Arc<Self>, topic: &str) -> Subscription {
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        let rx = match topics.get(topic) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = broadcast::channel(CHANNEL_CAPACITY);
                topics.insert(topic.to_owned(), tx);
                rx
            }
        };
        Subscription {
            hub: Arc::clone(self),
            topic: topic.to_owned(),
            rx: Some(rx),
        }
    }

    pub(crate) fn deliver(&self, topic: &str, payload: &[u8]) {
        let topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = topics.get(topic) {
            // An error only means every receiver is gone; the entry is removed on drop.
            let _ = tx.send(Arc::from(payload));
        }
    }

    #[cfg(test)]
    pub(crate) fn topic_count(&self) -> usize {
        self.topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Messages of one topic, from the moment of subscribing. Dropping it unsubscribes.
pub struct Subscription {
    hub: Arc<Hub>,
    topic: String,
    rx: Option<broadcast::Receiver<Payload>>,
}

impl Subscription {
    /// The next message; `None` only if the store shut down. A subscriber that
    /// fell behind skips the messages it missed.
    pub async fn recv(&mut self) -> Option<Payload> {
        let rx = self.rx.as_mut()?;
        loop {
            match rx.recv().await {
                Ok(message) => return Some(message),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        drop(self.rx.take());
        let mut topics = self
            .hub
            .topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if topics
            .get(&self.topic)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            topics.remove(&self.topic);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn topics_are_forgotten_when_their_last_subscriber_leaves() {
        let hub = Arc::new(Hub::default());
        let mut a = hub.subscribe("t");
        let b = hub.subscribe("t");
        hub.deliver("t", b"x");
        assert_eq!(&*a.recv().await.unwrap(), b"x");
        drop(b);
        assert_eq!(hub.topic_count(), 1);
        drop(a);
        assert_eq!(hub.topic_count(), 0);
    }
}
