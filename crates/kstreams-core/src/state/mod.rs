//! Typed state stores over the byte stores of `kstreams-state`, and the builders a topology
//! uses to create one store per task.

mod key_value_store;
mod session_store;
mod store_builder;
mod store_facades;
mod task_store;
mod value_and_timestamp;
mod window_store;

pub use key_value_store::KeyValueStore;
pub use session_store::{SessionStore, SessionStoreBuilder};
pub use store_builder::{KeyValueStoreBuilder, StoreBuilder, Stores};
pub use store_facades::{KeyValueStoreFacade, WindowStoreFacade};
pub use task_store::TaskStore;
pub use value_and_timestamp::{ValueAndTimestamp, ValueAndTimestampSerde};
pub use window_store::{WindowStore, WindowStoreBuilder};

pub use kstreams_state::{RocksDbConfig, StoreContext};
