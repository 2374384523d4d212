//! `join_foreign_key` and `left_join_foreign_key`: a table joined with another table on a
//! foreign key extracted from its values (Kafka Streams' KIP-213 foreign-key join).
//!
//! Lowering, with `<name>` the `Named` name or a generated `KTABLE-FK-JOIN-<n>`:
//! - left side: each left change (un)subscribes its key to foreign keys through the internal
//!   topic `<name>-subscription-registration-topic` (keyed and partitioned by foreign key,
//!   co-partitioned with the right table);
//! - right side: the subscriptions are kept in `<name>-subscription-store` (by foreign key and
//!   primary key); a subscription is answered with the right table's current value, and a
//!   right-table change answers all subscribers of its key, through
//!   `<name>-subscription-response-topic` (keyed by primary key, sent back to the
//!   subscriber's partition);
//! - left side: a response carries the hash of the left value it was computed for; responses
//!   for older values are dropped, others are joined with the current left value into the
//!   materialized result table;
//! - left side: a value without a foreign key (the extractor returned `None`) subscribes to
//!   nothing; `<name>-null-foreign-key-processor` answers it at once through the response
//!   topic, with no foreign value, so the answer is ordered with those to earlier values.

mod processors;
#[cfg(test)]
mod tests;
mod wrappers;

use std::sync::Arc;

use kstreams_core::{ProcessorContext, Record, SharedSerde, Stores};

use self::processors::{
    Extractor, FkJoiner, ForeignUpdate, NullForeignKey, Receipt, Registration, Resolution,
};
use self::wrappers::{
    ResponseWrapperSerde, SubscriptionResponseWrapper, SubscriptionWrapper,
    SubscriptionWrapperSerde,
};
use crate::change::Change;
use crate::kstream::missing_serde;
use crate::ktable::{KTable, ValueGetter};
use crate::materialized::StoreType;
use crate::stateless::Stateless;
use crate::{Data, Materialized, Named};

impl<K: Data, V: Data> KTable<K, V> {
    /// Inner foreign-key join: each value of this table names a key of `other` through
    /// `foreign_key_extractor`; a key has a joined value while its foreign key has a value
    /// in `other`. Updates on either side update the result (at the later of the two
    /// timestamps); a changed foreign key unsubscribes the old one; deleting either side
    /// deletes the result (a tombstone is only emitted for keys that had a result). The
    /// result is materialized in `materialized`'s store. Needs the serdes of both tables'
    /// keys and values and of the result.
    ///
    /// The extractor returns the foreign key, or an `Option` of it: a value whose foreign key
    /// is `None` has no result, and a key whose value loses its foreign key has its earlier
    /// result deleted (Kafka Streams' inner join skips such a record and keeps the stale
    /// result).
    ///
    /// ```
    /// use kstreams_core::Serdes;
    /// use kstreams_dsl::*;
    /// use kstreams_test_driver::TopologyTestDriver;
    ///
    /// let builder = StreamsBuilder::new();
    /// let c = || Consumed::with(Serdes::string(), Serdes::string());
    /// // orders: order id -> customer id; customers: customer id -> name
    /// let orders = builder.table::<String, String>("orders", c(), Materialized::as_("orders"));
    /// let customers = builder.table::<String, String>("customers", c(), Materialized::as_("customers"));
    /// orders
    ///     .join_foreign_key(
    ///         &customers,
    ///         |customer_id| customer_id.clone(),
    ///         |customer_id, name| format!("{customer_id}={name}"),
    ///         Named::as_("order-customer"),
    ///         Materialized::as_("orders-with-customers"),
    ///     )
    ///     .to_stream()
    ///     .to("out", Produced::with(Serdes::string(), Serdes::option(Serdes::string())));
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let pipe = |topic: &str, k: &str, v: &str, ts: i64| {
    ///     driver
    ///         .create_input_topic(topic, Serdes::string(), Serdes::option(Serdes::string()))
    ///         .pipe_input_with_timestamp(k.to_string(), Some(v.to_string()), ts)
    /// };
    /// pipe("customers", "c1", "Ada", 1);
    /// pipe("orders", "o1", "c1", 5);
    /// let r = driver
    ///     .create_output_topic("out", Serdes::string(), Serdes::option(Serdes::string()))
    ///     .read_record();
    /// assert_eq!((r.key.as_str(), r.value.as_deref(), r.timestamp), ("o1", Some("c1=Ada"), 5));
    /// ```
    pub fn join_foreign_key<KO: Data, VO: Data, VR: Data, FK: Into<Option<KO>>>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key_extractor: impl Fn(&V) -> FK + Send + Sync + 'static,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
        named: Named,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        let joiner: FkJoiner<V, VO, VR> = Arc::new(move |v, o| o.map(|o| joiner(v, o)));
        self.foreign_key_join(
            other,
            Arc::new(move |v| foreign_key_extractor(v).into()),
            joiner,
            false,
            named,
            materialized,
        )
    }

