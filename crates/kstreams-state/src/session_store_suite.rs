//! The session store semantics suite every session store (and wrapper) runs.

use crate::error::StateError;
use crate::session_key_codec;
use crate::store::{SessionStore, TimeWindow, WindowedKey};

/// What the suite works on.
pub(crate) type SessionSuiteStore = Box<dyn SessionStore>;

/// Makes a fresh, empty store with the given retention.
pub(crate) type MakeSessionStore<'a> = dyn FnMut(i64) -> SessionSuiteStore + 'a;

fn w(start: i64, end: i64) -> TimeWindow {
    TimeWindow { start, end }
}

fn v(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// Runs every check on fresh stores from `make`.
pub(crate) fn session_store_suite(make: &mut MakeSessionStore<'_>) {
    put_fetch_remove(make(1_000));
    find_sessions(make(1_000));
    ordering(make(1_000));
    retention(make(100));
    segments(make(100_000));
    restore(make(100));
    closed(make(1_000));
}

fn put_fetch_remove(mut store: SessionSuiteStore) {
    assert_eq!(store.retention_period(), 1_000);
    store.put(b"k", w(0, 10), b"a").unwrap();
    store.put(b"k", w(0, 10), b"b").unwrap();
    store.put(b"k", w(20, 20), b"c").unwrap();
    assert_eq!(store.fetch_session(b"k", w(0, 10)).unwrap(), Some(v("b")));
    assert_eq!(store.fetch_session(b"k", w(0, 11)).unwrap(), None);
    assert_eq!(
        store.fetch(b"k").unwrap(),
        vec![(w(0, 10), v("b")), (w(20, 20), v("c"))]
    );
    store.remove(b"k", w(0, 10)).unwrap();
    assert_eq!(store.fetch_session(b"k", w(0, 10)).unwrap(), None);
    assert_eq!(store.fetch(b"k").unwrap(), vec![(w(20, 20), v("c"))]);
    assert!(store.fetch(b"other").unwrap().is_empty());
    store.flush().unwrap();
}

fn find_sessions(mut store: SessionSuiteStore) {
    store.put(b"k", w(0, 10), b"a").unwrap();
    store.put(b"k", w(30, 40), b"b").unwrap();
    store.put(b"k", w(15, 40), b"c").unwrap();
    store.put(b"k", w(100, 100), b"d").unwrap();
    store.put(b"k\x00", w(30, 40), b"other key").unwrap();
    store.put(b"j", w(30, 40), b"other key").unwrap();
    // A record at t = 35 with gap 10 merges with sessions ending at >= 25 and starting <= 45.
    assert_eq!(
        store.find_sessions(b"k", 25, 45).unwrap(),
        vec![(w(15, 40), v("c")), (w(30, 40), v("b"))]
    );
    // Bounds are inclusive.
    assert_eq!(
        store.find_sessions(b"k", 10, 15).unwrap(),
        vec![(w(0, 10), v("a")), (w(15, 40), v("c"))]
    );
    assert_eq!(store.find_sessions(b"k", 101, 200).unwrap(), Vec::new());
    assert_eq!(
        store.find_sessions(b"k", 100, 100).unwrap(),
        vec![(w(100, 100), v("d"))]
    );
    assert_eq!(
        store.find_sessions(b"k", i64::MIN, i64::MAX).unwrap().len(),
        4
    );
}

fn ordering(mut store: SessionSuiteStore) {
    store.put(b"b", w(0, 5), b"1").unwrap();
    store.put(b"a", w(10, 20), b"2").unwrap();
    store.put(b"a", w(0, 20), b"3").unwrap();
    store.put(b"a", w(0, 5), b"4").unwrap();
    store.put(b"", w(-5, -1), b"5").unwrap();
    let all: Vec<(WindowedKey, Vec<u8>)> = store.all().unwrap();
    let order: Vec<(Vec<u8>, TimeWindow)> =
        all.into_iter().map(|(k, _)| (k.key, k.window)).collect();
    assert_eq!(
        order,
        vec![
            (v(""), w(-5, -1)),
            (v("a"), w(0, 5)),
            (v("a"), w(0, 20)),
            (v("a"), w(10, 20)),
            (v("b"), w(0, 5)),
        ],
        "by key, then end, then start"
    );
}

fn retention(mut store: SessionSuiteStore) {
    // Retention 100: at stream time 300, sessions ending before 200 are expired.
    store.put(b"k", w(0, 50), b"old").unwrap();
    store.put(b"k", w(150, 200), b"edge").unwrap();
    store.put(b"k", w(190, 199), b"gone").unwrap();
    store.put(b"k", w(300, 300), b"now").unwrap();
    assert_eq!(store.fetch_session(b"k", w(0, 50)).unwrap(), None);
    assert_eq!(store.fetch_session(b"k", w(190, 199)).unwrap(), None);
    assert_eq!(
        store.fetch(b"k").unwrap(),
        vec![(w(150, 200), v("edge")), (w(300, 300), v("now"))]
    );
    store.put(b"k", w(100, 150), b"late").unwrap();
    assert_eq!(
        store.fetch_session(b"k", w(100, 150)).unwrap(),
        None,
        "writes to expired sessions are ignored"
    );
    assert_eq!(store.all().unwrap().len(), 2);
}

fn segments(mut store: SessionSuiteStore) {
    for end in [0, 59_999, 60_000, 130_000] {
        store
            .put(b"k", w(end - 5, end), end.to_string().as_bytes())
            .unwrap();
    }
    let ends: Vec<i64> = store
        .find_sessions(b"k", 59_999, 200_000)
        .unwrap()
        .into_iter()
        .map(|(w, _)| w.end)
        .collect();
    assert_eq!(ends, vec![59_999, 60_000, 130_000]);
    // Stream time 130 s: sessions ending before 30 s are expired.
    let ends: Vec<i64> = store
        .fetch(b"k")
        .unwrap()
        .into_iter()
        .map(|(w, _)| w.end)
        .collect();
    assert_eq!(ends, vec![59_999, 60_000, 130_000]);
}

fn restore(mut store: SessionSuiteStore) {
    store
        .restore(&session_key_codec::encode(b"k", w(0, 10)), Some(b"a"))
        .unwrap();
    store
        .restore(&session_key_codec::encode(b"k", w(5, 20)), Some(b"b"))
        .unwrap();
    store
        .restore(&session_key_codec::encode(b"k", w(5, 20)), None)
        .unwrap();
    assert_eq!(store.fetch(b"k").unwrap(), vec![(w(0, 10), v("a"))]);
    store
        .restore(&session_key_codec::encode(b"k", w(400, 500)), Some(b"c"))
        .unwrap();
    assert_eq!(
        store.fetch(b"k").unwrap(),
        vec![(w(400, 500), v("c"))],
        "restore advances stream time"
    );
    store
        .restore(&session_key_codec::encode(b"k", w(0, 10)), Some(b"old"))
        .unwrap();
    assert_eq!(store.fetch_session(b"k", w(0, 10)).unwrap(), None);
    assert!(matches!(
        store.restore(b"short", Some(b"x")),
        Err(StateError::Corrupt { .. })
    ));
}

fn closed(mut store: SessionSuiteStore) {
    store.put(b"k", w(0, 1), b"1").unwrap();
    store.close().unwrap();
    assert!(!store.is_open());
    assert!(matches!(store.fetch(b"k"), Err(StateError::Closed { .. })));
    assert!(matches!(
        store.put(b"k", w(0, 1), b"1"),
        Err(StateError::Closed { .. })
    ));
    assert!(matches!(
        store.find_sessions(b"k", 0, 1),
        Err(StateError::Closed { .. })
    ));
    assert!(matches!(store.all(), Err(StateError::Closed { .. })));
}
