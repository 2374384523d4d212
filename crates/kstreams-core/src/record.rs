//! Records flowing through a topology, their headers and their origin.

/// One record header. Kafka allows duplicate keys and keeps their order; so does this type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// Header key.
    pub key: String,
    /// Header value; `None` is a null value.
    pub value: Option<Vec<u8>>,
}

/// Ordered record headers, duplicates allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// Appends a header (an existing one with the same key is kept).
    pub fn add(&mut self, key: impl Into<String>, value: Option<Vec<u8>>) -> &mut Self {
        self.0.push(Header {
            key: key.into(),
            value,
        });
        self
    }

    /// Builder form of [`Headers::add`].
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.add(key, Some(value.into()));
        self
    }

    /// Removes every header with this key.
    pub fn remove(&mut self, key: &str) -> &mut Self {
        self.0.retain(|h| h.key != key);
        self
    }

    /// The last header with this key (Kafka's `lastHeader`).
    pub fn last_header(&self, key: &str) -> Option<&Header> {
        self.0.iter().rev().find(|h| h.key == key)
    }

    /// The value of the last header with this key, if it has one.
    pub fn last_value(&self, key: &str) -> Option<&[u8]> {
        self.last_header(key).and_then(|h| h.value.as_deref())
    }

    /// All headers with this key, in order.
    pub fn headers<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Header> + 'a {
        self.0.iter().filter(move |h| h.key == key)
    }

    /// All headers, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<Header>> for Headers {
    fn from(v: Vec<Header>) -> Self {
        Headers(v)
    }
}

impl IntoIterator for Headers {
    type Item = Header;
    type IntoIter = std::vec::IntoIter<Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// A typed record: key, value, event timestamp (ms) and headers.
///
/// Nullability is part of the type: a topic with null keys is read with an `Option<K>` key
/// serde, a table's tombstones are `None` values.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<K, V> {
    /// The key.
    pub key: K,
    /// The value.
    pub value: V,
    /// Event time in milliseconds since the epoch.
    pub timestamp: i64,
    /// Headers, forwarded with the record.
    pub headers: Headers,
}

impl<K, V> Record<K, V> {
    /// A record without headers.
    pub fn new(key: K, value: V, timestamp: i64) -> Self {
        Record {
            key,
            value,
            timestamp,
            headers: Headers::new(),
        }
    }

    /// The same record with another key.
    pub fn with_key<K2>(self, key: K2) -> Record<K2, V> {
        Record {
            key,
            value: self.value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with another value.
    pub fn with_value<V2>(self, value: V2) -> Record<K, V2> {
        Record {
            key: self.key,
            value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// A copy of the record's key, timestamp and headers with another value; the record's own
    /// value is not copied (for operators that emit several values per input record).
    pub fn with_value_of<V2>(&self, value: V2) -> Record<K, V2>
    where
        K: Clone,
    {
        Record {
            key: self.key.clone(),
            value,
            timestamp: self.timestamp,
            headers: self.headers.clone(),
        }
    }

    /// The same record with another timestamp.
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// The same record with other headers.
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }
}

/// Where the record being processed came from: its source topic, partition and offset.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordMetadata {
    /// Source topic (shared with the consumed record: no copy per record).
    pub topic: std::sync::Arc<str>,
    /// Source partition.
    pub partition: i32,
    /// Offset in the source partition.
    pub offset: i64,
}

/// A record as read from a topic, before deserialization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Topic (shared by the records of a fetch: no copy per record).
    pub topic: std::sync::Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The broker- or producer-assigned timestamp (ms).
    pub timestamp: i64,
    /// Key bytes; `None` is a null key. Shared with the fetched response (no copy).
    pub key: Option<bytes::Bytes>,
    /// Value bytes; `None` is a null value (a tombstone). Shared with the fetched response.
    pub value: Option<bytes::Bytes>,
    /// Headers.
    pub headers: Headers,
}

/// A serialized record on its way to a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducedRecord {
    /// Destination topic (an `Arc`: a sink shares one name with all its records).
    pub topic: std::sync::Arc<str>,
    /// Destination partition; `None` leaves it to the producer's default partitioner.
    pub partition: Option<i32>,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
    /// Timestamp (ms).
    pub timestamp: i64,
    /// Headers.
    pub headers: Headers,
    /// For a sink's output: which sink wrote it for which input record (`None` for internal
    /// writes: changelogs, retry and dead-letter records). Failed sends of records with an
    /// origin go through the production exception handler.
    pub origin: Option<OutputOrigin>,
}

/// Where a sink's output record came from: how a send that fails later is traced back to its
/// sink and input record (production exception handler, dead-letter metadata, and under
/// exactly-once the identity of the record when it is produced again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputOrigin {
    /// The sink node.
    pub sink: std::sync::Arc<str>,
    /// The input record being processed (`None`: output of a punctuator or a cache flush).
    /// Held inline: its topic name is shared, so an output's origin allocates nothing.
    pub source: Option<RecordMetadata>,
    /// How many sink outputs the task wrote for this input record before this one (0 for the
    /// first): with `source` and the topic it identifies the record among its siblings.
    pub index: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_duplicates_in_order() {
        let mut h = Headers::new();
        h.add("a", Some(b"1".to_vec()))
            .add("b", None)
            .add("a", Some(b"2".to_vec()));
        assert_eq!(h.len(), 3);
        assert_eq!(h.last_value("a"), Some(&b"2"[..]));
        let all: Vec<_> = h.headers("a").map(|x| x.value.clone()).collect();
        assert_eq!(all, vec![Some(b"1".to_vec()), Some(b"2".to_vec())]);
        assert_eq!(h.last_header("b").map(|x| x.value.is_none()), Some(true));
        h.remove("a");
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn record_rewrites_keep_the_rest() {
        let r = Record::new("k", 1, 5).with_headers(Headers::new().with("h", "v"));
        let r2 = r.clone().with_key(7).with_value("x").with_timestamp(9);
        assert_eq!(r2.key, 7);
        assert_eq!(r2.value, "x");
        assert_eq!(r2.timestamp, 9);
        assert_eq!(r2.headers, r.headers);
        let r3 = r.with_value_of(vec![1u8]);
        assert_eq!((r3.key, r3.value, r3.timestamp), ("k", vec![1u8], 5));
        assert_eq!(r3.headers, r.headers);
        assert_eq!(r.value, 1);
    }
}
