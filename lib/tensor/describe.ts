/** A short description of any JS value for error messages (bigints, symbols and tensors included). */
export function describe(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'symbol' || typeof v === 'function') return typeof v;
  if (v !== null && typeof v === 'object' && 'shape' in v && 'dtype' in v && Array.isArray((v as { shape: unknown }).shape)) {
    return `a Tensor of shape [${(v as { shape: number[] }).shape.join(', ')}]`;
  }
  try {
    // NaN, ±Infinity and undefined print as themselves (JSON would say null), bigints with their n
    const mark = '\u0000';
    const text = JSON.stringify(v, (_, x: unknown) =>
      typeof x === 'bigint' ? `${mark}${x}n${mark}` : (typeof x === 'number' && !Number.isFinite(x)) || x === undefined ? `${mark}${String(x)}${mark}` : x);
    return text === undefined ? String(v) : text.replace(/"\\u0000([^"]*)\\u0000"/g, '$1');
  } catch {
    return Object.prototype.toString.call(v);
  }
}
