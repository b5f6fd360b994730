//! display (filled in by its issue)
