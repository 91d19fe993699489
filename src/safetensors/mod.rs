//! Streaming safetensors input: header parsing and validation, and a walker
//! over tensor data in offset order that never holds more than a chunk.

pub mod dtype;
pub mod header;
pub mod reader;
mod subset;

pub use dtype::{Dtype, FloatLayout};
pub use header::{Header, TensorInfo, MAX_HEADER_LEN, MAX_JSON_DEPTH};
pub use reader::{open, DataReader};
