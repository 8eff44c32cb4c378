/** A safetensors file with any header, valid or not: the 8-byte length, the JSON, `dataBytes` zero bytes. */
export function rawSafetensors(header: unknown, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}
