import { copyUp, randRw, seqReadCold, seqReadWarm, seqWrite } from './data';
import { newContainer } from './container';
import { walkMem } from './memory';
import { createMount, importImage, pullImage, pushImage } from './tools';
import { buildahMountProgram, buildDockerfile, runTrue } from './runtime';
import { catSmall, createUnlink, findCold, findWarm, lsCold, lsWarm, rmRf, untar } from './tree';
import { Workload } from './types';
import { loadZstd, zstdDecode } from './zstd';

/** In the order they run and are reported. */
export const allWorkloads: Workload[] = [
  seqReadCold,
  seqReadWarm,
  seqWrite,
  copyUp,
  randRw,
  untar,
  findCold,
  findWarm,
  lsCold,
  lsWarm,
  catSmall,
  createUnlink,
  rmRf,
  walkMem,
  newContainer,
  importImage,
  zstdDecode,
  loadZstd,
  createMount,
  runTrue,
  buildDockerfile,
  buildahMountProgram,
  pullImage,
  pushImage,
];

export function selectWorkloads(only: string[] | null): Workload[] {
  if (!only) return allWorkloads;
  const ids = new Set(allWorkloads.map((w) => w.id));
  const unknown = only.filter((id) => !ids.has(id));
  if (unknown.length) throw new Error(`unknown workload ${unknown.join(', ')} (known: ${[...ids].join(', ')})`);
  return allWorkloads.filter((w) => only.includes(w.id));
}
