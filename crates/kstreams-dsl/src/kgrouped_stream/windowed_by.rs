//! `KGroupedStream::windowed_by`: aggregate per key and time window.

use crate::kgrouped_stream::KGroupedStream;
use crate::{Data, TimeWindowedKStream, TimeWindows};

impl<K: Data, V: Data> KGroupedStream<K, V> {
    /// Aggregations of this grouping per tumbling or hopping window.
    ///
    /// ```
    /// use kstreams_core::Serdes;
    /// use kstreams_dsl::*;
    /// use kstreams_test_driver::TopologyTestDriver;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key(Grouped::default())
    ///     .windowed_by(TimeWindows::of_size_with_no_grace(std::time::Duration::from_millis(10)))
    ///     .count(Materialized::as_("per-window"))
    ///     .to_stream()
    ///     .map(|wk, n| (format!("{}@{}", wk.key, wk.window.start), n.unwrap_or(0)))
    ///     .to("out", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.input_topic::<String, String>("in");
    /// for ts in [1, 9, 10] {
    ///     input.pipe_input_with_timestamp("k".into(), "v".into(), ts);
    /// }
    /// let out = driver.output_topic::<String, i64>("out").read_key_values_to_list();
    /// assert_eq!(out, vec![("k@0".into(), 1), ("k@0".into(), 2), ("k@10".into(), 1)]);
    /// ```
    pub fn windowed_by(&self, windows: TimeWindows) -> TimeWindowedKStream<K, V> {
        self.stream.check_windows(windows.validate());
        TimeWindowedKStream {
            grouped: self.clone(),
            windows,
        }
    }
}

impl<K, V> Clone for KGroupedStream<K, V> {
    fn clone(&self) -> Self {
        KGroupedStream {
            stream: self.stream.clone(),
            name: self.name.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartitioned: self.repartitioned.clone(),
        }
    }
}

impl<K: Data, V: Data> KGroupedStream<K, V> {
    /// Aggregations of this grouping per session.
    pub fn windowed_by_session(
        &self,
        windows: crate::SessionWindows,
    ) -> crate::SessionWindowedKStream<K, V> {
        self.stream.check_windows(windows.validate());
        crate::SessionWindowedKStream {
            grouped: self.clone(),
            windows,
        }
    }
}

impl<K: Data, V: Data> KGroupedStream<K, V> {
    /// Aggregations of this grouping per sliding window.
    pub fn windowed_by_sliding(
        &self,
        windows: crate::SlidingWindows,
    ) -> crate::SlidingWindowedKStream<K, V> {
        self.stream.check_windows(windows.validate());
        crate::SlidingWindowedKStream {
            grouped: self.clone(),
            windows,
        }
    }
}
