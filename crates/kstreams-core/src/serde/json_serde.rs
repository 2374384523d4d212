//! JSON via serde_json.

use std::marker::PhantomData;

use super::{Serde, SerdeError};

/// JSON values of any `serde` type.
pub struct JsonSerde<T>(PhantomData<fn() -> T>);

impl<T> JsonSerde<T> {
    /// A JSON serde.
    pub fn new() -> Self {
        JsonSerde(PhantomData)
    }
}

impl<T> Default for JsonSerde<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for JsonSerde<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T: serde::Serialize + serde::de::DeserializeOwned + 'static> Serde<T> for JsonSerde<T> {
    fn serialize(&self, topic: &str, value: &T) -> Result<Option<Vec<u8>>, SerdeError> {
        serde_json::to_vec(value)
            .map(Some)
            .map_err(|e| SerdeError::serialize(topic, "JsonSerde", e.to_string()))
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<T, SerdeError> {
        let data = data.ok_or_else(|| SerdeError::unexpected_null(topic, "JsonSerde"))?;
        serde_json::from_slice(data)
            .map_err(|e| SerdeError::deserialize(topic, "JsonSerde", e.to_string()))
    }
    fn serialize_into(
        &self,
        topic: &str,
        value: &T,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        let start = buf.len();
        serde_json::to_writer(&mut *buf, value).map_err(|e| {
            buf.truncate(start);
            SerdeError::serialize(topic, "JsonSerde", e.to_string())
        })?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct View {
        user: String,
        amount: i64,
    }

    #[test]
    fn json_round_trip_and_malformed_input() {
        let s = JsonSerde::<View>::new();
        let v = View {
            user: "u1".into(),
            amount: 3,
        };
        let b = s.serialize("t", &v).unwrap().unwrap();
        assert_eq!(b, br#"{"user":"u1","amount":3}"#.to_vec());
        assert_eq!(s.deserialize("t", Some(&b)).unwrap(), v);
        assert!(s.deserialize("t", Some(b"{not json")).is_err());
        assert!(s.deserialize("t", Some(br#"{"user":1}"#)).is_err());
        assert!(s.deserialize("t", None).is_err());
    }
}
