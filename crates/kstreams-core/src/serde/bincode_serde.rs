//! bincode (standard configuration) via serde.

use std::marker::PhantomData;

use super::{Serde, SerdeError};

/// Compact binary values of any `serde` type, encoded with bincode's standard configuration.
pub struct BincodeSerde<T>(PhantomData<fn() -> T>);

impl<T> BincodeSerde<T> {
    /// A bincode serde.
    pub fn new() -> Self {
        BincodeSerde(PhantomData)
    }
}

impl<T> Default for BincodeSerde<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for BincodeSerde<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T: serde::Serialize + serde::de::DeserializeOwned + 'static> Serde<T> for BincodeSerde<T> {
    fn serialize(&self, topic: &str, value: &T) -> Result<Option<Vec<u8>>, SerdeError> {
        bincode::serde::encode_to_vec(value, bincode::config::standard())
            .map(Some)
            .map_err(|e| SerdeError::serialize(topic, "BincodeSerde", e.to_string()))
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<T, SerdeError> {
        let data = data.ok_or_else(|| SerdeError::unexpected_null(topic, "BincodeSerde"))?;
        let (value, read) = bincode::serde::decode_from_slice(data, bincode::config::standard())
            .map_err(|e| SerdeError::deserialize(topic, "BincodeSerde", e.to_string()))?;
        if read != data.len() {
            return Err(SerdeError::deserialize(
                topic,
                "BincodeSerde",
                format!("{} trailing bytes", data.len() - read),
            ));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bincode_round_trip_and_garbage() {
        let s = BincodeSerde::<(String, u64, Vec<i32>)>::new();
        let v = ("k".to_string(), 42, vec![-1, 2]);
        let b = s.serialize("t", &v).unwrap();
        assert_eq!(s.deserialize("t", b.as_deref()).unwrap(), v);
        assert!(s.deserialize("t", Some(&[0xff; 3])).is_err());
        let mut long = b.unwrap();
        long.push(0);
        assert!(s.deserialize("t", Some(&long)).is_err());
    }
}
