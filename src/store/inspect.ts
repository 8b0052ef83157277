// `inspect` in docker's shape (docker image inspect / docker container inspect), plus the
// store's own fields (ManifestDigest, Layers with their dirs, Mounted) that strata adds.
import * as path from 'node:path';
import { Store, ImageRecord, ContainerRecord, MountState } from './store';
import { imageRefs } from './resolve';
import { configOf, layersSize } from './listing';
import { upperDir, workDir } from './containers';

export function inspectImage(store: Store, img: ImageRecord): Record<string, unknown> {
  const cfg = configOf(store, img);
  const lower = store.lowerDirs(img.layers.map((l) => l.chainId));
  let manifest: unknown = null;
  try {
    manifest = JSON.parse(store.readBlob(img.manifestDigest).toString('utf8'));
  } catch {
    /* being collected */
  }
  const hist = cfg?.history ?? [];
  return {
    Id: img.id,
    RepoTags: imageRefs(store, img.id),
    RepoDigests: img.repoDigests ?? [],
    Parent: img.parent ?? '',
    Comment: hist.length ? (hist[hist.length - 1].comment ?? '') : '',
    Created: cfg?.created ?? img.created,
    Author: cfg?.author ?? '',
    Config: cfg?.config ?? null,
    Architecture: cfg?.architecture ?? '',
    ...(typeof cfg?.variant === 'string' ? { Variant: cfg.variant } : {}),
    Os: cfg?.os ?? '',
    Size: layersSize(store, img),
    GraphDriver: {
      Name: 'strata',
      // overlay2's convention: the top layer as UpperDir, the rest (top first) as LowerDir
      Data: lower.length ? { ...(lower.length > 1 ? { LowerDir: lower.slice(1).join(':') } : {}), UpperDir: lower[0] } : null,
    },
    RootFS: { Type: cfg?.rootfs?.type ?? 'layers', Layers: cfg?.rootfs?.diff_ids ?? img.layers.map((l) => l.diffId) },
    Metadata: { LastTagTime: img.loaded },
    ConfigDigest: img.configDigest,
    ManifestDigest: img.manifestDigest,
    Layers: img.layers.map((l) => ({ ...l, dir: store.layerDir(l.chainId) })),
    Manifest: manifest,
  };
}

export interface ContainerRuntimeView {
  state: { Status: string; Running: boolean; Paused: boolean; ExitCode: number; StartedAt: string; FinishedAt: string; Pid: number };
  path: string;
  args: string[];
  config: Record<string, unknown>;
}

export function inspectContainer(store: Store, c: ContainerRecord, mounted: MountState | null, rt: ContainerRuntimeView): Record<string, unknown> {
  const lowers = store.lowerDirs(c.layers);
  const merged = mounted?.mountpoint ?? path.join(store.containerDir(c.id), 'merged');
  return {
    Id: c.id,
    Created: c.created,
    Path: rt.path,
    Args: rt.args,
    State: rt.state,
    Image: c.image,
    Name: '/' + c.name,
    Driver: mounted?.driver ?? 'strata-fs',
    GraphDriver: { Name: mounted?.driver ?? 'strata-fs', Data: { LowerDir: lowers.join(':'), UpperDir: upperDir(store, c.id), WorkDir: workDir(store, c.id), MergedDir: merged } },
    Config: { ...rt.config, Image: c.imageRef },
    ImageRef: c.imageRef,
    Mounted: mounted,
    UpperDir: upperDir(store, c.id),
    WorkDir: workDir(store, c.id),
    LowerDirs: lowers,
  };
}
