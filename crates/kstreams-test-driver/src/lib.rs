//! `TopologyTestDriver`: runs a kstreams [`Topology`] in process, without a broker, through the
//! same [`StreamTask`] code the runtime uses.
//!
//! Every topic has one partition (0). Piping a record processes it, and everything it causes,
//! before returning: records a sink writes to a topic that the topology reads (a repartition
//! topic, for instance) are fed back to their source as a broker would; then every task
//! commits (caches flush). Wall-clock time is a mock clock moved by
//! [`TopologyTestDriver::advance_wall_clock_time`].
//!
//! ```
//! use kstreams_core::{Topology, Serdes, Record, Processor, ProcessorContext};
//! use kstreams_test_driver::TopologyTestDriver;
//!
//! struct Upper;
//! impl Processor<String, String, String, String> for Upper {
//!     fn process(&mut self, ctx: &mut ProcessorContext<'_, String, String>, r: Record<String, String>) -> kstreams_core::Result<()> {
//!         let v = r.value.to_uppercase();
//!         ctx.forward(r.with_value(v))
//!     }
//! }
//!
//! let mut t = Topology::new();
//! t.add_source::<String, String>("src", &["in"], Serdes::string(), Serdes::string()).unwrap();
//! t.add_processor("upper", || Upper, &["src"]).unwrap();
//! t.add_sink::<String, String>("sink", "out", Serdes::string(), Serdes::string(), &["upper"]).unwrap();
//!
//! let driver = TopologyTestDriver::new(t).unwrap();
//! let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
//! let output = driver.create_output_topic("out", Serdes::string(), Serdes::string());
//! input.pipe_input("k".to_string(), "hello".to_string());
//! assert_eq!(output.read_value(), "HELLO");
//! ```

mod driver;
mod input_topic;
mod output_topic;
mod store_view;

pub use driver::{DriverConfig, TopologyTestDriver};
pub use input_topic::TestInputTopic;
pub use output_topic::TestOutputTopic;
pub use store_view::{KeyValueStoreView, SessionStoreView, WindowStoreView};

#[doc(no_inline)]
pub use kstreams_core::{StreamTask, Topology};
