//! In-process ephemeral store for the embedded default (a single replica).
//!
//! Entries are spread over [`SHARDS`] maps, each behind its own mutex, by the
//! hash of the key, so workers rarely wait on each other. Expiry is by time
//! wheel: each shard files every write under the second it expires in, and
//! each lock first drops the entries of the seconds that have passed. The
//! work is proportional to what expired, never to what is stored (the store
//! holds every SSO session for hours), so a long run stays flat.
//!
//! An entry is one allocation (key then value) with its length and deadline:
//! 32 bytes in the table plus the bytes themselves, 8 more in the wheel.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry as Slot;

use super::hub::{Hub, Subscription};
use super::{Counter, EphemeralError, EphemeralStore, Expect, Replace, Write, ttl_millis};

/// Independent maps (a power of two).
const SHARDS: usize = 16;

struct Entry {
    /// The key's bytes, then the value's.
    data: Box<[u8]>,
    key_len: u32,
    /// Milliseconds since the store's epoch.
    expires: u64,
    /// The key's hash, which the wheel files.
    hash: u64,
}

impl Entry {
    fn new(at: At, key: &str, value: &[u8], expires: u64) -> Self {
        let mut data = Vec::with_capacity(key.len() + value.len());
        data.extend_from_slice(key.as_bytes());
        data.extend_from_slice(value);
        Entry {
            data: data.into_boxed_slice(),
            key_len: u32::try_from(key.len()).unwrap_or(u32::MAX),
            expires,
            hash: at.hash,
        }
    }

    fn key(&self) -> &[u8] {
        &self.data[..self.key_len as usize]
    }

    fn value(&self) -> &[u8] {
        &self.data[self.key_len as usize..]
    }

    fn is(&self, at: At, key: &str) -> bool {
        self.hash == at.hash && self.key() == key.as_bytes()
    }
}

#[derive(Default)]
struct Shard {
    table: HashTable<Entry>,
    /// Second of expiry → hashes of the entries filed to expire in it. An
    /// entry is filed once; one found live when its second comes (rewritten
    /// with a longer life since) is filed again under its own deadline.
    wheel: BTreeMap<u64, Vec<u64>>,
    /// Every second before this one has been swept.
    swept: u64,
}

/// Where an operation happens: the key's hash and the current instant.
#[derive(Clone, Copy)]
struct At {
    hash: u64,
    now: u64,
}

impl Shard {
    /// Drops the entries of every second that has fully passed.
    fn sweep(&mut self, now: u64) {
        let second = now / 1000;
        if second <= self.swept {
            return;
        }
        self.swept = second;
        let mut refile = Vec::new();
        while let Some(bucket) = self.wheel.first_entry() {
            if *bucket.key() >= second {
                break;
            }
            for hash in bucket.remove() {
                while let Ok(entry) = self
                    .table
                    .find_entry(hash, |e| e.hash == hash && e.expires <= now)
                {
                    entry.remove();
                }
                if let Some(live) = self.table.find(hash, |e| e.hash == hash) {
                    refile.push((live.expires / 1000, hash));
                }
            }
        }
        for (second, hash) in refile {
            self.wheel.entry(second).or_default().push(hash);
        }
    }

    fn find(&self, at: At, key: &str) -> Option<&Entry> {
        self.table
            .find(at.hash, |e| e.is(at, key))
            .filter(|e| e.expires > at.now)
    }

    fn put(&mut self, at: At, key: &str, value: &[u8], ttl: Duration) {
        let expires = at.now.saturating_add(ttl_millis(ttl));
        self.put_until(at, key, value, expires);
    }

    fn put_until(&mut self, at: At, key: &str, value: &[u8], expires: u64) {
        let entry = Entry::new(at, key, value, expires);
        let file = match self.table.entry(at.hash, |e| e.is(at, key), |e| e.hash) {
            // Filed already: again only if it now expires sooner.
            Slot::Occupied(mut slot) => {
                let filed = slot.get().expires / 1000;
                *slot.get_mut() = entry;
                expires / 1000 < filed
            }
            Slot::Vacant(slot) => {
                slot.insert(entry);
                true
            }
        };
        if file {
            self.wheel.entry(expires / 1000).or_default().push(at.hash);
        }
    }

    /// Removes the entry; returns its value if it was live.
    fn remove(&mut self, at: At, key: &str) -> Option<Vec<u8>> {
        let slot = self.table.find_entry(at.hash, |e| e.is(at, key)).ok()?;
        let (entry, _) = slot.remove();
        (entry.expires > at.now).then(|| entry.value().to_vec())
    }

