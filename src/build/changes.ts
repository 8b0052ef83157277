// commit --change "INSTRUCTION ARGS": the Dockerfile instructions docker commit takes
// (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR), applied to an
// image config as the builder applies them: the same word rules (words.ts), JSON or
// shell forms, $VARS from the config's Env.
import * as path from 'node:path';
import type { ContainerConfig } from '../runtime/spec';
import { jsonArray, keyValues, processWord, processWords, Vars } from './words';

export const CHANGE_KEYWORDS = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'USER', 'VOLUME', 'WORKDIR'];
const DEFAULT_SHELL = ['/bin/sh', '-c'];

function envVars(cfg: ContainerConfig): Vars {
  const m = new Map<string, string>();
  for (const e of cfg.Env ?? []) {
    const i = e.indexOf('=');
    m.set(i < 0 ? e : e.slice(0, i), i < 0 ? '' : e.slice(i + 1));
  }
  return m;
}

/** The config with the changes applied in order; an invalid change throws one line naming it. */
export function applyChanges(base: ContainerConfig, changes: string[]): ContainerConfig {
  const cfg: ContainerConfig = { ...base };
  let cmdSet = false;
  for (const change of changes) {
    const m = /^\s*([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(change);
    const kw = m?.[1].toUpperCase() ?? '';
    const args = (m?.[2] ?? '').trim();
    const bad = (why: string) => new Error(`--change ${JSON.stringify(change)}: ${why}`);
    if (!m || !CHANGE_KEYWORDS.includes(kw)) throw bad(`${kw || 'an empty instruction'} is not one commit can apply (${CHANGE_KEYWORDS.join(', ')})`);
    if (!args && kw !== 'CMD' && kw !== 'ENTRYPOINT') throw bad(`${kw} requires an argument`);
    const v = envVars(cfg);
    try {
      switch (kw) {
        case 'CMD':
        case 'ENTRYPOINT': {
          const exec = jsonArray(args);
          const argv = exec ?? (args ? [...(cfg.Shell ?? DEFAULT_SHELL), args] : []);
          if (kw === 'CMD') {
            cfg.Cmd = argv;
            cmdSet = true;
          } else {
            cfg.Entrypoint = argv.length === 0 ? null : argv;
            // as the builder: a new ENTRYPOINT drops the old CMD unless one is given too
            if (!cmdSet) cfg.Cmd = null;
          }
          break;
        }
        case 'ENV': {
          let env = [...(cfg.Env ?? [])];
          for (const [k, x] of keyValues(args, v, '\\', 'ENV')) env = [...env.filter((e) => e.split('=')[0] !== k), `${k}=${x}`];
          cfg.Env = env;
          break;
        }
        case 'LABEL':
          cfg.Labels = { ...(cfg.Labels ?? {}), ...Object.fromEntries(keyValues(args, v, '\\', 'LABEL')) };
          break;
        case 'EXPOSE': {
          const ports = processWords(args, v).map((p) => (p.includes('/') ? p.toLowerCase() : `${p}/tcp`));
          for (const p of ports) if (!/^\d+(-\d+)?\/(tcp|udp|sctp)$/.test(p)) throw new Error(`invalid port ${JSON.stringify(p)}`);
          cfg.ExposedPorts = { ...(cfg.ExposedPorts ?? {}), ...Object.fromEntries(ports.map((p) => [p, {}])) };
          break;
        }
        case 'VOLUME': {
          const vols = jsonArray(args) ?? processWords(args, v);
          if (vols.length === 0 || vols.some((x) => x === '')) throw new Error('a volume can not be an empty string');
          cfg.Volumes = { ...(cfg.Volumes ?? {}), ...Object.fromEntries(vols.map((x) => [x, {}])) };
          break;
        }
        case 'USER':
          cfg.User = processWord(args, v);
          break;
        case 'WORKDIR':
          cfg.WorkingDir = path.posix.resolve(cfg.WorkingDir || '/', processWord(args, v));
          break;
        case 'ONBUILD': {
          const trig = args.split(/\s+/)[0].toUpperCase();
          if (['ONBUILD', 'FROM', 'MAINTAINER'].includes(trig)) throw new Error(`${trig} isn't allowed as an ONBUILD trigger`);
          cfg.OnBuild = [...(cfg.OnBuild ?? []), args];
          break;
        }
      }
    } catch (e) {
      if ((e as Error).message.startsWith('--change')) throw e;
      throw bad((e as Error).message);
    }
  }
  return cfg;
}
