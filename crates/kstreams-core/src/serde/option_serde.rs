//! Nullable values.

use super::{Serde, SerdeError, SharedSerde};

/// Maps `None` to Kafka's null and `Some(v)` to the inner serde's bytes.
pub struct OptionSerde<T> {
    inner: SharedSerde<T>,
}

impl<T> OptionSerde<T> {
    /// Wraps `inner`.
    pub fn new(inner: SharedSerde<T>) -> Self {
        OptionSerde { inner }
    }
}

impl<T> Clone for OptionSerde<T> {
    fn clone(&self) -> Self {
        OptionSerde {
            inner: self.inner.clone(),
        }
    }
}

impl<T: 'static> Serde<Option<T>> for OptionSerde<T> {
    fn serialize(&self, topic: &str, value: &Option<T>) -> Result<Option<Vec<u8>>, SerdeError> {
        match value {
            None => Ok(None),
            Some(v) => self.inner.serialize(topic, v),
        }
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Option<T>, SerdeError> {
        match data {
            None => Ok(None),
            Some(d) => self.inner.deserialize(topic, Some(d)).map(Some),
        }
    }
    fn serialize_into(
        &self,
        topic: &str,
        value: &Option<T>,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        match value {
            None => Ok(false),
            Some(v) => self.inner.serialize_into(topic, v, buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Serdes;
    use super::*;

    #[test]
    fn none_is_null() {
        let s = OptionSerde::new(Serdes::string());
        assert_eq!(s.serialize("t", &None).unwrap(), None);
        assert_eq!(s.deserialize("t", None).unwrap(), None);
        assert_eq!(
            s.deserialize("t", Some(b"a")).unwrap(),
            Some("a".to_string())
        );
    }
}
