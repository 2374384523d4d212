//! Store traits implemented for boxed trait objects, so wrappers can stack over a backend
//! chosen at run time (`ChangeLoggingKeyValueStore<Box<dyn KeyValueStore>>`).

use std::any::Any;

use crate::error::Result;
use crate::store::{
    CacheFlushListener, KeyValue, KeyValueIter, KeyValueStore, SessionStore, StateStore,
    TimeWindow, WindowStore, WindowedKey,
};

macro_rules! delegate_state_store {
    ($ty:ty) => {
        impl StateStore for Box<$ty> {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn persistent(&self) -> bool {
                (**self).persistent()
            }
            fn is_open(&self) -> bool {
                (**self).is_open()
            }
            fn flush(&mut self) -> Result<()> {
                (**self).flush()
            }
            fn flush_cache(&mut self) -> Result<()> {
                (**self).flush_cache()
            }
            fn close(&mut self) -> Result<()> {
                (**self).close()
            }
            fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
                (**self).restore(key, value)
            }
            fn as_any(&self) -> &dyn Any {
                (**self).as_any()
            }
            fn as_any_mut(&mut self) -> &mut dyn Any {
                (**self).as_any_mut()
            }
        }
    };
}

delegate_state_store!(dyn KeyValueStore);
delegate_state_store!(dyn WindowStore);
delegate_state_store!(dyn SessionStore);

impl KeyValueStore for Box<dyn KeyValueStore> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        (**self).get(key)
    }
    fn get_with(&self, key: &[u8], read: &mut dyn FnMut(Option<&[u8]>)) -> Result<()> {
        (**self).get_with(key, read)
    }
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        (**self).put(key, value)
    }
    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>> {
        (**self).put_if_absent(key, value)
    }
    fn put_all(&mut self, entries: &[KeyValue]) -> Result<()> {
        (**self).put_all(entries)
    }
    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        (**self).delete(key)
    }
    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        (**self).range(from, to)
    }
    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        (**self).reverse_range(from, to)
    }
    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>> {
        (**self).prefix_scan(prefix)
    }
    fn all(&self) -> Result<KeyValueIter<'_>> {
        (**self).all()
    }
    fn approximate_num_entries(&self) -> Result<u64> {
        (**self).approximate_num_entries()
    }
    fn set_flush_listener(&mut self, listener: CacheFlushListener) -> bool {
        (**self).set_flush_listener(listener)
    }
}

impl WindowStore for Box<dyn WindowStore> {
    fn put(&mut self, key: &[u8], value: Option<&[u8]>, window_start: i64) -> Result<()> {
        (**self).put(key, value, window_start)
    }
    fn fetch(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>> {
        (**self).fetch(key, window_start)
    }
    fn fetch_range(&self, key: &[u8], time_from: i64, time_to: i64) -> Result<Vec<(i64, Vec<u8>)>> {
        (**self).fetch_range(key, time_from, time_to)
    }
    fn fetch_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
    ) -> Result<Vec<(WindowedKey, Vec<u8>)>> {
        (**self).fetch_key_range(key_from, key_to, time_from, time_to)
    }
    fn all(&self) -> Result<Vec<(WindowedKey, Vec<u8>)>> {
        (**self).all()
    }
    fn window_size(&self) -> i64 {
        (**self).window_size()
    }
    fn retention_period(&self) -> i64 {
        (**self).retention_period()
    }
    fn set_flush_listener(&mut self, listener: CacheFlushListener) -> bool {
        (**self).set_flush_listener(listener)
    }
}

impl SessionStore for Box<dyn SessionStore> {
    fn find_sessions(
        &self,
        key: &[u8],
        earliest_session_end: i64,
        latest_session_start: i64,
    ) -> Result<Vec<(TimeWindow, Vec<u8>)>> {
        (**self).find_sessions(key, earliest_session_end, latest_session_start)
    }
    fn fetch_session(&self, key: &[u8], window: TimeWindow) -> Result<Option<Vec<u8>>> {
        (**self).fetch_session(key, window)
    }
    fn fetch(&self, key: &[u8]) -> Result<Vec<(TimeWindow, Vec<u8>)>> {
        (**self).fetch(key)
    }
    fn put(&mut self, key: &[u8], window: TimeWindow, value: &[u8]) -> Result<()> {
        (**self).put(key, window, value)
    }
    fn remove(&mut self, key: &[u8], window: TimeWindow) -> Result<()> {
        (**self).remove(key, window)
    }
    fn all(&self) -> Result<Vec<(WindowedKey, Vec<u8>)>> {
        (**self).all()
    }
    fn retention_period(&self) -> i64 {
        (**self).retention_period()
    }
    fn set_flush_listener(&mut self, listener: CacheFlushListener) -> bool {
        (**self).set_flush_listener(listener)
    }
}
