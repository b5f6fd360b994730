//! journal (filled in by its issue)
