// Codec worker: one of the pool spawned by the coordinator. Stateless: it
// answers encode/decode jobs for single chunks, which are independent by
// design of the .stz format, so the pool can work on several at once.
import { loadWasm } from './wasm-loader.js';

let ready = null; // Promise of the loaded wasm module

// Hand a Uint8Array back with its buffer transferred (not copied). A view
// that does not span its whole buffer (or that lives in wasm memory, which
// cannot be detached) is copied first.
function own(u8) {
  return u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength && !(u8.buffer instanceof SharedArrayBuffer)
    ? u8 : u8.slice();
}

self.onmessage = async ({ data: msg }) => {
  if (msg.type === 'init') {
    ready = loadWasm(msg.wasm);
    ready.catch((e) => self.postMessage({ type: 'fatal', error: String(e?.message ?? e) }));
    return;
  }
  const { id } = msg;
  try {
    const { mod, memory } = await ready;
    if (msg.op === 'encode') {
      const r = mod.encodeChunk(msg.dtype, msg.rowLen, msg.step, msg.data);
      const payload = own(r.payload);
      // The input goes back too (transferred, not copied): lossless chunks
      // decode to their input, which the coordinator hashes.
      const input = msg.data;
      const transfer = [payload.buffer, input.buffer];
      const reply = { id, payload, checksum: r.checksum, input, err2: r.err2, sig2: r.sig2, mem: memory?.buffer.byteLength ?? 0 };
      if (r.decoded) {
        reply.decoded = own(r.decoded);
        transfer.push(reply.decoded.buffer);
      }
      self.postMessage(reply, transfer);
    } else if (msg.op === 'decode') {
      const decoded = own(mod.decodeChunk(msg.dtype, msg.len, msg.checksum, msg.payload));
      self.postMessage({ id, decoded, mem: memory?.buffer.byteLength ?? 0 }, [decoded.buffer]);
    } else {
      throw new Error(`unknown job ${msg.op}`);
    }
  } catch (e) {
    self.postMessage({ id, error: String(e?.message ?? e) });
  }
};
