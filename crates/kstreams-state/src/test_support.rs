//! Shared test helpers: the key-value semantics suite every key-value store (and wrapper stack)
//! runs, and a recording changelog writer.

use std::sync::{Arc, Mutex};

use crate::error::StateError;
use crate::store::{ChangelogWriter, KeyValue, KeyValueStore};

/// One recorded changelog write: (store, key, value).
pub(crate) type LoggedChange = (String, Vec<u8>, Option<Vec<u8>>);

/// A changelog writer that remembers every change.
#[derive(Default)]
pub(crate) struct RecordingChangelogWriter {
    changes: Mutex<Vec<LoggedChange>>,
}

impl RecordingChangelogWriter {
    pub(crate) fn shared() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(crate) fn changes(&self) -> Vec<LoggedChange> {
        self.changes.lock().unwrap().clone()
    }

    pub(crate) fn clear(&self) {
        self.changes.lock().unwrap().clear();
    }
}

impl ChangelogWriter for RecordingChangelogWriter {
    fn log_change(&self, store: &str, key: &[u8], value: Option<&[u8]>) {
        self.changes.lock().unwrap().push((
            store.to_string(),
            key.to_vec(),
            value.map(<[u8]>::to_vec),
        ));
    }
}

/// How strictly the suite checks a store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SuiteOptions {
    /// Whether `approximate_num_entries` is exact.
    pub exact_count: bool,
}

impl SuiteOptions {
    pub(crate) fn exact() -> Self {
        Self { exact_count: true }
    }

    pub(crate) fn estimated() -> Self {
        Self { exact_count: false }
    }
}

fn kv(key: &[u8], value: &[u8]) -> KeyValue {
    (key.to_vec(), value.to_vec())
}

fn collect(iter: crate::store::KeyValueIter<'_>) -> Vec<KeyValue> {
    iter.collect::<Result<Vec<_>, _>>().unwrap()
}

fn keys(entries: &[KeyValue]) -> Vec<Vec<u8>> {
    entries.iter().map(|(k, _)| k.clone()).collect()
}

fn key_list(list: &[&[u8]]) -> Vec<Vec<u8>> {
    list.iter().map(|k| k.to_vec()).collect()
}

/// Runs the key-value semantics suite; `make` returns a fresh, empty, open store each call.
pub(crate) fn key_value_store_suite<S: KeyValueStore>(
    mut make: impl FnMut() -> S,
    options: SuiteOptions,
) {
    get_put_overwrite(&mut make());
    lent_reads_match_copies(&mut make());
    put_if_absent(&mut make());
    put_all_and_delete(&mut make());
    ranges(&mut make());
    prefix_scans(&mut make());
    counts(&mut make(), options);
    restore_bypasses(&mut make());
    closed_store_errors(&mut make());
}

fn get_put_overwrite(store: &mut dyn KeyValueStore) {
    assert!(store.is_open());
    assert_eq!(store.get(b"a").unwrap(), None);
    store.put(b"a", b"1").unwrap();
    assert_eq!(store.get(b"a").unwrap(), Some(b"1".to_vec()));
    store.put(b"a", b"2").unwrap();
    assert_eq!(store.get(b"a").unwrap(), Some(b"2".to_vec()));
    store.flush().unwrap();
    assert_eq!(store.get(b"a").unwrap(), Some(b"2".to_vec()));
    store.put(b"a", b"").unwrap();
    assert_eq!(
        store.get(b"a").unwrap(),
        Some(Vec::new()),
        "empty values are values"
    );
}

/// `get_with` lends the same value `get` copies: stored, cached, absent and empty.
fn lent_reads_match_copies(store: &mut dyn KeyValueStore) {
    store.put(b"a", b"1").unwrap();
    store.flush().unwrap();
    store.put(b"b", b"22").unwrap();
    store.put(b"e", b"").unwrap();
    for key in [&b"a"[..], b"b", b"e", b"zz"] {
        let mut lent = Vec::new();
        store
            .get_with(key, &mut |v| lent.push(v.map(<[u8]>::to_vec)))
            .unwrap();
        assert_eq!(lent, vec![store.get(key).unwrap()], "key {key:?}");
    }
}

