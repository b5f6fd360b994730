//! scanner (in progress)
pub mod framing;
