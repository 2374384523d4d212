//! The examples on the example contract, driven as an operator would drive them: started, killed
//! and restarted against tansu, with input and output through librdkafka and our own client. One
//! test binary, so the suite links once.

mod example_contract;
mod example_process;
mod flaky_downstream_contract;
mod interactive_queries_contract;
