/** A short description of any JS value for error messages (bigints, symbols and tensors included). */
export function describe(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'symbol' || typeof v === 'function') return typeof v;
  if (v !== null && typeof v === 'object' && 'shape' in v && 'dtype' in v && Array.isArray((v as { shape: unknown }).shape)) {
    return `a Tensor of shape [${(v as { shape: number[] }).shape.join(', ')}]`;
  }
  try {
    return JSON.stringify(v, (_, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x)) ?? String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}