fn put_if_absent(store: &mut dyn KeyValueStore) {
    assert_eq!(store.put_if_absent(b"k", b"1").unwrap(), None);
    assert_eq!(
        store.put_if_absent(b"k", b"2").unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(store.get(b"k").unwrap(), Some(b"1".to_vec()));
    store.flush().unwrap();
    assert_eq!(
        store.put_if_absent(b"k", b"3").unwrap(),
        Some(b"1".to_vec())
    );
    store.delete(b"k").unwrap();
    assert_eq!(store.put_if_absent(b"k", b"4").unwrap(), None);
    assert_eq!(store.get(b"k").unwrap(), Some(b"4".to_vec()));
}

fn put_all_and_delete(store: &mut dyn KeyValueStore) {
    store
        .put_all(&[
            kv(b"x", b"1"),
            kv(b"y", b"2"),
            kv(b"z", b"3"),
            kv(b"x", b"4"),
        ])
        .unwrap();
    assert_eq!(store.get(b"x").unwrap(), Some(b"4".to_vec()));
    assert_eq!(store.get(b"y").unwrap(), Some(b"2".to_vec()));
    assert_eq!(store.delete(b"y").unwrap(), Some(b"2".to_vec()));
    assert_eq!(store.delete(b"y").unwrap(), None);
    assert_eq!(store.delete(b"never").unwrap(), None);
    assert_eq!(store.get(b"y").unwrap(), None);
    store.flush().unwrap();
    assert_eq!(store.delete(b"z").unwrap(), Some(b"3".to_vec()));
    assert_eq!(store.get(b"z").unwrap(), None);
    assert_eq!(collect(store.all().unwrap()), vec![kv(b"x", b"4")]);
}

fn ranges(store: &mut dyn KeyValueStore) {
    for key in [b"a", b"b", b"c"] {
        store.put(key, key).unwrap();
    }
    store.flush().unwrap();
    for key in [b"d", b"e", b"f"] {
        store.put(key, key).unwrap();
    }
    store.delete(b"f").unwrap();
    store.put(b"a", b"A").unwrap();

    let range = collect(store.range(Some(b"b"), Some(b"d")).unwrap());
    assert_eq!(
        range,
        vec![kv(b"b", b"b"), kv(b"c", b"c"), kv(b"d", b"d")],
        "bounds inclusive"
    );
    assert_eq!(
        keys(&collect(store.range(None, Some(b"c")).unwrap())),
        key_list(&[b"a", b"b", b"c"])
    );
    assert_eq!(
        keys(&collect(store.range(Some(b"c"), None).unwrap())),
        key_list(&[b"c", b"d", b"e"])
    );
    assert_eq!(
        keys(&collect(store.range(Some(b"bb"), Some(b"dd")).unwrap())),
        key_list(&[b"c", b"d"])
    );
    assert_eq!(collect(store.range(None, None).unwrap())[0], kv(b"a", b"A"));
    assert!(
        collect(store.range(Some(b"d"), Some(b"b")).unwrap()).is_empty(),
        "inverted range is empty"
    );
    assert_eq!(
        keys(&collect(store.range(Some(b"c"), Some(b"c")).unwrap())),
        key_list(&[b"c"])
    );

    assert_eq!(
        keys(&collect(
            store.reverse_range(Some(b"b"), Some(b"d")).unwrap()
        )),
        key_list(&[b"d", b"c", b"b"])
    );
    assert_eq!(
        keys(&collect(store.reverse_range(None, None).unwrap())),
        key_list(&[b"e", b"d", b"c", b"b", b"a"])
    );
    assert_eq!(
        keys(&collect(store.reverse_range(None, Some(b"b")).unwrap())),
        key_list(&[b"b", b"a"])
    );
    assert_eq!(
        keys(&collect(store.reverse_range(Some(b"dd"), None).unwrap())),
        key_list(&[b"e"])
    );
    assert!(collect(store.reverse_range(Some(b"d"), Some(b"b")).unwrap()).is_empty());
    assert_eq!(
        keys(&collect(store.all().unwrap())),
        key_list(&[b"a", b"b", b"c", b"d", b"e"])
    );
    store.flush().unwrap();
    assert_eq!(
        keys(&collect(store.all().unwrap())),
        key_list(&[b"a", b"b", b"c", b"d", b"e"])
    );
}

fn prefix_scans(store: &mut dyn KeyValueStore) {
    let stored: [&[u8]; 9] = [
        b"a",
        b"ab",
        b"ab1",
        b"ab2",
        b"ac",
        &[0xFE, 0xFF],
        &[0xFF],
        &[0xFF, 0x01],
        &[0xFF, 0xFF],
    ];
    for key in stored {
        store.put(key, b"v").unwrap();
    }
    store.flush().unwrap();
    store.put(b"ab3", b"v").unwrap();
    store.delete(b"ab1").unwrap();
    assert_eq!(
        keys(&collect(store.prefix_scan(b"ab").unwrap())),
        key_list(&[b"ab", b"ab2", b"ab3"])
    );
    assert_eq!(
        keys(&collect(store.prefix_scan(&[0xFF]).unwrap())),
        key_list(&[&[0xFF], &[0xFF, 0x01], &[0xFF, 0xFF]])
    );
    assert_eq!(
        keys(&collect(store.prefix_scan(&[0xFE]).unwrap())),
        key_list(&[&[0xFE, 0xFF]])
    );
    assert!(collect(store.prefix_scan(b"zz").unwrap()).is_empty());
    assert_eq!(collect(store.prefix_scan(b"").unwrap()).len(), 9);
}

fn counts(store: &mut dyn KeyValueStore, options: SuiteOptions) {
    assert_eq!(store.approximate_num_entries().unwrap(), 0);
    for i in 0..10u8 {
        store.put(&[i], b"v").unwrap();
    }
    let count = store.approximate_num_entries().unwrap();
    if options.exact_count {
        assert_eq!(count, 10);
        store.flush().unwrap();
        store.delete(&[0]).unwrap();
        store.put(&[3], b"w").unwrap();
        assert_eq!(store.approximate_num_entries().unwrap(), 9);
    } else {
        assert!(count > 0, "estimate after writes is {count}");
    }
}

fn restore_bypasses(store: &mut dyn KeyValueStore) {
    store.put(b"r", b"1").unwrap();
    store.restore(b"r", Some(b"2")).unwrap();
    assert_eq!(store.get(b"r").unwrap(), Some(b"2".to_vec()));
    store.restore(b"s", Some(b"3")).unwrap();
    assert_eq!(store.get(b"s").unwrap(), Some(b"3".to_vec()));
    store.restore(b"s", None).unwrap();
    assert_eq!(store.get(b"s").unwrap(), None);
}

fn closed_store_errors(store: &mut dyn KeyValueStore) {
    store.put(b"a", b"1").unwrap();
    store.close().unwrap();
    assert!(!store.is_open());
    assert!(matches!(store.get(b"a"), Err(StateError::Closed { .. })));
    assert!(matches!(
        store.get_with(b"a", &mut |_| panic!("no value from a closed store")),
        Err(StateError::Closed { .. })
    ));
    assert!(matches!(
        store.put(b"a", b"2"),
        Err(StateError::Closed { .. })
    ));
    assert!(matches!(store.delete(b"a"), Err(StateError::Closed { .. })));
    assert!(matches!(
        store.range(None, None),
        Err(StateError::Closed { .. })
    ));
    assert!(matches!(store.all(), Err(StateError::Closed { .. })));
    assert!(matches!(
        store.prefix_scan(b"a"),
        Err(StateError::Closed { .. })
    ));
    assert!(matches!(
        store.approximate_num_entries(),
        Err(StateError::Closed { .. })
    ));
    assert!(matches!(store.flush(), Err(StateError::Closed { .. })));
}
