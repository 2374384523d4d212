//! UTF-8 string and unit serdes.

use super::{Serde, SerdeError};

/// UTF-8 strings, as Kafka's `StringSerializer`. Invalid UTF-8 is an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerde;

impl Serde<String> for StringSerde {
    fn serialize(&self, _topic: &str, value: &String) -> Result<Option<Vec<u8>>, SerdeError> {
        Ok(Some(value.as_bytes().to_vec()))
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<String, SerdeError> {
        let data = data.ok_or_else(|| SerdeError::unexpected_null(topic, "StringSerde"))?;
        String::from_utf8(data.to_vec())
            .map_err(|e| SerdeError::deserialize(topic, "StringSerde", e.to_string()))
    }
    fn serialize_into(
        &self,
        _topic: &str,
        value: &String,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        buf.extend_from_slice(value.as_bytes());
        Ok(true)
    }
}

/// The unit type, always null on the wire (Kafka's `VoidSerde`): non-null data is an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitSerde;

impl Serde<()> for UnitSerde {
    fn serialize(&self, _topic: &str, _value: &()) -> Result<Option<Vec<u8>>, SerdeError> {
        Ok(None)
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<(), SerdeError> {
        match data {
            None => Ok(()),
            Some(_) => Err(SerdeError::deserialize(
                topic,
                "UnitSerde",
                "expected null data",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_and_reject_bad_utf8() {
        let s = StringSerde;
        let b = s.serialize("t", &"héllo".to_string()).unwrap();
        assert_eq!(s.deserialize("t", b.as_deref()).unwrap(), "héllo");
        assert!(s.deserialize("t", Some(&[0xff, 0xfe])).is_err());
        let err = s.deserialize("t", None).unwrap_err();
        assert!(err.to_string().contains("null"), "{err}");
    }

    #[test]
    fn unit_is_null() {
        assert_eq!(UnitSerde.serialize("t", &()).unwrap(), None);
        assert!(UnitSerde.deserialize("t", None).is_ok());
        assert!(UnitSerde.deserialize("t", Some(b"x")).is_err());
    }
}
