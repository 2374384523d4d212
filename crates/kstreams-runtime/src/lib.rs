//! kstreams-runtime
