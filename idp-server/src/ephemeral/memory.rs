//! In-process ephemeral store for the embedded default (a single replica).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::hub::{Hub, Subscription};
use super::{EphemeralError, EphemeralStore, Expect, Replace, Write, ttl_millis};

/// How often expired entries are swept out (they are also ignored on read).
const SWEEP_EVERY: Duration = Duration::from_secs(10);

struct Entry {
    value: Vec<u8>,
    expires: Instant,
}

struct State {
    entries: HashMap<String, Entry>,
    last_sweep: Instant,
}

#[derive(Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    hub: Arc<Hub>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore {
            state: Arc::new(Mutex::new(State {
                entries: HashMap::new(),
                last_sweep: Instant::now(),
            })),
            hub: Arc::new(Hub::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock is never held across an await or a panic-prone call; if a
        // panic ever poisoned it, the map itself is still consistent.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if now.duration_since(state.last_sweep) >= SWEEP_EVERY {
            state.entries.retain(|_, e| e.expires > now);
            state.last_sweep = now;
        }
        state
    }

    /// Number of live entries (for tests and metrics).
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.lock()
            .entries
            .values()
            .filter(|e| e.expires > now)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn deadline(ttl: Duration) -> Instant {
    Instant::now() + Duration::from_millis(ttl_millis(ttl))
}

impl State {
    fn put(&mut self, key: &str, value: &[u8], ttl: Duration) {
        self.entries.insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires: deadline(ttl),
            },
        );
    }

    /// Stores the value and returns the live one it replaced.
    fn swap(&mut self, key: &str, value: &[u8], ttl: Duration) -> Option<Vec<u8>> {
        let previous = self.live(key).map(|e| std::mem::take(&mut e.value));
        self.put(key, value, ttl);
        previous
    }

    fn live(&mut self, key: &str) -> Option<&mut Entry> {
        let now = Instant::now();
        if self.entries.get(key).is_some_and(|e| e.expires <= now) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }
}

impl EphemeralStore for MemoryStore {
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), EphemeralError> {
        self.lock().put(key, value, ttl);
        Ok(())
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        let mut state = self.lock();
        if state.live(key).is_some() {
            return Ok(false);
        }
        state.put(key, value, ttl);
        Ok(true)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        Ok(self.lock().live(key).map(|e| e.value.clone()))
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        let mut state = self.lock();
        if state.live(key).is_none() {
            return Ok(None);
        }
        Ok(state.entries.remove(key).map(|e| e.value))
    }

    async fn delete(&self, key: &str) -> Result<bool, EphemeralError> {
        let mut state = self.lock();
        let existed = state.live(key).is_some();
        state.entries.remove(key);
        Ok(existed)
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, EphemeralError> {
        let mut state = self.lock();
        if let Some(entry) = state.live(key) {
            let current = std::str::from_utf8(&entry.value)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| EphemeralError::Protocol(format!("{key} is not a counter")))?;
            let next = current.saturating_add(1);
            entry.value = next.to_string().into_bytes();
            return Ok(next);
        }
        state.put(key, b"1", ttl);
        Ok(1)
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expect: Expect<'_>,
        replace: Replace<'_>,
    ) -> Result<bool, EphemeralError> {
        let mut state = self.lock();
        let matches = match (state.live(key), expect) {
            (None, Expect::Absent) => true,
            (Some(entry), Expect::Value(v)) => entry.value == v,
            _ => false,
        };
        if !matches {
            return Ok(false);
        }
        match replace {
            Replace::Delete => {
                state.entries.remove(key);
            }
            Replace::Value(value, ttl) => {
                state.put(key, value, ttl);
            }
        }
        Ok(true)
    }

    async fn compare_and_set_publish(
        &self,
        key: &str,
        expect: Expect<'_>,
        replace: Replace<'_>,
        topic: &str,
        payload: &[u8],
    ) -> Result<bool, EphemeralError> {
        let applied = self.compare_and_set(key, expect, replace).await?;
        if applied {
            self.hub.deliver(topic, payload);
        }
        Ok(applied)
    }

    async fn swap(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<Option<Vec<u8>>, EphemeralError> {
        Ok(self.lock().swap(key, value, ttl))
    }

    async fn apply(&self, writes: &[Write<'_>]) -> Result<Vec<Option<Vec<u8>>>, EphemeralError> {
        let mut replies = Vec::with_capacity(writes.len());
        {
            let mut state = self.lock();
            for write in writes {
                let reply = match *write {
                    Write::Set(key, value, ttl) => {
                        state.put(key, value, ttl);
                        None
                    }
                    Write::Swap(key, value, ttl) => state.swap(key, value, ttl),
                    Write::Delete(key) => {
                        state.entries.remove(key);
                        None
                    }
                    Write::Publish(..) => None,
                };
                replies.push(reply);
            }
        }
        // Subscribers hear of the writes once all of them are visible.
        for write in writes {
            if let Write::Publish(topic, payload) = *write {
                self.hub.deliver(topic, payload);
            }
        }
        Ok(replies)
    }

    async fn ttl(&self, key: &str) -> Result<Option<Duration>, EphemeralError> {
        let now = Instant::now();
        Ok(self
            .lock()
            .live(key)
            .map(|e| e.expires.saturating_duration_since(now)))
    }

    async fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), EphemeralError> {
        self.hub.deliver(topic, payload);
        Ok(())
    }

    fn subscribe(&self, topic: &str) -> Subscription {
        self.hub.subscribe(topic)
    }

    async fn ping(&self) -> Result<(), EphemeralError> {
        Ok(())
    }
}
