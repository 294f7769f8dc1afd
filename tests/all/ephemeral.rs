//! The shared contract suite: the same assertions against the in-process store
//! and against Redis.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::join_all;
use idp_server::ephemeral::{Counter, Ephemeral, EphemeralStore, Expect, Replace, Write};
use idp_tests::{Backend, both_backends, ephemeral_store};

async fn ready(backend: Backend) -> (Ephemeral, Option<idp_tests::RedisNamespace>) {
    let (store, ns) = ephemeral_store(backend);
    if let Ephemeral::Redis(redis) = &store {
        assert!(
            redis.wait_subscribed(Duration::from_secs(5)).await,
            "subscriber connects"
        );
    }
    (store, ns)
}

both_backends!(
    set_get_delete_and_expiry,
    set_if_absent_is_exclusive,
    set_if_absent_then_get_reads_after_the_write,
    take_is_once_under_concurrency,
    incr_is_atomic_and_windowed,
    incr_in_turn_stops_after_the_first_passed,
    compare_and_set_rules,
    compare_and_set_publish_tells_only_when_applied,
    swap_returns_what_it_replaced,
    apply_writes_in_order_in_one_step,
    publish_reaches_subscribers_of_the_topic_only,
);

async fn set_get_delete_and_expiry(backend: Backend) {
    let (s, _ns) = ready(backend).await;
    assert_eq!(s.get("k").await.unwrap(), None);
    s.set("k", b"\x00binary\xff", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        s.get("k").await.unwrap().as_deref(),
        Some(&b"\x00binary\xff"[..])
    );
    let ttl = s.ttl("k").await.unwrap().unwrap();
    assert!(
        ttl > Duration::from_secs(28) && ttl <= Duration::from_secs(30),
        "{ttl:?}"
    );
    s.set("k", b"v2", Duration::from_millis(300)).await.unwrap();
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"v2"[..]));
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(s.get("k").await.unwrap(), None, "expired");
    assert_eq!(s.ttl("k").await.unwrap(), None);
    s.set("d", b"x", Duration::from_secs(30)).await.unwrap();
    assert!(s.delete("d").await.unwrap());
    assert!(!s.delete("d").await.unwrap());
    assert_eq!(s.get("d").await.unwrap(), None);
}

