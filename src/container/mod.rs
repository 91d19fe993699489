//! The `.stz` container format.
