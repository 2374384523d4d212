//! Fixed-width numbers in big-endian byte order, as Kafka's `ShortSerializer`,
//! `IntegerSerializer`, `LongSerializer`, `FloatSerializer` and `DoubleSerializer` write them.

use super::{Serde, SerdeError};

macro_rules! be_serde {
    ($name:ident, $t:ty, $n:expr, $doc:expr) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;

        impl Serde<$t> for $name {
            fn serialize(&self, _topic: &str, value: &$t) -> Result<Option<Vec<u8>>, SerdeError> {
                Ok(Some(value.to_be_bytes().to_vec()))
            }
            fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<$t, SerdeError> {
                let data =
                    data.ok_or_else(|| SerdeError::unexpected_null(topic, stringify!($name)))?;
                let arr: [u8; $n] = data.try_into().map_err(|_| {
                    SerdeError::deserialize(
                        topic,
                        stringify!($name),
                        format!("expected {} bytes, got {}", $n, data.len()),
                    )
                })?;
                Ok(<$t>::from_be_bytes(arr))
            }
            fn serialize_into(
                &self,
                _topic: &str,
                value: &$t,
                buf: &mut Vec<u8>,
            ) -> Result<bool, SerdeError> {
                buf.extend_from_slice(&value.to_be_bytes());
                Ok(true)
            }
        }
    };
}

be_serde!(
    I16Serde,
    i16,
    2,
    "Big-endian `i16` (Kafka's `ShortSerializer`)."
);
be_serde!(
    I32Serde,
    i32,
    4,
    "Big-endian `i32` (Kafka's `IntegerSerializer`)."
);
be_serde!(
    I64Serde,
    i64,
    8,
    "Big-endian `i64` (Kafka's `LongSerializer`)."
);
be_serde!(U32Serde, u32, 4, "Big-endian `u32`.");
be_serde!(U64Serde, u64, 8, "Big-endian `u64`.");
be_serde!(
    F32Serde,
    f32,
    4,
    "Big-endian IEEE 754 `f32` (Kafka's `FloatSerializer`)."
);
be_serde!(
    F64Serde,
    f64,
    8,
    "Big-endian IEEE 754 `f64` (Kafka's `DoubleSerializer`)."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_match_kafka_byte_order() {
        // Kafka's LongSerializer writes 1L as 00 00 00 00 00 00 00 01.
        assert_eq!(
            I64Serde.serialize("t", &1).unwrap(),
            Some(vec![0, 0, 0, 0, 0, 0, 0, 1])
        );
        assert_eq!(
            I32Serde.serialize("t", &-2).unwrap(),
            Some(vec![0xff, 0xff, 0xff, 0xfe])
        );
        assert_eq!(I16Serde.serialize("t", &258).unwrap(), Some(vec![1, 2]));
        assert_eq!(
            I64Serde
                .deserialize("t", Some(&[0, 0, 0, 0, 0, 0, 1, 0]))
                .unwrap(),
            256
        );
        assert_eq!(
            F64Serde
                .deserialize("t", F64Serde.serialize("t", &1.5).unwrap().as_deref())
                .unwrap(),
            1.5
        );
        assert_eq!(
            U64Serde
                .deserialize("t", Some(&u64::MAX.to_be_bytes()))
                .unwrap(),
            u64::MAX
        );
    }

    #[test]
    fn wrong_width_and_null_are_errors() {
        let e = I64Serde
            .deserialize("orders", Some(&[1, 2, 3]))
            .unwrap_err();
        assert!(e.to_string().contains("expected 8 bytes, got 3"), "{e}");
        assert!(e.to_string().contains("orders"));
        assert!(I32Serde.deserialize("t", None).is_err());
    }
}