async fn set_if_absent_is_exclusive(backend: Backend) {
    let (s, _ns) = ready(backend).await;
    let results = join_all((0..20).map(|i| {
        let s = s.clone();
        async move {
            s.set_if_absent("jti", format!("{i}").as_bytes(), Duration::from_secs(30))
                .await
                .unwrap()
        }
    }))
    .await;
    assert_eq!(results.iter().filter(|won| **won).count(), 1);
    assert!(
        s.set_if_absent("short", b"1", Duration::from_millis(200))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(
        s.set_if_absent("short", b"2", Duration::from_secs(5))
            .await
            .unwrap(),
        "free again after expiry"
    );
}

async fn set_if_absent_then_get_reads_after_the_write(backend: Backend) {
    let (s, _ns) = ready(backend).await;
    let ttl = Duration::from_secs(30);
    assert_eq!(
        s.set_if_absent_then_get("jti", b"1", ttl, "floor")
            .await
            .unwrap(),
        (true, None),
        "stored, the other key absent"
    );
    s.set("floor", b"42", ttl).await.unwrap();
    assert_eq!(
        s.set_if_absent_then_get("jti", b"2", ttl, "floor")
            .await
            .unwrap(),
        (false, Some(b"42".to_vec())),
        "already there: not replaced, the other key read"
    );
    assert_eq!(s.get("jti").await.unwrap().as_deref(), Some(&b"1"[..]));
    // The read comes after the write: on the same key it sees the new value.
    assert_eq!(
        s.set_if_absent_then_get("same", b"new", ttl, "same")
            .await
            .unwrap(),
        (true, Some(b"new".to_vec()))
    );
    // Of concurrent callers exactly one stores.
    let results = join_all((0..20).map(|i| {
        let s = s.clone();
        async move {
            s.set_if_absent_then_get("race", format!("{i}").as_bytes(), ttl, "floor")
                .await
                .unwrap()
        }
    }))
    .await;
    assert_eq!(results.iter().filter(|(won, _)| *won).count(), 1);
    assert!(
        results
            .iter()
            .all(|(_, f)| f.as_deref() == Some(&b"42"[..]))
    );
    // The TTL applies as for set_if_absent.
    assert!(
        s.set_if_absent_then_get("short", b"1", Duration::from_millis(200), "floor")
            .await
            .unwrap()
            .0
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(
        s.set_if_absent_then_get("short", b"2", ttl, "floor")
            .await
            .unwrap()
            .0,
        "free again after expiry"
    );
}

async fn take_is_once_under_concurrency(backend: Backend) {
    let (s, _ns) = ready(backend).await;
    s.set("code", b"abc", Duration::from_secs(30))
        .await
        .unwrap();
    let results = join_all((0..50).map(|_| {
        let s = s.clone();
        async move { s.take("code").await.unwrap() }
    }))
    .await;
    let winners: Vec<_> = results.into_iter().flatten().collect();
    assert_eq!(winners, vec![b"abc".to_vec()]);
    assert_eq!(s.get("code").await.unwrap(), None);
}

async fn incr_is_atomic_and_windowed(backend: Backend) {
    let (s, _ns) = ready(backend).await;
    let values = join_all((0..100).map(|_| {
        let s = s.clone();
        async move { s.incr("attempts", Duration::from_secs(30)).await.unwrap() }
    }))
    .await;
    let distinct: HashSet<i64> = values.iter().copied().collect();
    assert_eq!(
        distinct,
        (1..=100).collect::<HashSet<i64>>(),
        "each caller saw a distinct count"
    );
    // Later increments do not extend the window opened by the first.
    assert_eq!(
        s.incr("window", Duration::from_millis(400)).await.unwrap(),
        1
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.incr("window", Duration::from_secs(60)).await.unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        s.incr("window", Duration::from_secs(60)).await.unwrap(),
        1,
        "new window"
    );
}

async fn incr_in_turn_stops_after_the_first_passed(backend: Backend) {
    let (s, _ns) = ready(backend).await;
    let counters = [
        Counter {
            key: "ip",
            window: Duration::from_secs(30),
            max: 2,
        },
        Counter {
            key: "number",
            window: Duration::from_secs(60),
            max: 10,
        },
    ];
    assert_eq!(s.incr_in_turn(&counters).await.unwrap(), [1, 1]);
    assert_eq!(s.incr_in_turn(&counters).await.unwrap(), [2, 2]);
    assert_eq!(
        s.incr_in_turn(&counters).await.unwrap(),
        [3],
        "the first is passed: the second is left alone"
    );
    assert_eq!(s.get("number").await.unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(s.incr_in_turn(&counters[1..]).await.unwrap(), [3]);
    assert!(s.incr_in_turn(&[]).await.unwrap().is_empty());
    // Each counter's window is its own, opened by its first increment.
    let ip = s.ttl("ip").await.unwrap().unwrap();
    let number = s.ttl("number").await.unwrap().unwrap();
    assert!(
        ip > Duration::from_secs(28) && ip <= Duration::from_secs(30),
        "{ip:?}"
    );
    assert!(
        number > Duration::from_secs(58) && number <= Duration::from_secs(60),
        "{number:?}"
    );
    // Atomic per counter: concurrent callers see distinct counts.
    let wide = [
        Counter {
            key: "a",
            window: Duration::from_secs(30),
            max: 1000,
        },
        Counter {
            key: "b",
            window: Duration::from_secs(30),
            max: 1000,
        },
    ];
    let values = join_all((0..50).map(|_| {
        let s = s.clone();
        async move { s.incr_in_turn(&wide).await.unwrap() }
    }))
    .await;
    for i in 0..2 {
        let distinct: HashSet<i64> = values.iter().map(|v| v[i]).collect();
        assert_eq!(distinct, (1..=50).collect::<HashSet<i64>>());
    }
    // The window expires as incr's does.
    let short = [Counter {
        key: "short",
        window: Duration::from_millis(300),
        max: 5,
    }];
    assert_eq!(s.incr_in_turn(&short).await.unwrap(), [1]);
    assert_eq!(s.incr_in_turn(&short).await.unwrap(), [2]);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(s.incr_in_turn(&short).await.unwrap(), [1], "a new window");
}

async fn compare_and_set_rules(backend: Backend) {
    let (s, _ns) = ready(backend).await;
    let ttl = Duration::from_secs(30);
    assert!(
        s.compare_and_set("st", Expect::Absent, Replace::Value(b"pending", ttl))
            .await
            .unwrap()
    );
    assert!(
        !s.compare_and_set("st", Expect::Absent, Replace::Value(b"other", ttl))
            .await
            .unwrap()
    );
    assert!(
        !s.compare_and_set("st", Expect::Value(b"approved"), Replace::Delete)
            .await
            .unwrap()
    );
    assert_eq!(s.get("st").await.unwrap().as_deref(), Some(&b"pending"[..]));
    // Of racing transitions from the same state, exactly one applies.
    let results = join_all((0..20).map(|i| {
        let s = s.clone();
        async move {
            let value = format!("decided-{i}");
            s.compare_and_set(
                "st",
                Expect::Value(b"pending"),
                Replace::Value(value.as_bytes(), ttl),
            )
            .await
            .unwrap()
        }
    }))
    .await;
    assert_eq!(results.iter().filter(|ok| **ok).count(), 1);
    let decided = s.get("st").await.unwrap().unwrap();
    assert!(decided.starts_with(b"decided-"));
    assert!(
        s.compare_and_set("st", Expect::Value(&decided), Replace::Delete)
            .await
            .unwrap()
    );
    assert_eq!(s.get("st").await.unwrap(), None);
    assert!(
        !s.compare_and_set("st", Expect::Value(&decided), Replace::Delete)
            .await
            .unwrap()
    );
}

async fn compare_and_set_publish_tells_only_when_applied(backend: Backend) {
    let (s, _ns) = ready(backend).await;
    let ttl = Duration::from_secs(30);
    let mut watcher = s.subscribe("chal.1");
    s.set("st", b"pending", ttl).await.unwrap();
    // Not applied (the state is not the expected one): nothing is published.
    assert!(
        !s.compare_and_set_publish(
            "st",
            Expect::Value(b"deciding"),
            Replace::Value(b"approved", ttl),
            "chal.1",
            b"changed",
        )
        .await
        .unwrap()
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), watcher.recv())
            .await
            .is_err(),
        "a compare-and-set that did not apply publishes nothing"
    );
    // Applied: the value changes and the subscriber hears it.
    assert!(
        s.compare_and_set_publish(
            "st",
            Expect::Value(b"pending"),
            Replace::Value(b"approved", ttl),
            "chal.1",
            b"changed",
        )
        .await
        .unwrap()
    );
    assert_eq!(
        s.get("st").await.unwrap().as_deref(),
        Some(&b"approved"[..])
    );
    let heard = tokio::time::timeout(Duration::from_secs(3), watcher.recv())
        .await
        .expect("published once applied")
        .unwrap();
    assert_eq!(&*heard, b"changed");
    // Delete + publish.
    assert!(
        s.compare_and_set_publish(
            "st",
            Expect::Value(b"approved"),
            Replace::Delete,
            "chal.1",
            b"gone",
        )
        .await
        .unwrap()
    );
    assert_eq!(s.get("st").await.unwrap(), None);
    let heard = tokio::time::timeout(Duration::from_secs(3), watcher.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&*heard, b"gone");
}

async fn swap_returns_what_it_replaced(backend: Backend) {
    let (s, _ns) = ready(backend).await;
    assert_eq!(
        s.swap("ptr", b"first", Duration::from_secs(30))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.swap("ptr", b"second", Duration::from_millis(300))
            .await
            .unwrap()
            .as_deref(),
        Some(&b"first"[..])
    );
    assert_eq!(s.get("ptr").await.unwrap().as_deref(), Some(&b"second"[..]));
    // The new TTL applies: gone after it, and an expired value is not returned.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(s.get("ptr").await.unwrap(), None);
    assert_eq!(
        s.swap("ptr", b"third", Duration::from_secs(30))
            .await
            .unwrap(),
        None
    );
}

async fn apply_writes_in_order_in_one_step(backend: Backend) {
    let (s, _ns) = ready(backend).await;
    let ttl = Duration::from_secs(30);
    s.set("ptr", b"old", ttl).await.unwrap();
    s.set("gone", b"x", ttl).await.unwrap();
    let mut watcher = s.subscribe("device.1");
    let replies = s
        .apply(&[
            Write::Set("chal", b"pending", Duration::from_millis(300)),
            Write::Swap("ptr", b"new", ttl),
            Write::Swap("fresh", b"first", ttl),
            Write::Delete("gone"),
            Write::Publish("device.1", b"chal"),
            // Later writes see earlier ones.
            Write::Swap("chal", b"seen", Duration::from_millis(300)),
        ])
        .await
        .unwrap();
    assert_eq!(
        replies,
        vec![
            None,
            Some(b"old".to_vec()),
            None,
            None,
            None,
            Some(b"pending".to_vec())
        ]
    );
    assert_eq!(s.get("ptr").await.unwrap().as_deref(), Some(&b"new"[..]));
    assert_eq!(
        s.get("fresh").await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
    assert_eq!(s.get("gone").await.unwrap(), None);
    assert_eq!(s.get("chal").await.unwrap().as_deref(), Some(&b"seen"[..]));
    let heard = tokio::time::timeout(Duration::from_secs(3), watcher.recv())
        .await
        .expect("the batch's publish is heard")
        .unwrap();
    assert_eq!(&*heard, b"chal");
    // Each write keeps its own TTL.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(s.get("chal").await.unwrap(), None);
    assert_eq!(s.get("ptr").await.unwrap().as_deref(), Some(&b"new"[..]));
    // A single write and an empty batch.
    assert_eq!(
        s.apply(&[Write::Set("one", b"1", ttl)]).await.unwrap(),
        vec![None]
    );
    assert_eq!(s.get("one").await.unwrap().as_deref(), Some(&b"1"[..]));
    assert!(s.apply(&[]).await.unwrap().is_empty());
}

async fn publish_reaches_subscribers_of_the_topic_only(backend: Backend) {
    let (s, _ns) = ready(backend).await;
    let mut a = s.subscribe("approval.1");
    let mut b = s.subscribe("approval.1");
    let mut other = s.subscribe("approval.2");
    s.publish("approval.1", b"approved").await.unwrap();
    for sub in [&mut a, &mut b] {
        let got = tokio::time::timeout(Duration::from_secs(3), sub.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&*got, b"approved");
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), other.recv())
            .await
            .is_err(),
        "another topic's subscriber hears nothing"
    );
}

