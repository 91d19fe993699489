//! Table-driven entropy coding (static rANS).
