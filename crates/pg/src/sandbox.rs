//! The in-process sandbox PG.
