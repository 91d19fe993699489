// Picks and loads one of the two wasm builds. Used by the page (to say which
// build runs), the coordinator worker and the codec workers.
//
// The SIMD build has no runtime fallback inside it: an engine without
// WebAssembly SIMD refuses to compile it at all. So, like Squoosh and
// wasm-feature-detect, we ask the engine to validate a tiny module that uses
// one v128 instruction, and load the scalar build when that fails.

// (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt))
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0,
  65, 0, 253, 15, 253, 98, 11,
]);

export function simdSupported() {
  try { return WebAssembly.validate(SIMD_PROBE); } catch { return false; }
}

/** 'simd' | 'scalar': the requested build if valid, else what the engine supports. */
export function chooseBuild(requested) {
  if (requested === 'scalar') return 'scalar';
  if (requested === 'simd' && simdSupported()) return 'simd';
  return simdSupported() ? 'simd' : 'scalar';
}

/**
 * Loads the wasm build and returns {mod, build, info, memory}: the module's
 * exports (Compressor, encodeChunk, …), which build was loaded, its
 * buildInfo() and its linear memory (to report memory use).
 */
export async function loadWasm(requested) {
  const build = chooseBuild(requested);
  // A literal per branch (not a template) keeps the import paths static and greppable.
  const mod = build === 'simd'
    ? await import('./pkg/simd/stzip.js')
    : await import('./pkg/scalar/stzip.js');
  const exports = await mod.default();
  return { mod, build, info: mod.buildInfo(), memory: exports?.memory ?? null };
}
