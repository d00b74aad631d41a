/**
 * An independent, word-oriented BHS builder for fixtures: it knows nothing of the codec's field tables, only the
 * generic BHS shape of RFC 7143 §11.2.1 (bytes 0-3, lengths, bytes 8-15, then 32-bit words 16..44).
 */
export interface RawBhs {
  opcode: number;
  immediate?: boolean;
  byte1?: number;
  byte2?: number;
  byte3?: number;
  ahsWords?: number;
  dataSegmentLength?: number;
  /** Bytes 8-15. */
  b8?: bigint;
  /** 32-bit words at byte offsets 16, 20, ... 44. */
  w16?: number;
  w20?: number;
  w24?: number;
  w28?: number;
  w32?: number;
  w36?: number;
  w40?: number;
  w44?: number;
}

export function buildBhs(f: RawBhs): Uint8Array {
  const b = new Uint8Array(48);
  const view = new DataView(b.buffer);
  b[0] = (f.immediate ? 0x40 : 0) | f.opcode;
  b[1] = f.byte1 ?? 0;
  b[2] = f.byte2 ?? 0;
  b[3] = f.byte3 ?? 0;
  b[4] = f.ahsWords ?? 0;
  view.setUint32(4, ((f.ahsWords ?? 0) << 24) | (f.dataSegmentLength ?? 0));
  view.setBigUint64(8, f.b8 ?? 0n);
  for (const at of [16, 20, 24, 28, 32, 36, 40, 44] as const) view.setUint32(at, f[`w${at}`] ?? 0);
  return b;
}

/** BHS followed by a data segment padded with zeros. */
export function withData(bhs: Uint8Array, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(bhs.length + Math.ceil(data.length / 4) * 4);
  out.set(bhs);
  out.set(data, bhs.length);
  return out;
}

/** Hex string (spaces allowed) to bytes. */
export function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}
