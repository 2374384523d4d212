//! The four processors of a foreign-key join, as functions of the context and the record:
//! subscription registration (left side), subscription receipt and foreign-table updates
//! (right side), and response resolution (left side).

use std::sync::Arc;

use kstreams_core::{ProcessorContext, Record, Result, Serdes, SharedSerde};

use super::wrappers::{
    Instruction, SubscriptionResponseWrapper, SubscriptionWrapper, ValueHash, combined_key,
    decode_subscription, encode_subscription, foreign_key_prefix, hash_bytes, primary_key_of,
};
use crate::Data;
use crate::change::Change;
use crate::ktable::{StoreAccess, ValueGetter};
use kstreams_core::state::ValueAndTimestamp;

/// Serialized bytes of a key that must not be null.
fn key_bytes<T: 'static>(serde: &SharedSerde<T>, topic: &str, v: &T) -> Result<Vec<u8>> {
    serde.serialize(topic, v)?.ok_or_else(|| {
        kstreams_core::SerdeError::serialize(topic, "foreign-key join", "a key serialized to null")
            .into()
    })
}

/// The hash of a left value (its serialized bytes; a value serializing to null hashes as
/// empty bytes).
fn value_hash<V: 'static>(serde: &SharedSerde<V>, topic: &str, v: &V) -> Result<ValueHash> {
    Ok(hash_bytes(&serde.serialize(topic, v)?.unwrap_or_default()))
}

/// The foreign key of a left value; `None`: the value refers to no foreign key.
pub(crate) type Extractor<V, KO> = Arc<dyn Fn(&V) -> Option<KO> + Send + Sync>;

/// Left side: each change of the left table (un)subscribes its key to foreign keys
/// (Kafka Streams' `SubscriptionSendProcessorSupplier`). Values without a foreign key
/// subscribe to nothing: [`NullForeignKey`] answers them.
pub(crate) struct Registration<V, KO> {
    pub(crate) topic: String,
    pub(crate) extractor: Extractor<V, KO>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) foreign_key_serde: SharedSerde<KO>,
    pub(crate) left_join: bool,
}

impl<V: Data, KO: Data> Registration<V, KO> {
    pub(crate) fn process<K: Data>(
        &self,
        ctx: &mut ProcessorContext<'_, KO, SubscriptionWrapper<K>>,
        r: Record<K, Change<V>>,
    ) -> Result<()> {
        let partition = ctx.task_id().partition;
        let new_hash = r
            .value
            .new
            .as_ref()
            .map(|v| value_hash(&self.value_serde, &self.topic, v))
            .transpose()?;
        let send = |ctx: &mut ProcessorContext<'_, KO, SubscriptionWrapper<K>>,
                    fk: KO,
                    instruction: Instruction| {
            let w = SubscriptionWrapper {
                hash: new_hash,
                instruction,
                primary_partition: partition,
                primary_key: r.key.clone(),
            };
            ctx.forward(Record::new(fk, w, r.timestamp).with_headers(r.headers.clone()))
        };
        match (&r.value.old, &r.value.new) {
            (Some(old), None) => match (self.extractor)(old) {
                // Deleted: unsubscribe, and have the result deleted.
                Some(old_fk) => send(ctx, old_fk, Instruction::DeleteKeyAndPropagate),
                None => Ok(()),
            },
            (Some(old), Some(new)) => {
                let (old_fk, new_fk) = ((self.extractor)(old), (self.extractor)(new));
                let ser = |k: &KO| key_bytes(&self.foreign_key_serde, &self.topic, k);
                if let Some(old_fk) = old_fk {
                    let moved = match &new_fk {
                        Some(new_fk) => ser(&old_fk)? != ser(new_fk)?,
                        None => true,
                    };
                    if moved {
                        send(ctx, old_fk, Instruction::DeleteKeyNoPropagate)?;
                    }
                }
                // An update must retract an earlier result when the foreign key has no
                // value, for inner joins too.
                match new_fk {
                    Some(new_fk) => send(ctx, new_fk, Instruction::PropagateNullIfNoFkValAvailable),
                    None => Ok(()),
                }
            }
            (None, Some(new)) => {
                let instruction = if self.left_join {
                    Instruction::PropagateNullIfNoFkValAvailable
                } else {
                    Instruction::PropagateOnlyIfFkValAvailable
                };
                match (self.extractor)(new) {
                    Some(new_fk) => send(ctx, new_fk, instruction),
                    None => Ok(()),
                }
            }
            (None, None) => Ok(()),
        }
    }
}

