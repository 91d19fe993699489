//! Streaming safetensors input: header parsing and validation, and a walker
//! over tensor data in offset order that never holds more than a chunk.

pub mod dtype;

pub use dtype::{Dtype, FloatLayout};
