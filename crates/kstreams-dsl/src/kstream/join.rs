//! `join` and `left_join` of a stream with a table: each stream record looks up the table's
//! current value of its key.

use std::sync::Arc;

use kstreams_core::{ProcessorContext, Record};

use crate::ktable::StoreAccess;
use crate::repartition_topic::through_repartition_topic;
use crate::stateless::Stateless;
use crate::{Data, KStream, KTable, Named};

impl<K: Data, V: Data> KStream<K, V> {
    /// Inner join: a record whose key has a table value is joined with it; others are
    /// dropped. Table updates do not emit (the table side is a lookup). A re-keyed stream is
    /// repartitioned first (topic `<join name>-repartition`); the stream's and the table's
    /// topics form a co-partition group.
    ///
    /// ```
    /// use kstreams_core::Serdes;
    /// use kstreams_dsl::*;
    /// use kstreams_test_driver::TopologyTestDriver;
    ///
    /// let builder = StreamsBuilder::new();
    /// let users = builder.table::<String, String>(
    ///     "users",
    ///     Consumed::with(Serdes::string(), Serdes::string()),
    ///     Materialized::as_("users"),
    /// );
    /// builder
    ///     .stream::<String, String>("clicks", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .join(&users, |click, region| format!("{click}@{region}"), Named::generated())
    ///     .to("out", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// driver
    ///     .create_input_topic("users", Serdes::string(), Serdes::option(Serdes::string()))
    ///     .pipe_input_with_timestamp("alice".to_string(), Some("eu".to_string()), 1);
    /// driver
    ///     .input_topic::<String, String>("clicks")
    ///     .pipe_input_with_timestamp("alice".into(), "home".into(), 5);
    /// let r = driver.output_topic::<String, String>("out").read_record();
    /// assert_eq!((r.value.as_str(), r.timestamp), ("home@eu", 5));
    /// ```
    pub fn join<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, &VT) -> VR + Send + Sync + 'static,
        named: Named,
    ) -> KStream<K, VR> {
        self.table_join(table, named, "KSTREAM-JOIN-", move |v, t| {
            t.map(|t| joiner(v, t))
        })
    }

    /// Left join: every record is joined, with `None` when its key has no table value.
    pub fn left_join<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, Option<&VT>) -> VR + Send + Sync + 'static,
        named: Named,
    ) -> KStream<K, VR> {
        self.table_join(table, named, "KSTREAM-LEFTJOIN-", move |v, t| {
            Some(joiner(v, t))
        })
    }

    fn table_join<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        named: Named,
        prefix: &str,
        join: impl Fn(&V, Option<&VT>) -> Option<VR> + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        let name = self.name(&named, prefix);
        let input = if self.repartition_required {
            match (
                self.require_key_serde(None, &name),
                self.require_value_serde(None, &name),
            ) {
                (Some(ks), Some(vs)) => through_repartition_topic(self, &name, ks, vs),
                _ => self.clone(),
            }
        } else {
            self.clone()
        };
        let get = table.getter.get.clone();
        let join = Arc::new(join);
        let f = move |ctx: &mut ProcessorContext<'_, K, VR>, r: Record<K, V>| {
            let found = get(ctx as &mut dyn StoreAccess, &r.key)?;
            match join(&r.value, found.as_ref().map(|t| &t.value)) {
                Some(out) => ctx.forward(r.with_value(out)),
                None => Ok(()),
            }
        };
        input.add_processor(&name, Stateless::supplier(f));
        {
            let mut b = self.b.borrow_mut();
            let stores: Vec<&str> = table.getter.stores.iter().map(String::as_str).collect();
            let r = b
                .topology
                .connect_processor_and_state_stores(&name, &stores)
                .map(|_| ());
            b.check(r);
            let mut topics: Vec<&str> = input.source_topics.iter().map(String::as_str).collect();
            topics.extend(table.source_topics.iter().map(String::as_str));
            b.topology.add_copartition_group(&topics);
        }
        KStream::new(
            self.b.clone(),
            name,
            input.key_serde.clone(),
            None,
            false,
            input.source_topics.clone(),
        )
    }
}
