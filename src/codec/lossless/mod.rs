//! Lossless chunk models: float field splitting with scale contexts, byte planes.
