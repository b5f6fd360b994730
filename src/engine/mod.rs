//! The sale lifecycle as a sans-IO state machine (issue 3).
//!
//! Architecture invariant: pure. Time comes in as an argument; outputs are a closed enum.

pub mod sale;
pub mod screen;

pub use sale::{SaleState, SaleView};
pub use screen::Screen;