    /// Stores the value and returns the live one it replaced.
    fn swap(&mut self, at: At, key: &str, value: &[u8], ttl: Duration) -> Option<Vec<u8>> {
        let previous = self.find(at, key).map(|e| e.value().to_vec());
        self.put(at, key, value, ttl);
        previous
    }
}

/// The hasher every shard shares, chosen at random once per process.
fn hasher() -> &'static RandomState {
    static HASHER: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
    HASHER.get_or_init(RandomState::new)
}

fn hash_of_key(key: &[u8]) -> u64 {
    hasher().hash_one(key)
}

#[derive(Clone)]
pub struct MemoryStore {
    shards: Arc<[Mutex<Shard>]>,
    epoch: Instant,
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
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            epoch: Instant::now(),
            hub: Arc::new(Hub::default()),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, key: &str) -> At {
        At {
            hash: hash_of_key(key.as_bytes()),
            now: self.now(),
        }
    }

    fn index(hash: u64) -> usize {
        // Middle bits: the table places entries by the low ones and tags
        // them with the top seven, which must keep varying within a shard.
        (hash >> 32) as usize % SHARDS
    }

    fn lock_index(&self, index: usize, now: u64) -> MutexGuard<'_, Shard> {
        // The lock is never held across an await or a panic-prone call; if a
        // panic ever poisoned it, the map itself is still consistent.
        let mut shard = self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        shard.sweep(now);
        shard
    }

    /// The shard of `key`, locked, with where the operation happens.
    fn lock(&self, key: &str) -> (MutexGuard<'_, Shard>, At) {
        let at = self.at(key);
        (self.lock_index(Self::index(at.hash), at.now), at)
    }

    /// Every live entry: its key, the bytes of key and value, and the time
    /// it has left (for tests that measure what a flow leaves behind).
    pub fn census(&self) -> Vec<Live> {
        let now = self.now();
        let mut live = Vec::new();
        for index in 0..SHARDS {
            let shard = self.lock_index(index, now);
            live.extend(
                shard
                    .table
                    .iter()
                    .filter(|e| e.expires > now)
                    .map(|e| Live {
                        key: String::from_utf8_lossy(e.key()).into_owned(),
                        bytes: e.data.len(),
                        left: Duration::from_millis(e.expires - now),
                    }),
            );
        }
        live
    }

    /// Number of live entries (for tests and metrics).
    pub fn len(&self) -> usize {
        let now = self.now();
        (0..SHARDS)
            .map(|i| {
                let shard = self.lock_index(i, now);
                shard.table.iter().filter(|e| e.expires > now).count()
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One live entry, as [`MemoryStore::census`] reports it.
#[derive(Debug, Clone)]
pub struct Live {
    pub key: String,
    pub bytes: usize,
    pub left: Duration,
}

impl EphemeralStore for MemoryStore {
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), EphemeralError> {
        let (mut shard, at) = self.lock(key);
        shard.put(at, key, value, ttl);
        Ok(())
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        let (mut shard, at) = self.lock(key);
        if shard.find(at, key).is_some() {
            return Ok(false);
        }
        shard.put(at, key, value, ttl);
        Ok(true)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        let (shard, at) = self.lock(key);
        Ok(shard.find(at, key).map(|e| e.value().to_vec()))
    }

    async fn set_if_absent_then_get(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        then_get: &str,
    ) -> Result<(bool, Option<Vec<u8>>), EphemeralError> {
        let stored = self.set_if_absent(key, value, ttl).await?;
        Ok((stored, self.get(then_get).await?))
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        let (mut shard, at) = self.lock(key);
        Ok(shard.remove(at, key))
    }

    async fn delete(&self, key: &str) -> Result<bool, EphemeralError> {
        let (mut shard, at) = self.lock(key);
        Ok(shard.remove(at, key).is_some())
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, EphemeralError> {
        let (mut shard, at) = self.lock(key);
        let Some(entry) = shard.find(at, key) else {
            shard.put(at, key, b"1", ttl);
            return Ok(1);
        };
        let next = std::str::from_utf8(entry.value())
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| EphemeralError::Protocol(format!("{key} is not a counter")))?
            .saturating_add(1);
        // The counter keeps its deadline, as INCR keeps a key's TTL in Redis.
        let expires = entry.expires;
        shard.put_until(at, key, next.to_string().as_bytes(), expires);
        Ok(next)
    }

    async fn incr_in_turn(&self, counters: &[Counter<'_>]) -> Result<Vec<i64>, EphemeralError> {
        let mut counts = Vec::with_capacity(counters.len());
        for counter in counters {
            let count = self.incr(counter.key, counter.window).await?;
            counts.push(count);
            if count > counter.max {
                break;
            }
        }
        Ok(counts)
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expect: Expect<'_>,
        replace: Replace<'_>,
    ) -> Result<bool, EphemeralError> {
        let (mut shard, at) = self.lock(key);
        let matches = match (shard.find(at, key), expect) {
            (None, Expect::Absent) => true,
            (Some(entry), Expect::Value(v)) => entry.value() == v,
            _ => false,
        };
        if !matches {
            return Ok(false);
        }
        match replace {
            Replace::Delete => {
                shard.remove(at, key);
            }
            Replace::Value(value, ttl) => shard.put(at, key, value, ttl),
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
        let (mut shard, at) = self.lock(key);
        Ok(shard.swap(at, key, value, ttl))
    }

    async fn apply(&self, writes: &[Write<'_>]) -> Result<Vec<Option<Vec<u8>>>, EphemeralError> {
        let now = self.now();
        let keyed: Vec<(usize, At)> = writes
            .iter()
            .map(|write| match *write {
                Write::Set(key, ..) | Write::Swap(key, ..) | Write::Delete(key) => {
                    let hash = hash_of_key(key.as_bytes());
                    (Self::index(hash), At { hash, now })
                }
                Write::Publish(..) => (SHARDS, At { hash: 0, now }),
            })
            .collect();
        // Every shard the batch touches, locked in index order (so two
        // batches cannot wait on each other): readers see all or nothing.
        let mut indices: Vec<usize> = keyed
            .iter()
            .map(|(i, _)| *i)
            .filter(|i| *i < SHARDS)
            .collect();
        indices.sort_unstable();
        indices.dedup();
        let mut guards: Vec<(usize, MutexGuard<'_, Shard>)> = indices
            .into_iter()
            .map(|i| (i, self.lock_index(i, now)))
            .collect();
        let mut replies = Vec::with_capacity(writes.len());
        for (write, (index, at)) in writes.iter().zip(keyed) {
            let shard = guards
                .iter_mut()
                .find(|(i, _)| *i == index)
                .map(|(_, guard)| &mut **guard);
            let reply = match (*write, shard) {
                (Write::Set(key, value, ttl), Some(shard)) => {
                    shard.put(at, key, value, ttl);
                    None
                }
                (Write::Swap(key, value, ttl), Some(shard)) => shard.swap(at, key, value, ttl),
                (Write::Delete(key), Some(shard)) => {
                    shard.remove(at, key);
                    None
                }
                _ => None,
            };
            replies.push(reply);
        }
        drop(guards);
        // Subscribers hear of the writes once all of them are visible.
        for write in writes {
            if let Write::Publish(topic, payload) = *write {
                self.hub.deliver(topic, payload);
            }
        }
        Ok(replies)
    }

    async fn ttl(&self, key: &str) -> Result<Option<Duration>, EphemeralError> {
        let (shard, at) = self.lock(key);
        Ok(shard
            .find(at, key)
            .map(|e| Duration::from_millis(e.expires - at.now)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn expired_entries_leave_the_table_and_the_wheel() {
        let store = MemoryStore::new();
        for i in 0..100 {
            store
                .set(&format!("k{i}"), b"v", Duration::from_millis(5))
                .await
                .unwrap();
        }
        store
            .set("kept", b"v", Duration::from_secs(60))
            .await
            .unwrap();
        // Rewritten with a longer life: its first wheel record must not drop it.
        store
            .set("k0", b"v", Duration::from_secs(60))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (mut stored, mut filed) = (0, 0);
        for index in 0..SHARDS {
            let shard = store.lock_index(index, store.now());
            stored += shard.table.len();
            filed += shard.wheel.values().map(Vec::len).sum::<usize>();
        }
        assert_eq!(stored, 2, "only the two long-lived entries are held");
        assert_eq!(filed, 2, "the wheel forgets the seconds it swept");
        assert_eq!(store.get("k0").await.unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(store.len(), 2);
    }

    #[tokio::test]
    async fn a_batch_spanning_shards_applies_every_write() {
        let store = MemoryStore::new();
        let keys: Vec<String> = (0..64).map(|i| format!("batch:{i}")).collect();
        let writes: Vec<Write<'_>> = keys
            .iter()
            .map(|k| Write::Set(k, b"1", Duration::from_secs(5)))
            .chain([Write::Swap("batch:0", b"2", Duration::from_secs(5))])
            .collect();
        let replies = store.apply(&writes).await.unwrap();
        assert_eq!(replies.last().unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(store.len(), 64);
        assert_eq!(
            store.get("batch:0").await.unwrap().as_deref(),
            Some(&b"2"[..])
        );
    }
}
