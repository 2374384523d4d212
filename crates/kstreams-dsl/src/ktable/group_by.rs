//! `KTable::group_by`: re-key a table for re-aggregation with adder and subtractor.

use kstreams_core::{ProcessorContext, Record};

use crate::change::Change;
use crate::kgrouped_table::KGroupedTable;
use crate::kstream::KStream;
use crate::stateless::Stateless;
use crate::{Data, Grouped, KTable, Named};

impl<K: Data, V: Data> KTable<K, V> {
    /// Maps each entry to a new `(key, value)`; the grouped table's aggregations subtract an
    /// entry's old mapping and add its new one. When old and new map to the same key, one
    /// change carries both; otherwise the subtraction goes first.
    ///
    /// ```
    /// use kstreams_core::Serdes;
    /// use kstreams_dsl::*;
    /// use kstreams_test_driver::TopologyTestDriver;
    ///
    /// let builder = StreamsBuilder::new();
    /// // Users per region, kept right as users move.
    /// builder
    ///     .table::<String, String>(
    ///         "user-region",
    ///         Consumed::with(Serdes::string(), Serdes::string()),
    ///         Materialized::as_("users"),
    ///     )
    ///     .group_by(|_user, region| (region.clone(), 1i64), Grouped::default())
    ///     .count(Materialized::as_("per-region"))
    ///     .to_stream()
    ///     .to("out", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input =
    ///     driver.create_input_topic("user-region", Serdes::string(), Serdes::option(Serdes::string()));
    /// input.pipe_input_with_timestamp("u".to_string(), Some("eu".to_string()), 1);
    /// input.pipe_input_with_timestamp("u".to_string(), Some("us".to_string()), 2);
    /// let out = driver.output_topic::<String, Option<i64>>("out").read_key_values_to_list();
    /// assert_eq!(
    ///     out,
    ///     vec![("eu".into(), Some(1)), ("eu".into(), Some(0)), ("us".into(), Some(1))]
    /// );
    /// ```
    pub fn group_by<KR: Data + PartialEq, VR: Data>(
        &self,
        selector: impl Fn(&K, &V) -> (KR, VR) + Send + Sync + 'static,
        grouped: Grouped<KR, VR>,
    ) -> KGroupedTable<KR, VR> {
        let name = Named::generated().or_generate(&mut self.b.borrow_mut(), "KTABLE-SELECT-");
        let f = move |ctx: &mut ProcessorContext<'_, KR, Change<VR>>, r: Record<K, Change<V>>| {
            let old = r.value.old.as_ref().map(|v| selector(&r.key, v));
            let new = r.value.new.as_ref().map(|v| selector(&r.key, v));
            let at = |k: KR, c: Change<VR>| {
                Record::new(k, c, r.timestamp).with_headers(r.headers.clone())
            };
            match (old, new) {
                (Some((ok, ov)), Some((nk, nv))) if ok == nk => {
                    ctx.forward(at(nk, Change::new(Some(nv), Some(ov))))
                }
                (old, new) => {
                    if let Some((ok, ov)) = old {
                        ctx.forward(at(ok, Change::new(None, Some(ov))))?;
                    }
                    if let Some((nk, nv)) = new {
                        ctx.forward(at(nk, Change::new(Some(nv), None)))?;
                    }
                    Ok(())
                }
            }
        };
        {
            let mut b = self.b.borrow_mut();
            let r = b
                .topology
                .add_processor(&name, Stateless::supplier(f), &[&self.node])
                .map(|_| ());
            b.check(r);
        }
        let stream = KStream::new(self.b.clone(), name, None, None, true, vec![]);
        KGroupedTable {
            stream,
            name: grouped.name,
            key_serde: grouped.key_serde,
            value_serde: grouped.value_serde,
            repartitioned: Default::default(),
        }
    }
}
