//! The window store semantics suite every window store (and wrapper) runs.

use crate::error::StateError;
use crate::store::{TimeWindow, WindowStore, WindowedKey};
use crate::window_key_codec;

/// What the suite works on.
pub(crate) type WindowSuiteStore = Box<dyn WindowStore>;

/// Makes a fresh, empty store from (retention, window size, retain duplicates).
pub(crate) type MakeWindowStore<'a> = dyn FnMut(i64, i64, bool) -> WindowSuiteStore + 'a;

fn v(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn wk(key: &str, start: i64, size: i64) -> WindowedKey {
    WindowedKey {
        key: v(key),
        window: TimeWindow {
            start,
            end: start + size,
        },
    }
}

/// Runs every check on fresh stores from `make`.
pub(crate) fn window_store_suite(make: &mut MakeWindowStore<'_>) {
    put_fetch_delete(make(1_000, 10, false));
    ranges(make(1_000, 10, false));
    key_ordering(make(1_000, 10, false));
    retention(make(100, 10, false));
    segments(make(100_000, 10, false));
    duplicates(make(1_000, 10, true));
    restore(make(100, 10, false));
    restore_duplicates(make(1_000, 10, true));
    closed(make(1_000, 10, false));
}

fn put_fetch_delete(mut store: WindowSuiteStore) {
    assert_eq!(store.window_size(), 10);
    assert_eq!(store.retention_period(), 1_000);
    assert_eq!(store.fetch(b"k", 0).unwrap(), None);
    store.put(b"k", Some(b"1"), 0).unwrap();
    store.put(b"k", Some(b"2"), 10).unwrap();
    store.put(b"k", Some(b"3"), 0).unwrap();
    assert_eq!(store.fetch(b"k", 0).unwrap(), Some(v("3")));
    assert_eq!(store.fetch(b"k", 10).unwrap(), Some(v("2")));
    assert_eq!(store.fetch(b"k", 5).unwrap(), None);
    assert_eq!(store.fetch(b"other", 0).unwrap(), None);
    store.put(b"k", None, 0).unwrap();
    assert_eq!(store.fetch(b"k", 0).unwrap(), None);
    store.put(b"n", Some(b"neg"), -20).unwrap();
    assert_eq!(store.fetch(b"n", -20).unwrap(), Some(v("neg")));
    store.flush().unwrap();
    assert_eq!(store.fetch(b"k", 10).unwrap(), Some(v("2")));
}

fn ranges(mut store: WindowSuiteStore) {
    for (start, value) in [(30, "c"), (0, "a"), (10, "b"), (40, "d")] {
        store.put(b"k", Some(value.as_bytes()), start).unwrap();
    }
    store.put(b"j", Some(b"x"), 10).unwrap();
    store.put(b"l", Some(b"y"), 10).unwrap();
    assert_eq!(
        store.fetch_range(b"k", 10, 30).unwrap(),
        vec![(10, v("b")), (30, v("c"))],
        "inclusive bounds"
    );
    assert_eq!(
        store.fetch_range(b"k", i64::MIN, i64::MAX).unwrap(),
        vec![(0, v("a")), (10, v("b")), (30, v("c")), (40, v("d"))]
    );
    assert!(store.fetch_range(b"k", 11, 29).unwrap().is_empty());
    assert!(store.fetch_range(b"k", 30, 10).unwrap().is_empty());
    assert_eq!(store.fetch_range(b"k", 40, 40).unwrap(), vec![(40, v("d"))]);
}

fn key_ordering(mut store: WindowSuiteStore) {
    let keys: [&[u8]; 5] = [b"ab", b"a\x00", b"a", b"b", b""];
    for key in keys {
        store.put(key, Some(b"2"), 20).unwrap();
        store.put(key, Some(b"1"), 10).unwrap();
    }
    let all = store.all().unwrap();
    let order: Vec<(Vec<u8>, i64)> = all
        .iter()
        .map(|(k, _)| (k.key.clone(), k.window.start))
        .collect();
    let mut expected = Vec::new();
    for key in [&b""[..], b"a", b"a\x00", b"ab", b"b"] {
        expected.push((key.to_vec(), 10));
        expected.push((key.to_vec(), 20));
    }
    assert_eq!(order, expected, "ordered by key, then start");
    assert_eq!(all[0], (wk("", 10, 10), v("1")));

    let range = store
        .fetch_key_range(Some(b"a"), Some(b"a\x00"), 0, 100)
        .unwrap();
    let keys: Vec<Vec<u8>> = range.iter().map(|(k, _)| k.key.clone()).collect();
    assert_eq!(
        keys,
        vec![v("a"), v("a"), b"a\x00".to_vec(), b"a\x00".to_vec()],
        "key bounds inclusive"
    );
    let range = store.fetch_key_range(Some(b"ab"), None, 15, 20).unwrap();
    assert_eq!(
        range,
        vec![(wk("ab", 20, 10), v("2")), (wk("b", 20, 10), v("2"))]
    );
    let range = store.fetch_key_range(None, Some(b"a"), 10, 10).unwrap();
    assert_eq!(
        range,
        vec![(wk("", 10, 10), v("1")), (wk("a", 10, 10), v("1"))]
    );
    assert!(
        store
            .fetch_key_range(Some(b"b"), Some(b"a"), 0, 100)
            .unwrap()
            .is_empty()
    );
}

fn retention(mut store: WindowSuiteStore) {
    // size 10, retention 100: once stream time is 200, windows starting before 90 are expired.
    store.put(b"k", Some(b"old"), 0).unwrap();
    store.put(b"k", Some(b"edge"), 90).unwrap();
    store.put(b"k", Some(b"gone"), 89).unwrap();
    store.put(b"k", Some(b"now"), 200).unwrap();
    assert_eq!(
        store.fetch(b"k", 0).unwrap(),
        None,
        "expired window dropped"
    );
    assert_eq!(store.fetch(b"k", 89).unwrap(), None);
    assert_eq!(
        store.fetch(b"k", 90).unwrap(),
        Some(v("edge")),
        "window ending exactly retention ago is kept"
    );
    store.put(b"k", Some(b"late"), 50).unwrap();
    assert_eq!(
        store.fetch(b"k", 50).unwrap(),
        None,
        "writes to expired windows are ignored"
    );
    assert_eq!(
        store.fetch_range(b"k", 0, 1_000).unwrap(),
        vec![(90, v("edge")), (200, v("now"))]
    );
    assert_eq!(store.all().unwrap().len(), 2);
    store.put(b"k", Some(b"later"), 201).unwrap();
    assert_eq!(store.fetch(b"k", 90).unwrap(), None);
}

fn segments(mut store: WindowSuiteStore) {
    // retention 100 s: 60 s segments (50 s is below the minimum).
    let starts = [0, 59_999, 60_000, 119_999, 120_000, 150_000];
    for start in starts {
        store
            .put(b"k", Some(start.to_string().as_bytes()), start)
            .unwrap();
        store.put(b"z", Some(b"z"), start).unwrap();
    }
    let fetched: Vec<i64> = store
        .fetch_range(b"k", 59_999, 120_000)
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(fetched, vec![59_999, 60_000, 119_999, 120_000]);
    // stream time 150 s: starts before 150_000 - 10 - 100_000 = 49_990 are expired.
    let live: Vec<i64> = store
        .fetch_range(b"k", i64::MIN, i64::MAX)
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(live, vec![59_999, 60_000, 119_999, 120_000, 150_000]);
    let keyed = store
        .fetch_key_range(Some(b"k"), Some(b"z"), 60_000, 120_000)
        .unwrap();
    assert_eq!(keyed.len(), 6);
    assert!(keyed[..3].iter().all(|(k, _)| k.key == b"k"));
}

fn duplicates(mut store: WindowSuiteStore) {
    store.put(b"k", Some(b"first"), 10).unwrap();
    store.put(b"k", Some(b"second"), 10).unwrap();
    store.put(b"k", Some(b"early"), 5).unwrap();
    store.put(b"k", Some(b"second"), 10).unwrap();
    store.put(b"k", None, 10).unwrap();
    assert_eq!(store.fetch(b"k", 10).unwrap(), Some(v("first")));
    assert_eq!(
        store.fetch_range(b"k", 0, 20).unwrap(),
        vec![
            (5, v("early")),
            (10, v("first")),
            (10, v("second")),
            (10, v("second"))
        ]
    );
    store.put(b"j", Some(b"j"), 10).unwrap();
    let all = store.all().unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all[0], (wk("j", 10, 10), v("j")));
    assert_eq!(all[2], (wk("k", 10, 10), v("first")));
}

