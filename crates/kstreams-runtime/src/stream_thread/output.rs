//! The output side of a stream thread: the outbox goes to the producer in one call, sends are
//! settled (changelog offsets noted, rejections handed to the production exception handler)
//! and a transaction lost to a rejection is aborted and its tasks revived.

use std::ops::ControlFlow;
use std::sync::Arc;

use kstreams_core::failure::{
    FailureMetric, ParkedRecord, dead_letter_record, output_original, production_failure_metadata,
};
use kstreams_core::{OutputOrigin, StreamsError};
use kstreams_kafka::{KafkaError, TopicPartition};
use tracing::{debug, info, warn};

use super::StreamThread;
use crate::collector::swap_out;
use crate::error::Result;
use crate::send_failure::{
    Fate, PendingOutbox, PendingSends, RejectedSend, RejectionPlan, SendFailureClass, SentOutput,
    StagedSend, classify_send_error, decide, failure_cause, rejection_error, to_producer_record,
};

/// Unacknowledged sends a stream thread keeps before waiting for the older half.
const MAX_PENDING_SENDS: usize = 100_000;

impl StreamThread {
    /// Sends what the tasks wrote; returns how many records.
    pub(super) async fn send_outbox(&mut self) -> Result<usize> {
        let mut records = std::mem::take(&mut self.outbox_spare);
        records.clear();
        swap_out(&self.outbox, &mut records);
        let n = records.len();
        if n == 0 {
            self.outbox_spare = records;
            return Ok(0);
        }
        if self.eos && !self.in_txn {
            self.producer.begin_transaction()?;
            self.in_txn = true;
        }
        let injector = self.shared.config.send_fault_injection.0.clone();
        // One producer call for the whole outbox (see `Producer::send_all`); records the
        // fault injector rejects never reach the producer.
        let mut staged = Vec::with_capacity(n);
        let mut to_send = Vec::with_capacity(n);
        // The previous record's topic and whether it is a changelog: records share their
        // sink's or changelog writer's topic name.
        let mut last_topic: Option<(Arc<str>, bool)> = None;
        for mut r in records.drain(..) {
            let is_changelog = match &last_topic {
                Some((topic, is)) if Arc::ptr_eq(topic, &r.topic) => *is,
                _ => {
                    let is = self.changelog_topics.contains(&*r.topic);
                    last_topic = Some((r.topic.clone(), is));
                    is
                }
            };
            let changelog = if is_changelog {
                r.partition.map(|p| (r.topic.clone(), p))
            } else {
                None
            };
            let origin = r.origin.take();
            let injected = match (&injector, &origin) {
                (Some(i), Some(_)) => i.reject(&r),
                _ => None,
            };
            let pr = to_producer_record(r);
            let fate = match injected {
                // Rejected as the producer would: the record comes back with the error.
                Some(code) => Fate::Rejected(Box::new(KafkaError::Undelivered {
                    error: Box::new(kstreams_kafka::error::broker_error(
                        "Produce",
                        code,
                        Some("rejected by the send fault injector".into()),
                    )),
                    record: Box::new(pr),
                })),
                None => {
                    to_send.push(pr);
                    Fate::Sent(to_send.len() - 1)
                }
            };
            staged.push(StagedSend {
                changelog,
                origin,
                fate,
            });
        }
        self.outbox_spare = records;
        let delivery = match self.producer.send_all(to_send).await {
            Ok(delivery) => delivery,
            Err(e) => {
                // Under exactly-once a rejected record makes the transaction abortable and
                // later sends fail: handle the rejection (abort, reprocess) if that is what
                // happened.
                if self.eos && self.handle_known_rejections().await? {
                    debug!(error = %e, "send refused after a rejected record; transaction redone");
                    return Ok(0);
                }
                return Err(e.into());
            }
        };
        self.pending.push(PendingOutbox { staged, delivery });
        // Calls the broker answered in full are noted now rather than at the commit: what
        // they hold is freed while it is still in the processor's caches, and the memory
        // is reused instead of growing until the commit.
        let mut answered = Vec::new();
        while let Some(call) = self.pending.pop_settled() {
            answered.push(call);
        }
        if !answered.is_empty() {
            let rejected = self.settle(answered).await?;
            if self.handle_rejections(rejected).await? {
                return Ok(n);
            }
        }
        if self.pending.records() > MAX_PENDING_SENDS {
            // Bound memory between commits (at-least-once commits every 30 s): settle the
            // older half now; they were sent first, so they are usually acknowledged already.
            // Some may still sit in batches waiting out the linger (many partitions, each
            // batch small): send those now rather than wait for it.
            self.producer.send_now()?;
            let mut older = Vec::new();
            while self.pending.records() > MAX_PENDING_SENDS / 2 {
                match self.pending.pop() {
                    Some(call) => older.push(call),
                    None => break,
                }
            }
            let rejected = self.settle(older).await?;
            self.handle_rejections(rejected).await?;
        }
        Ok(n)
    }

