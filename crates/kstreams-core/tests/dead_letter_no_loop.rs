//! A record that fails while being written to the dead-letter topic is a fatal error: the
//! handlers are not consulted again, so nothing loops into the DLQ.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use kstreams_core::processor::{
    DeadLetterProcessingExceptionHandler, ErrorHandlerContext, FailureHandling,
    LogAndFailExceptionHandler, ProcessingExceptionHandler, ProcessingHandlerResponse,
    ProcessorGraph, RecordCollector, TaskEnv,
};
use kstreams_core::{
    ConsumedRecord, Headers, MockClock, Processor, ProcessorContext, ProducedRecord, Record,
    Result, Serdes, StreamsError, Topology,
};

/// Accepts every record except those for the dead-letter topic.
struct RejectingDlq(Arc<Mutex<Vec<ProducedRecord>>>);

impl RecordCollector for RejectingDlq {
    fn send(&mut self, record: ProducedRecord) -> Result<()> {
        if &*record.topic == "app-dlq" {
            return Err(StreamsError::Fatal("broker rejected the record".into()));
        }
        self.0.lock().unwrap().push(record);
        Ok(())
    }
    fn partitions_for(&self, _topic: &str) -> Option<i32> {
        Some(1)
    }
}

/// Counts how often it is asked, and always says: dead-letter.
struct Counting(Arc<AtomicUsize>);

impl ProcessingExceptionHandler for Counting {
    fn handle(
        &self,
        ctx: &ErrorHandlerContext<'_>,
        error: &StreamsError,
    ) -> ProcessingHandlerResponse {
        self.0.fetch_add(1, Ordering::SeqCst);
        DeadLetterProcessingExceptionHandler.handle(ctx, error)
    }
    fn may_dead_letter(&self) -> bool {
        true
    }
}

struct AlwaysFails;

impl Processor<String, String, String, String> for AlwaysFails {
    fn process(
        &mut self,
        _ctx: &mut ProcessorContext<'_, String, String>,
        _r: Record<String, String>,
    ) -> Result<()> {
        Err(StreamsError::processing("bad data"))
    }
}

#[test]
fn a_failed_dead_letter_write_is_fatal_and_not_handled_again() {
    let mut t = Topology::new();
    t.add_source::<String, String>("src", &["in"], Serdes::string(), Serdes::string())
        .unwrap();
    t.add_processor("fails", || AlwaysFails, &["src"]).unwrap();
    let built = t.build(Some("app")).unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let env = TaskEnv {
        application_id: "app".into(),
        task_dir: None,
        changelog: None,
        clock: Arc::new(MockClock::new(0)),
        collector: Box::new(RejectingDlq(sent.clone())),
        deserialization_handler: Arc::new(LogAndFailExceptionHandler),
        cache: None,
        failure: FailureHandling {
            processing_handler: Arc::new(Counting(asked.clone())),
            ..Default::default()
        },
    };
    let mut g = ProcessorGraph::new(&built, 0, 0, env).unwrap();
    g.init().unwrap();
    assert_eq!(g.dead_letter_topic(), "app-dlq");
    let raw = ConsumedRecord {
        topic: "in".into(),
        partition: 0,
        offset: 3,
        timestamp: 1,
        key: Some(b"k".to_vec().into()),
        value: Some(b"v".to_vec().into()),
        headers: Headers::new(),
    };
    let stamped = g.decode(raw, -1).unwrap().unwrap();
    let err = g.process(stamped).unwrap_err();
    assert!(
        matches!(&err, StreamsError::Fatal(m) if m.contains("dead-letter topic 'app-dlq'")),
        "{err}"
    );
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "the handler was asked once only"
    );
    assert!(sent.lock().unwrap().is_empty());
}
