//! Training data (DESIGN.md §6). Everything here runs on the CPU; the trainer uploads batches.

pub mod toy2d;
