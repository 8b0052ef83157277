function present(vs: readonly (number | null)[]): number[] {
  return vs.filter((v): v is number => v !== null && Number.isFinite(v));
}

export function min(vs: readonly (number | null)[]): number | null {
  const p = present(vs);
  return p.length ? Math.min(...p) : null;
}

export function median(vs: readonly (number | null)[]): number | null {
  const p = present(vs).sort((a, b) => a - b);
  if (!p.length) return null;
  const mid = p.length >> 1;
  return p.length % 2 ? p[mid] : (p[mid - 1] + p[mid]) / 2;
}

/**
 * value/reference for each run separately: both were measured minutes apart at
 * most, so drift of a shared machine cancels out better than in a ratio of medians.
 */
export function ratiosPerRun(values: readonly (number | null)[], reference: readonly (number | null)[]): (number | null)[] {
  return values.map((v, i) => {
    const r = reference[i];
    return v !== null && r !== null && r !== undefined && r > 0 ? v / r : null;
  });
}