fn restore(mut store: WindowSuiteStore) {
    store
        .restore(&window_key_codec::encode(b"k", 10, 0), Some(b"a"))
        .unwrap();
    store
        .restore(&window_key_codec::encode(b"k", 20, 0), Some(b"b"))
        .unwrap();
    store
        .restore(&window_key_codec::encode(b"k", 20, 0), None)
        .unwrap();
    assert_eq!(store.fetch_range(b"k", 0, 100).unwrap(), vec![(10, v("a"))]);
    store
        .restore(&window_key_codec::encode(b"k", 500, 0), Some(b"c"))
        .unwrap();
    assert_eq!(
        store.fetch(b"k", 10).unwrap(),
        None,
        "restore advances stream time"
    );
    store
        .restore(&window_key_codec::encode(b"k", 30, 0), Some(b"old"))
        .unwrap();
    assert_eq!(
        store.fetch(b"k", 30).unwrap(),
        None,
        "expired records are skipped"
    );
    assert!(matches!(
        store.restore(b"short", Some(b"x")),
        Err(StateError::Corrupt { .. })
    ));
}

fn restore_duplicates(mut store: WindowSuiteStore) {
    store
        .restore(&window_key_codec::encode(b"k", 10, 7), Some(b"a"))
        .unwrap();
    store
        .restore(&window_key_codec::encode(b"k", 10, 8), Some(b"b"))
        .unwrap();
    store.put(b"k", Some(b"c"), 10).unwrap();
    assert_eq!(
        store.fetch_range(b"k", 10, 10).unwrap(),
        vec![(10, v("a")), (10, v("b")), (10, v("c"))]
    );
}

fn closed(mut store: WindowSuiteStore) {
    store.put(b"k", Some(b"1"), 0).unwrap();
    store.close().unwrap();
    assert!(!store.is_open());
    assert!(matches!(
        store.fetch(b"k", 0),
        Err(StateError::Closed { .. })
    ));
    assert!(matches!(
        store.put(b"k", Some(b"1"), 0),
        Err(StateError::Closed { .. })
    ));
    assert!(matches!(
        store.fetch_range(b"k", 0, 1),
        Err(StateError::Closed { .. })
    ));
    assert!(matches!(store.all(), Err(StateError::Closed { .. })));
}
