//! The Processor API: processors, their context, punctuation and the per-task processor graph.

mod context;
pub(crate) mod graph;
mod handlers;
pub(crate) mod nodes;
mod partitioner;
pub mod punctuation;
mod record_collector;
mod task_id;
pub(crate) mod task_stores;
mod timestamp_extractor;

pub use context::ProcessorContext;
pub use graph::{FailureHandling, GlobalStateStores, ProcessorGraph, StampedRecord, TaskEnv};
pub use handlers::{
    DeadLetterProcessingExceptionHandler, DeadLetterProductionExceptionHandler,
    DefaultProductionExceptionHandler, DeserializationExceptionHandler,
    DeserializationHandlerResponse, ErrorHandlerContext, LogAndContinueExceptionHandler,
    LogAndContinueProcessingExceptionHandler, LogAndContinueProductionExceptionHandler,
    LogAndFailExceptionHandler, LogAndFailProcessingExceptionHandler, ProcessingExceptionHandler,
    ProcessingHandlerResponse, ProductionExceptionHandler, ProductionHandlerResponse,
    SendToDeadLetterExceptionHandler, SerializationErrorContext,
};
pub use partitioner::{StreamPartitioner, TopicNameExtractor};
pub use punctuation::{Cancellable, PunctuationType};
pub use record_collector::{RecordCollector, VecRecordCollector};
pub use task_id::TaskId;
pub use timestamp_extractor::{
    FailOnInvalidTimestamp, LogAndSkipOnInvalidTimestamp, TimestampExtractor,
    UsePartitionTimeOnInvalidTimestamp, WallclockTimestampExtractor,
};

use crate::error::Result;
use crate::record::Record;

/// A node of the Processor API: receives records of `(KIn, VIn)` and may forward records of
/// `(KOut, VOut)` to its children through the context.
///
/// One instance exists per task; `init` runs before the first record (schedule punctuators
/// there), `close` when the task closes.
pub trait Processor<KIn, VIn, KOut, VOut>: Send + 'static {
    /// Called once before processing starts.
    fn init(&mut self, ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// Processes one record.
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, KOut, VOut>,
        record: Record<KIn, VIn>,
    ) -> Result<()>;

    /// Called once when the task closes.
    fn close(&mut self, ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
}

/// Creates a fresh processor per task.
pub trait ProcessorSupplier<KIn, VIn, KOut, VOut>: Send + Sync + 'static {
    /// A new processor instance.
    fn get(&self) -> Box<dyn Processor<KIn, VIn, KOut, VOut>>;
}

impl<F, P, KIn, VIn, KOut, VOut> ProcessorSupplier<KIn, VIn, KOut, VOut> for F
where
    F: Fn() -> P + Send + Sync + 'static,
    P: Processor<KIn, VIn, KOut, VOut>,
{
    fn get(&self) -> Box<dyn Processor<KIn, VIn, KOut, VOut>> {
        Box::new(self())
    }
}

impl<KIn, VIn, KOut, VOut> Processor<KIn, VIn, KOut, VOut>
    for Box<dyn Processor<KIn, VIn, KOut, VOut>>
where
    KIn: 'static,
    VIn: 'static,
    KOut: 'static,
    VOut: 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<()> {
        (**self).init(ctx)
    }
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, KOut, VOut>,
        record: Record<KIn, VIn>,
    ) -> Result<()> {
        (**self).process(ctx, record)
    }
    fn close(&mut self, ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<()> {
        (**self).close(ctx)
    }
}