/// Left side: a change whose foreign key is null (the new value's, or the deleted value's) is
/// answered without a subscription, with a response carrying no foreign value, sent back to
/// this partition through the response topic so that it is ordered with the responses to
/// earlier values. A left join then joins the value with `None`; an inner join retracts an
/// earlier result (Kafka Streams' KIP-962 for left joins; its inner join drops such a change
/// and keeps a stale result).
pub(crate) struct NullForeignKey<V, KO> {
    pub(crate) topic: String,
    pub(crate) extractor: Extractor<V, KO>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) left_join: bool,
}

impl<V: Data, KO: Data> NullForeignKey<V, KO> {
    pub(crate) fn process<K: Data, VO: Data>(
        &self,
        ctx: &mut ProcessorContext<'_, K, SubscriptionResponseWrapper<VO>>,
        r: Record<K, Change<V>>,
    ) -> Result<()> {
        let null_key = match (&r.value.old, &r.value.new) {
            (_, Some(new)) => (self.extractor)(new).is_none(),
            (Some(old), None) => (self.extractor)(old).is_none(),
            (None, None) => false,
        };
        // An inner join has no result to retract for a key that had no value before.
        if !null_key || (!self.left_join && r.value.old.is_none()) {
            return Ok(());
        }
        let hash = r
            .value
            .new
            .as_ref()
            .map(|v| value_hash(&self.value_serde, &self.topic, v))
            .transpose()?;
        let response = SubscriptionResponseWrapper {
            hash,
            primary_partition: ctx.task_id().partition,
            foreign_value: None,
        };
        ctx.forward(Record::new(r.key, response, r.timestamp).with_headers(r.headers))
    }
}

/// Right side: records subscriptions by (foreign key, primary key) and answers each with the
/// foreign table's current value (Kafka Streams' `SubscriptionReceiveProcessorSupplier` and
/// `SubscriptionJoinProcessorSupplier`).
pub(crate) struct Receipt<K, KO, VO> {
    pub(crate) store: String,
    pub(crate) foreign: ValueGetter<KO, VO>,
    pub(crate) primary_key_serde: SharedSerde<K>,
    pub(crate) foreign_key_serde: SharedSerde<KO>,
}

impl<K: Data, KO: Data, VO: Data> Receipt<K, KO, VO> {
    pub(crate) fn process(
        &self,
        ctx: &mut ProcessorContext<'_, K, SubscriptionResponseWrapper<VO>>,
        r: Record<KO, SubscriptionWrapper<K>>,
    ) -> Result<()> {
        let w = r.value;
        let key = combined_key(
            &key_bytes(&self.foreign_key_serde, &self.store, &r.key)?,
            &key_bytes(&self.primary_key_serde, &self.store, &w.primary_key)?,
        );
        {
            let store = ctx.key_value_store::<Vec<u8>, Vec<u8>>(&self.store)?;
            if w.instruction.subscribes() {
                let entry = encode_subscription(r.timestamp, w.primary_partition, &w.hash);
                store.put(&key, &entry)?;
            } else {
                store.delete(&key)?;
            }
        }
        let found = (self.foreign.get)(ctx as &mut dyn StoreAccess, &r.key)?;
        let ts = found
            .as_ref()
            .map_or(r.timestamp, |f| f.timestamp.max(r.timestamp));
        let foreign_value = match (w.instruction, found) {
            (Instruction::DeleteKeyNoPropagate, _) => return Ok(()),
            (Instruction::PropagateOnlyIfFkValAvailable, None) => return Ok(()),
            (Instruction::DeleteKeyAndPropagate, _) => None,
            (_, found) => found.map(|f| f.value),
        };
        let response = SubscriptionResponseWrapper {
            hash: w.hash,
            primary_partition: w.primary_partition,
            foreign_value,
        };
        ctx.forward(Record::new(w.primary_key, response, ts).with_headers(r.headers))
    }
}

