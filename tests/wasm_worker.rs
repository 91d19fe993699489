//! The wasm API in a dedicated worker, where the page runs it (see
//! `tests/wasm/`).
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);

mod common;
mod wasm;