    /// Waits for every pending send and handles rejected output records. Returns whether
    /// that aborted the transaction and revived the tasks (exactly-once).
    pub(super) async fn await_pending(&mut self) -> Result<bool> {
        let pending = self.take_pending();
        let rejected = self.settle(pending).await?;
        let revived = self.handle_rejections(rejected).await?;
        if !self.eos && !self.pending.is_empty() {
            // Dead-letter writes of rejected records, done before the offsets commit.
            self.producer.flush().await?;
            let pending = self.take_pending();
            self.settle(pending).await?;
        }
        Ok(revived)
    }

    /// Every pending producer call, oldest first.
    fn take_pending(&mut self) -> Vec<PendingOutbox> {
        std::iter::from_fn(|| self.pending.pop()).collect()
    }

    /// Waits for these sends, noting the changelog offsets they reached. Sink output the
    /// broker rejected for what it is comes back for the production exception handler; any
    /// other failure is returned as an error at once. Under exactly-once the first rejection
    /// ends the wait: the transaction is lost, and its later sends may never complete before
    /// it is aborted.
    pub(super) async fn settle(&mut self, calls: Vec<PendingOutbox>) -> Result<Vec<RejectedSend>> {
        let mut rejected = Vec::new();
        for mut call in calls {
            // Exactly-once waits until the first failure at most; a failure noted before
            // (there is none unless a rejection was handled) would end no wait, so the
            // second round waits for every answer.
            let mut until_failure = self.eos;
            loop {
                call.delivery.settled(until_failure).await;
                let mut failed = None;
                let eos = self.eos;
                let stopped = call.note_known(|changelog, origin, r| {
                    match self.note_outcome(r, changelog, origin) {
                        Ok(Some(r)) => {
                            rejected.push(r);
                            if eos {
                                return ControlFlow::Break(());
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            failed = Some(e);
                            return ControlFlow::Break(());
                        }
                    }
                    ControlFlow::Continue(())
                });
                if let Some(e) = failed {
                    return Err(e);
                }
                if stopped.is_break() {
                    return Ok(rejected);
                }
                if call.all_noted() {
                    break;
                }
                if !until_failure {
                    return Err(StreamsError::Fatal(
                        "the producer answered fewer records than were sent".into(),
                    )
                    .into());
                }
                until_failure = false;
            }
        }
        Ok(rejected)
    }

    /// Notes one send's outcome: the changelog offset it reached, or the rejected record.
    pub(super) fn note_outcome(
        &mut self,
        r: kstreams_kafka::Result<kstreams_kafka::Delivered>,
        changelog: Option<(Arc<str>, i32)>,
        origin: Option<OutputOrigin>,
    ) -> Result<Option<RejectedSend>> {
        match (r, origin) {
            (Ok(md), _) => {
                if let Some(key) = changelog {
                    let e = self.changelog_offsets.entry(key).or_insert(0);
                    *e = (*e).max(md.offset + 1);
                }
                Ok(None)
            }
            (Err(error), Some(origin))
                if classify_send_error(&error) == SendFailureClass::RecordRejected =>
            {
                match error.into_undelivered() {
                    (error, Some(record)) => Ok(Some(RejectedSend {
                        output: Box::new(SentOutput::of(record, origin)),
                        error,
                    })),
                    // Not handed back: nothing to give the handler.
                    (error, None) => Err(error.into()),
                }
            }
            (Err(e), _) => Err(e.into()),
        }
    }

    /// Exactly-once: handles the rejections among the sends whose outcome is already known,
    /// without waiting for the others (a poisoned transaction may hold them until it is
    /// aborted). Returns whether a rejection aborted the transaction and revived the tasks.
    pub(super) async fn handle_known_rejections(&mut self) -> Result<bool> {
        let mut rejected = Vec::new();
        let mut still = PendingSends::default();
        let mut calls = self.take_pending().into_iter();
        while let Some(mut call) = calls.next() {
            let mut failed = None;
            let _ = call.note_known(|changelog, origin, r| {
                match self.note_outcome(r, changelog, origin) {
                    Ok(Some(r)) => rejected.push(r),
                    Ok(None) => {}
                    // The transaction cannot commit; if a rejection explains it, it is redone.
                    Err(e) if !rejected.is_empty() => {
                        debug!(error = %e, "send failed in a poisoned transaction")
                    }
                    Err(e) => {
                        failed = Some(e);
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            });
            if let Some(e) = failed {
                still.push(call);
                calls.for_each(|c| still.push(c));
                self.pending = still;
                return Err(e);
            }
            if !call.all_noted() {
                still.push(call);
            }
        }
        self.pending = still;
        self.handle_rejections(rejected).await
    }

    /// Applies the production exception handler to output records the broker rejected:
    /// at-least-once drops them or writes them to the dead-letter topic (before the offsets
    /// commit); exactly-once notes the decisions, aborts the transaction and reprocesses from
    /// the committed offsets (returning `true`). A fail response fails the thread.
    pub(super) async fn handle_rejections(&mut self, rejected: Vec<RejectedSend>) -> Result<bool> {
        if rejected.is_empty() {
            return Ok(false);
        }
        let handler = self.shared.config.exception_handlers.production.clone();
        let metrics = self.shared.metrics.node_metrics.clone();
        let mut reprocess = false;
        for r in rejected {
            let node = r.output.origin.sink.to_string();
            let cause = failure_cause(&r.error);
            metrics.record(FailureMetric::ProductionError, &node, &cause);
            warn!(node = %node, topic = %r.output.topic, error = %r.error, "the broker rejected an output record");
            match decide(handler.as_ref(), &r, self.eos) {
                RejectionPlan::Fail(message) => {
                    return Err(StreamsError::Fatal(message).into());
                }
                RejectionPlan::Skip => {
                    metrics.record(FailureMetric::ProductionSkipped, &node, &cause);
                }
                RejectionPlan::DeadLetter => self.dead_letter_rejected(&r, node).await?,
                RejectionPlan::Reprocess { id, decision } => {
                    self.production_decisions.insert(id, decision);
                    reprocess = true;
                }
            }
        }
        if reprocess {
            self.revive_tasks().await?;
        }
        Ok(reprocess)
    }

    /// Writes a rejected output record to the dead-letter topic (at-least-once).
    pub(super) async fn dead_letter_rejected(
        &mut self,
        r: &RejectedSend,
        node: String,
    ) -> Result<()> {
        let record = r.output.to_produced();
        let config = &self.shared.config;
        let meta = production_failure_metadata(
            node.clone(),
            rejection_error(r).to_string(),
            &config.application_id,
            self.clock.now_ms(),
            output_original(&record),
        );
        let parked = ParkedRecord {
            timestamp: record.timestamp,
            key: record.key,
            value: record.value,
            headers: record.headers,
        };
        let dlq = dead_letter_record(&config.effective_dead_letter_topic(), parked, &meta);
        let delivery = self
            .producer
            .send_all(vec![to_producer_record(dlq)])
            .await?;
        self.pending.push(PendingOutbox {
            staged: vec![StagedSend {
                changelog: None,
                origin: None,
                fate: Fate::Sent(0),
            }],
            delivery,
        });
        self.shared
            .metrics
            .node_metrics
            .record(FailureMetric::DeadLetter, &node, "production");
        Ok(())
    }

    /// Exactly-once after a rejected record poisoned the transaction (as on task corruption):
    /// aborts it, closes the tasks dirty, reopens them (stores restored from the committed
    /// changelogs) and rewinds their input to the committed offsets. The production
    /// handler's decisions are applied when the rejected records are produced again.
    pub(super) async fn revive_tasks(&mut self) -> Result<()> {
        if self.in_txn {
            self.producer.abort_transaction().await?;
            self.in_txn = false;
        }
        let partitions: Vec<TopicPartition> = self.task_of.keys().cloned().collect();
        info!(
            partitions = partitions.len(),
            "transaction aborted after a rejected record: reprocessing from the committed offsets"
        );
        self.close_dirty_all();
        self.open_tasks(&partitions).await?;
        let committed = self.consumer.committed(&partitions).await?;
        for tp in &partitions {
            match committed.get(tp).cloned().flatten() {
                Some(o) => self.consumer.seek(tp, o.offset)?,
                None => {
                    self.consumer
                        .seek_to_beginning(std::slice::from_ref(tp))
                        .await?
                }
            }
        }
        Ok(())
    }
}
