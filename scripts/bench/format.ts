import { Unit } from './workloads/types';

export function formatValue(v: number, unit: Unit): string {
  if (unit === 'MB') return v >= 100 ? `${v.toFixed(0)} MB` : `${v.toFixed(1)} MB`;
  if (v < 0.001) return `${(v * 1e6).toFixed(0)} µs`;
  if (v < 1) return `${(v * 1000).toFixed(v < 0.01 ? 2 : v < 0.1 ? 1 : 0)} ms`;
  return `${v.toFixed(v < 10 ? 2 : 1)} s`;
}

/** The min next to a median, without repeating the unit. */
export function formatMin(v: number, unit: Unit, like: string): string {
  const s = formatValue(v, unit);
  const suffix = like.split(' ').pop()!;
  return s.endsWith(` ${suffix}`) ? s.slice(0, -suffix.length - 1) : s;
}

export function formatRatio(r: number): string {
  return `${r < 10 ? r.toFixed(2) : r.toFixed(1)}×`;
}