/// Right side: a change of the foreign table answers every subscriber of its key (Kafka
/// Streams' `ForeignTableJoinProcessorSupplier`).
pub(crate) struct ForeignUpdate<K, KO> {
    pub(crate) store: String,
    pub(crate) primary_key_serde: SharedSerde<K>,
    pub(crate) foreign_key_serde: SharedSerde<KO>,
}

impl<K: Data, KO: Data> ForeignUpdate<K, KO> {
    pub(crate) fn process<VO: Data>(
        &self,
        ctx: &mut ProcessorContext<'_, K, SubscriptionResponseWrapper<VO>>,
        r: Record<KO, Change<VO>>,
    ) -> Result<()> {
        if r.value.new.is_none() && r.value.old.is_none() {
            return Ok(());
        }
        let prefix = foreign_key_prefix(&key_bytes(&self.foreign_key_serde, &self.store, &r.key)?);
        let subscribers = ctx
            .key_value_store::<Vec<u8>, Vec<u8>>(&self.store)?
            .prefix_scan(&prefix, &Serdes::bytes())?;
        for (key, entry) in subscribers {
            let Some(pk) = primary_key_of(&key) else {
                tracing::warn!(store = %self.store, "skipping a malformed subscription key");
                continue;
            };
            let primary_key = self.primary_key_serde.deserialize(&self.store, Some(pk))?;
            let (ts, primary_partition, hash) = decode_subscription(&self.store, &entry)?;
            let response = SubscriptionResponseWrapper {
                hash,
                primary_partition,
                foreign_value: r.value.new.clone(),
            };
            ctx.forward(
                Record::new(primary_key, response, ts.max(r.timestamp))
                    .with_headers(r.headers.clone()),
            )?;
        }
        Ok(())
    }
}

/// The joined value of a current left value and a foreign value; `None`: no result.
pub(crate) type FkJoiner<V, VO, VR> = Arc<dyn Fn(&V, Option<&VO>) -> Option<VR> + Send + Sync>;

/// Left side: a response is joined with the left table's current value unless it was
/// computed for another value (its hash differs: stale), and the result table is updated
/// (Kafka Streams' `ResponseJoinProcessorSupplier`). A result deletion for a key without a
/// result is not forwarded.
pub(crate) struct Resolution<K, V, VO, VR> {
    pub(crate) topic: String,
    pub(crate) result_store: String,
    pub(crate) this: ValueGetter<K, V>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) joiner: FkJoiner<V, VO, VR>,
}

impl<K: Data, V: Data, VO: Data, VR: Data> Resolution<K, V, VO, VR> {
    pub(crate) fn process(
        &self,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
        r: Record<K, SubscriptionResponseWrapper<VO>>,
    ) -> Result<()> {
        let current = (self.this.get)(ctx as &mut dyn StoreAccess, &r.key)?;
        let current_hash = current
            .as_ref()
            .map(|c| value_hash(&self.value_serde, &self.topic, &c.value))
            .transpose()?;
        if current_hash != r.value.hash {
            tracing::debug!(topic = %self.topic, "dropping a stale foreign-key join response");
            return Ok(());
        }
        let result = current
            .as_ref()
            .and_then(|c| (self.joiner)(&c.value, r.value.foreign_value.as_ref()));
        let store = ctx.key_value_store::<K, ValueAndTimestamp<VR>>(&self.result_store)?;
        let old = store.get(&r.key)?.map(|o| o.value);
        match &result {
            Some(v) => store.put(&r.key, &ValueAndTimestamp::make(v.clone(), r.timestamp))?,
            None if old.is_none() => return Ok(()),
            None => {
                store.delete(&r.key)?;
            }
        }
        let (key, ts, headers) = (r.key, r.timestamp, r.headers);
        ctx.forward(Record::new(key, Change::new(result, old), ts).with_headers(headers))
    }
}
