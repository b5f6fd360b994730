//! scanner (filled in by its issue)
