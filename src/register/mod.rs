//! register (filled in by its issue)
