//! Serializers and deserializers between typed keys/values and bytes.
//!
//! A [`Serde`] turns a value into bytes and back. Kafka's null is `None` on the byte side: a
//! serde for `Option<T>` maps `None` to null; a serde for a plain `T` reports a null payload as
//! an error (never a panic), which the deserialization exception handler then deals with.

mod bincode_serde;
mod bytes_serde;
mod json_serde;
mod numeric;
mod option_serde;
mod string_serde;

use std::sync::Arc;

pub use bincode_serde::BincodeSerde;
pub use bytes_serde::BytesSerde;
pub use json_serde::JsonSerde;
pub use numeric::{F32Serde, F64Serde, I16Serde, I32Serde, I64Serde, U32Serde, U64Serde};
pub use option_serde::OptionSerde;
pub use string_serde::{StringSerde, UnitSerde};

/// A serialization or deserialization failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{direction} failed for topic '{topic}' with {serde}: {message}")]
pub struct SerdeError {
    /// "serialization" or "deserialization".
    pub direction: &'static str,
    /// The topic (or store) the data belongs to.
    pub topic: String,
    /// The serde's name.
    pub serde: &'static str,
    /// What went wrong.
    pub message: String,
}

impl SerdeError {
    /// A deserialization error.
    pub fn deserialize(topic: &str, serde: &'static str, message: impl Into<String>) -> Self {
        SerdeError {
            direction: "deserialization",
            topic: topic.to_string(),
            serde,
            message: message.into(),
        }
    }

    /// A serialization error.
    pub fn serialize(topic: &str, serde: &'static str, message: impl Into<String>) -> Self {
        SerdeError {
            direction: "serialization",
            topic: topic.to_string(),
            serde,
            message: message.into(),
        }
    }

    /// The error for a null payload given to a serde of a non-nullable type.
    pub fn unexpected_null(topic: &str, serde: &'static str) -> Self {
        Self::deserialize(
            topic,
            serde,
            "null data for a non-nullable type (use an Option serde)",
        )
    }
}

/// Converts values of `T` to and from Kafka's nullable bytes.
pub trait Serde<T>: Send + Sync + 'static {
    /// Serializes `value` for `topic`; `Ok(None)` is a null.
    fn serialize(&self, topic: &str, value: &T) -> Result<Option<Vec<u8>>, SerdeError>;
    /// Deserializes `data` read from `topic`; `None` is a null.
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<T, SerdeError>;
    /// Appends `value`'s serialized form to `buf`; `Ok(false)`, with nothing appended, is a
    /// null. Stores serialize keys and values this way into buffers they keep, so an update
    /// allocates nothing. The default goes through [`Serde::serialize`]; serdes that can
    /// write in place override it.
    fn serialize_into(
        &self,
        topic: &str,
        value: &T,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        match self.serialize(topic, value)? {
            Some(bytes) if buf.is_empty() => *buf = bytes,
            Some(bytes) => buf.extend_from_slice(&bytes),
            None => return Ok(false),
        }
        Ok(true)
    }
}

/// A shared, type-erased serde.
pub type SharedSerde<T> = Arc<dyn Serde<T>>;

/// Types with a default serde, so `builder.stream::<String, i64>(..)` needs no serde arguments.
pub trait DefaultSerde: Sized + 'static {
    /// The default serde of the type.
    fn default_serde() -> SharedSerde<Self>;
}

/// Named constructors in the style of Kafka's `Serdes`.
pub struct Serdes;

impl Serdes {
    /// UTF-8 strings.
    pub fn string() -> SharedSerde<String> {
        Arc::new(StringSerde)
    }
    /// Raw bytes.
    pub fn bytes() -> SharedSerde<Vec<u8>> {
        Arc::new(BytesSerde)
    }
    /// Big-endian 64-bit integers (Kafka's `LongSerializer`).
    pub fn i64() -> SharedSerde<i64> {
        Arc::new(I64Serde)
    }
    /// Big-endian 32-bit integers (Kafka's `IntegerSerializer`).
    pub fn i32() -> SharedSerde<i32> {
        Arc::new(I32Serde)
    }
    /// JSON via serde_json.
    pub fn json<T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static>()
    -> SharedSerde<T> {
        Arc::new(JsonSerde::<T>::new())
    }
    /// bincode (standard configuration) via serde.
    pub fn bincode<T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static>()
    -> SharedSerde<T> {
        Arc::new(BincodeSerde::<T>::new())
    }
    /// A nullable version of another serde.
    pub fn option<T: 'static>(inner: SharedSerde<T>) -> SharedSerde<Option<T>> {
        Arc::new(OptionSerde::new(inner))
    }
}

impl<T: 'static, S: Serde<T> + ?Sized> Serde<T> for Arc<S> {
    fn serialize(&self, topic: &str, value: &T) -> Result<Option<Vec<u8>>, SerdeError> {
        (**self).serialize(topic, value)
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<T, SerdeError> {
        (**self).deserialize(topic, data)
    }
    fn serialize_into(
        &self,
        topic: &str,
        value: &T,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        (**self).serialize_into(topic, value, buf)
    }
}

macro_rules! default_serde {
    ($t:ty, $s:expr) => {
        impl DefaultSerde for $t {
            fn default_serde() -> SharedSerde<Self> {
                Arc::new($s)
            }
        }
    };
}

default_serde!(String, StringSerde);
default_serde!(Vec<u8>, BytesSerde);
default_serde!(i16, I16Serde);
default_serde!(i32, I32Serde);
default_serde!(i64, I64Serde);
default_serde!(u32, U32Serde);
default_serde!(u64, U64Serde);
default_serde!(f32, F32Serde);
default_serde!(f64, F64Serde);
default_serde!((), UnitSerde);

impl<T: DefaultSerde> DefaultSerde for Option<T> {
    fn default_serde() -> SharedSerde<Self> {
        Arc::new(OptionSerde::new(T::default_serde()))
    }
}

#[cfg(test)]
mod serialize_into_tests {
    use super::{Serde, Serdes, SharedSerde};

    /// What `serialize_into` appends is what `serialize` returns, after whatever the buffer
    /// held; a null appends nothing.
    fn check<T: 'static>(serde: SharedSerde<T>, value: T) {
        let expected = serde.serialize("t", &value).unwrap();
        let mut buf = b"prefix".to_vec();
        let present = serde.serialize_into("t", &value, &mut buf).unwrap();
        match expected {
            Some(bytes) => {
                assert!(present);
                assert_eq!(&buf[..6], b"prefix");
                assert_eq!(&buf[6..], &bytes[..]);
            }
            None => {
                assert!(!present);
                assert_eq!(buf, b"prefix");
            }
        }
    }

    #[test]
    fn serialize_into_appends_what_serialize_returns() {
        check(Serdes::string(), "héllo".to_string());
        check(Serdes::bytes(), vec![0, 1, 255]);
        check(Serdes::i64(), -42i64);
        check(Serdes::i32(), 7i32);
        check(Serdes::json::<Vec<u32>>(), vec![1, 2, 3]);
        check(Serdes::option(Serdes::i64()), Some(5i64));
        check(Serdes::option(Serdes::i64()), None);
        check(Serdes::bincode::<(u8, String)>(), (1, "x".to_string()));
    }
}
