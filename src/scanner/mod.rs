//! scanner (in progress)
pub mod framing;
pub mod keymap;
