//! (queries)
