//! `try_map_values`: a new value per record from fallible user code, with retries through a
//! retry topic and a dead-letter topic.

use std::sync::Arc;

use kstreams_core::failure::ProcessingError;

use crate::retrying_processor::TryFn;
use crate::{Data, KStream, Retried};

impl<K: Data, V: Data> KStream<K, V> {
    /// Replaces each record's value with what `mapper` returns. When `mapper` fails:
    ///
    /// - a retryable error (by the [`Retried`] classifier) below the policy's maximum of
    ///   attempts sends the record (its serialized key and value, its headers and the failure
    ///   headers of [`kstreams_core::failure`]) to the retry topic
    ///   `<application.id>-<name>-retry`; it is parked until due (exponential backoff with
    ///   jitter) and handed to `mapper` again by a wall-clock punctuator;
    /// - a non-retryable error, or the last allowed attempt, sends it to the dead-letter
    ///   topic (`<application.id>-dlq` unless configured) with the final error.
    ///
    /// Other records keep flowing meanwhile, so a record that waits for a retry is overtaken
    /// by later records of the same key: per-key order holds only among records that succeed
    /// at their first attempt. The output keeps the input's timestamp.
    ///
    /// The stream needs key and value serdes (its own or registered ones) to write the retry
    /// and dead-letter records; name the operator ([`Retried::with_name`]) so its retry topic
    /// and store keep their names when the topology changes. Design notes:
    /// `docs/failure-handling.md`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use kstreams_core::Serdes;
    /// use kstreams_core::failure::{ProcessingError, RetryPolicy};
    /// use kstreams_dsl::*;
    /// use kstreams_test_driver::{DriverConfig, TopologyTestDriver};
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .try_map_values(
    ///         |_k, v: &String| match v.parse::<i64>() {
    ///             Ok(n) => Ok(n * 2),
    ///             Err(e) => Err(ProcessingError::non_retryable(format!("not a number: {e}"))),
    ///         },
    ///         Retried::with_policy(RetryPolicy::default()).with_name("double"),
    ///     )
    ///     .to("out", Produced::with(Serdes::string(), Serdes::i64()));
    /// let config = DriverConfig { application_id: "app".into(), ..Default::default() };
    /// let driver = TopologyTestDriver::with_config(builder.build().unwrap(), config).unwrap();
    /// let input = driver.input_topic::<String, String>("in");
    /// input.pipe_input_with_timestamp("k".into(), "21".into(), 5);
    /// input.pipe_input_with_timestamp("k".into(), "x".into(), 6);
    /// let r = driver.output_topic::<String, i64>("out").read_record();
    /// assert_eq!((r.value, r.timestamp), (42, 5));
    /// let dlq = driver.output_topic::<String, String>("app-dlq").read_record();
    /// assert_eq!(dlq.value, "x");
    /// ```
    pub fn try_map_values<VO: Data>(
        &self,
        mapper: impl Fn(&K, &V) -> Result<VO, ProcessingError> + Send + Sync + 'static,
        retried: Retried,
    ) -> KStream<K, VO> {
        let f: TryFn<K, V, VO> = Arc::new(move |k, v, _| mapper(k, v).map(|v| vec![v]));
        self.try_values(f, retried, "KSTREAM-TRYMAPVALUES-")
    }
}
