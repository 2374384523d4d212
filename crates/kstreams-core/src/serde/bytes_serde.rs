//! Raw bytes.

use super::{Serde, SerdeError};

/// Raw bytes, passed through unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesSerde;

impl Serde<Vec<u8>> for BytesSerde {
    fn serialize(&self, _topic: &str, value: &Vec<u8>) -> Result<Option<Vec<u8>>, SerdeError> {
        Ok(Some(value.clone()))
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Vec<u8>, SerdeError> {
        data.map(<[u8]>::to_vec)
            .ok_or_else(|| SerdeError::unexpected_null(topic, "BytesSerde"))
    }
    fn serialize_into(
        &self,
        _topic: &str,
        value: &Vec<u8>,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        buf.extend_from_slice(value);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_pass_through() {
        let b = BytesSerde.serialize("t", &vec![0, 1, 255]).unwrap();
        assert_eq!(b, Some(vec![0, 1, 255]));
        assert_eq!(BytesSerde.deserialize("t", Some(&[7])).unwrap(), vec![7]);
        assert!(BytesSerde.deserialize("t", None).is_err());
    }
}