/// Redis only: a message published through one process's connection reaches a
/// subscriber of another (what cross-replica wake-ups rely on), and two
/// namespaces never see each other's keys or messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stores_share_state_across_instances_within_a_namespace() {
    if !Backend::PostgresRedis.available() {
        return;
    }
    let ns = idp_tests::RedisNamespace::new();
    let other_ns = idp_tests::RedisNamespace::new();
    let open = |name: &str| {
        idp_server::ephemeral::RedisStore::connect(&ns.url, name, Duration::from_millis(500))
            .unwrap()
    };
    let (a, b, c) = (open(&ns.name), open(&ns.name), open(&other_ns.name));
    for s in [&a, &b, &c] {
        assert!(s.wait_subscribed(Duration::from_secs(5)).await);
    }
    let mut on_b = b.subscribe("wake");
    let mut on_c = c.subscribe("wake");
    a.publish("wake", b"hello").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(3), on_b.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&*got, b"hello");
    assert!(
        tokio::time::timeout(Duration::from_millis(200), on_c.recv())
            .await
            .is_err()
    );

    a.set("shared", b"1", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(b.take("shared").await.unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(a.get("shared").await.unwrap(), None);
    a.set("mine", b"1", Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        c.get("mine").await.unwrap(),
        None,
        "namespaces are isolated"
    );
}