    /// Left foreign-key join: a key has a joined value while this table has one, with `None`
    /// while its foreign key has no value in `other`, or while its value has no foreign key
    /// (the extractor returned `None`; as in Kafka Streams since KIP-962).
    pub fn left_join_foreign_key<KO: Data, VO: Data, VR: Data, FK: Into<Option<KO>>>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key_extractor: impl Fn(&V) -> FK + Send + Sync + 'static,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
        named: Named,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        let joiner: FkJoiner<V, VO, VR> = Arc::new(move |v, o| Some(joiner(v, o)));
        self.foreign_key_join(
            other,
            Arc::new(move |v| foreign_key_extractor(v).into()),
            joiner,
            true,
            named,
            materialized,
        )
    }

    fn foreign_key_join<KO: Data, VO: Data, VR: Data>(
        &self,
        other: &KTable<KO, VO>,
        extractor: Extractor<V, KO>,
        joiner: FkJoiner<V, VO, VR>,
        left_join: bool,
        named: Named,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        let (base, result_store) = {
            let mut b = self.b.borrow_mut();
            let base = named.or_generate(&mut b, "KTABLE-FK-JOIN-");
            let store = match &materialized.name {
                Some(n) => n.clone(),
                None => b.new_name("KTABLE-FK-JOIN-OUTPUT-STATE-STORE-"),
            };
            (base, store)
        };
        let n = |suffix: &str| format!("{base}-{suffix}");
        let (registration_topic, response_topic) = (
            n("subscription-registration-topic"),
            n("subscription-response-topic"),
        );
        let subscription_store = n("subscription-store");
        let result_node = n("result");
        let serdes = {
            let b = self.b.borrow();
            (
                self.key_serde.clone().or_else(|| b.serde_of::<K>()),
                self.value_serde.clone().or_else(|| b.serde_of::<V>()),
                other.key_serde.clone().or_else(|| b.serde_of::<KO>()),
                other.value_serde.clone().or_else(|| b.serde_of::<VO>()),
                materialized
                    .value_serde
                    .clone()
                    .or_else(|| b.serde_of::<VR>()),
            )
        };
        let (Some(ks), Some(vs), Some(kos), Some(vos), Some(vrs)) = serdes else {
            self.b.borrow_mut().error(missing_serde(
                &base,
                "key or value (of either table or of the result)",
            ));
            return self.empty_result(result_node);
        };
        let ks = materialized.key_serde.clone().unwrap_or(ks);
        let null_foreign_key = NullForeignKey {
            topic: registration_topic.clone(),
            extractor: extractor.clone(),
            value_serde: vs.clone(),
            left_join,
        };
        let registration = Registration {
            topic: registration_topic.clone(),
            extractor,
            value_serde: vs.clone(),
            foreign_key_serde: kos.clone(),
            left_join,
        };
        let receipt = Receipt {
            store: subscription_store.clone(),
            foreign: other.getter.clone(),
            primary_key_serde: ks.clone(),
            foreign_key_serde: kos.clone(),
        };
        let update = ForeignUpdate {
            store: subscription_store.clone(),
            primary_key_serde: ks.clone(),
            foreign_key_serde: kos.clone(),
        };
        let resolution = Resolution {
            topic: response_topic.clone(),
            result_store: result_store.clone(),
            this: self.getter.clone(),
            value_serde: vs.clone(),
            joiner,
        };
        let subscription_serde: SharedSerde<SubscriptionWrapper<K>> =
            Arc::new(SubscriptionWrapperSerde {
                primary_key: ks.clone(),
            });
        let response_serde: SharedSerde<SubscriptionResponseWrapper<VO>> =
            Arc::new(ResponseWrapperSerde {
                foreign_value: vos.clone(),
            });
        let mut subscription_builder = Stores::key_value_store_builder_with(
            &subscription_store,
            kstreams_core::Serdes::bytes(),
            kstreams_core::Serdes::bytes(),
        )
        .with_logging_enabled(materialized.logging);
        if materialized.store_type == StoreType::InMemory {
            subscription_builder = subscription_builder.in_memory();
        }
        let result_builder = materialized.store_builder(&result_store, ks.clone(), vrs.clone());

        let mut b = self.b.borrow_mut();
        let t = &mut b.topology;
        t.add_internal_topic(&registration_topic);
        t.add_internal_topic(&response_topic);
        let (reg, reg_sink, reg_source) = (
            n("subscription-registration-processor"),
            n("subscription-registration-sink"),
            n("subscription-registration-source"),
        );
        let (null_fk, null_fk_sink) = (n("null-foreign-key-processor"), n("null-foreign-key-sink"));
        let (sub, foreign, resp_sink, resp_source) = (
            n("subscription-processor"),
            n("foreign-table-processor"),
            n("subscription-response-sink"),
            n("subscription-response-source"),
        );
        let back_to_subscriber = |_t: &str, _k: &K, v: &SubscriptionResponseWrapper<VO>, n: i32| {
            (0..n)
                .contains(&v.primary_partition)
                .then_some(v.primary_partition)
        };
        let mut results =
            vec![
            t.add_processor(
                &reg,
                Stateless::supplier(
                    move |ctx: &mut ProcessorContext<'_, KO, SubscriptionWrapper<K>>,
                          r: Record<K, Change<V>>| registration.process(ctx, r),
                ),
                &[&self.node],
            )
            .map(|_| ()),
            t.add_sink(
                &reg_sink,
                &registration_topic,
                kos.clone(),
                subscription_serde.clone(),
                &[&reg],
            )
            .map(|_| ()),
            t.add_source(
                &reg_source,
                &[&registration_topic],
                kos.clone(),
                subscription_serde,
            )
            .map(|_| ()),
            t.add_processor(
                &sub,
                Stateless::supplier(
                    move |ctx: &mut ProcessorContext<'_, K, SubscriptionResponseWrapper<VO>>,
                          r: Record<KO, SubscriptionWrapper<K>>| receipt.process(ctx, r),
                ),
                &[&reg_source],
            )
            .map(|_| ()),
            t.add_processor(
                &foreign,
                Stateless::supplier(
                    move |ctx: &mut ProcessorContext<'_, K, SubscriptionResponseWrapper<VO>>,
                          r: Record<KO, Change<VO>>| update.process(ctx, r),
                ),
                &[&other.node],
            )
            .map(|_| ()),
            t.add_sink_with_partitioner(
                &resp_sink,
                &response_topic,
                ks.clone(),
                response_serde.clone(),
                back_to_subscriber,
                &[&sub, &foreign],
            )
            .map(|_| ()),
            t.add_processor(
                &null_fk,
                Stateless::supplier(
                    move |ctx: &mut ProcessorContext<'_, K, SubscriptionResponseWrapper<VO>>,
                          r: Record<K, Change<V>>| null_foreign_key.process(ctx, r),
                ),
                &[&self.node],
            )
            .map(|_| ()),
            t.add_sink_with_partitioner(
                &null_fk_sink,
                &response_topic,
                ks.clone(),
                response_serde.clone(),
                back_to_subscriber,
                &[&null_fk],
            )
            .map(|_| ()),
            t.add_source(&resp_source, &[&response_topic], ks.clone(), response_serde)
                .map(|_| ()),
            t.add_processor(
                &result_node,
                Stateless::supplier(
                    move |ctx: &mut ProcessorContext<'_, K, Change<VR>>,
                          r: Record<K, SubscriptionResponseWrapper<VO>>| {
                        resolution.process(ctx, r)
                    },
                ),
                &[&resp_source],
            )
            .map(|_| ()),
            t.add_state_store(subscription_builder, &[&sub, &foreign])
                .map(|_| ()),
            t.add_state_store(result_builder, &[&result_node])
                .map(|_| ()),
        ];
        let other_stores: Vec<&str> = other.getter.stores.iter().map(String::as_str).collect();
        results.push(
            t.connect_processor_and_state_stores(&sub, &other_stores)
                .map(|_| ()),
        );
        let this_stores: Vec<&str> = self.getter.stores.iter().map(String::as_str).collect();
        results.push(
            t.connect_processor_and_state_stores(&result_node, &this_stores)
                .map(|_| ()),
        );
        // Subscriptions are partitioned like the right table, responses like the left one.
        let mut right: Vec<&str> = vec![registration_topic.as_str()];
        right.extend(other.source_topics.iter().map(String::as_str));
        t.add_copartition_group(&right);
        let mut left: Vec<&str> = vec![response_topic.as_str()];
        left.extend(self.source_topics.iter().map(String::as_str));
        t.add_copartition_group(&left);
        for r in results {
            b.check(r);
        }
        drop(b);
        KTable {
            b: self.b.clone(),
            node: result_node,
            key_serde: Some(ks),
            value_serde: Some(vrs),
            store: Some(result_store.clone()),
            getter: ValueGetter::of_store(&result_store),
            source_topics: self.source_topics.clone(),
            window_close: None,
        }
    }

    /// The result of a join that could not be built (the builder reports why).
    fn empty_result<VR: Data>(&self, node: String) -> KTable<K, VR> {
        KTable {
            b: self.b.clone(),
            node: node.clone(),
            key_serde: None,
            value_serde: None,
            store: None,
            getter: ValueGetter::of_store(&node),
            source_topics: self.source_topics.clone(),
            window_close: None,
        }
    }
}
