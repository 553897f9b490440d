/** Grad mode: whether ops record the graph (torch.is_grad_enabled / no_grad / enable_grad). */

let enabled = true;

export function isGradEnabled(): boolean {
  return enabled;
}

/** Sets grad mode globally (torch.set_grad_enabled); returns the previous mode. */
export function setGradEnabled(on: boolean): boolean {
  const prev = enabled;
  enabled = on;
  return prev;
}

function withMode<T>(on: boolean, fn: () => T): T {
  const prev = setGradEnabled(on);
  let async = false;
  try {
    const r = fn();
    if (r instanceof Promise) {
      async = true;
      return r.finally(() => setGradEnabled(prev)) as T;
    }
    return r;
  } finally {
    if (!async) setGradEnabled(prev);
  }
}

/**
 * Runs fn with gradient recording off (torch.no_grad). Ops inside create no graph. For an async fn
 * the mode is restored when its promise settles (do not interleave it with other grad work).
 */
export function noGrad<T>(fn: () => T): T {
  return withMode(false, fn);
}

/** Runs fn with gradient recording on, e.g. inside noGrad (torch.enable_grad). */
export function enableGrad<T>(fn: () => T): T {
  return withMode(true, fn);
}
