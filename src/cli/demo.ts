// strata demo: builds a two-layer OCI image with tar-stream from files it makes up,
// then runs the real CLI through the whole life of a container, echoing each command.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { bytePack } from '../image/tarbytes';
import { sha256 } from '../image/digest';
import { MT, ociManifest } from '../image/sources';

interface DemoEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink';
  body?: string;
  mode?: number;
  linkname?: string;
}

const T1 = new Date('2024-01-01T00:00:00Z');
const T2 = new Date('2024-06-01T00:00:00Z');

async function layerTar(entries: DemoEntry[], mtime: Date): Promise<Buffer> {
  const pack = bytePack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const ended = new Promise<void>((res, rej) => {
    pack.on('end', () => res());
    pack.on('error', rej);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const body = Buffer.from(e.body ?? '');
    await new Promise<void>((res, rej) => {
      const h = { name: e.name, type, mode: (e.mode ?? (type === 'directory' ? 0o755 : 0o644)) | 0o100000, mtime, linkname: e.linkname, uid: 0, gid: 0 };
      const cb = (err?: Error | null) => (err ? rej(err) : res());
      if (type === 'file') pack.entry(h, body, cb);
      else pack.entry(h, cb);
    });
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/** Writes an OCI layout with one image, strata-demo:latest, into dir. */
export async function makeDemoImage(dir: string): Promise<void> {
  const base: DemoEntry[] = [
    { name: 'etc/', type: 'directory' },
    { name: 'etc/motd', body: 'Welcome to the strata demo image.\n' },
    { name: 'etc/os-release', body: 'NAME="strata demo"\nID=strata-demo\n' },
    { name: 'usr/', type: 'directory' },
    { name: 'usr/bin/', type: 'directory' },
    { name: 'usr/bin/hello', body: '#!/bin/sh\necho hello from layer 1\n', mode: 0o755 },
    { name: 'usr/share/', type: 'directory' },
    { name: 'usr/share/doc/', type: 'directory' },
    { name: 'usr/share/doc/demo/', type: 'directory' },
    { name: 'usr/share/doc/demo/README', body: 'Docs shipped by layer 1.\n' },
    { name: 'usr/share/doc/demo/CHANGES', body: 'Nothing yet.\n' },
    { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
  ];
  const top: DemoEntry[] = [
    { name: 'etc/', type: 'directory' },
    { name: 'etc/motd', body: 'Welcome to the strata demo image (updated by layer 2).\n' },
    { name: 'usr/share/doc/demo/.wh.CHANGES', body: '' },
    { name: 'var/', type: 'directory' },
    { name: 'var/log/', type: 'directory' },
    { name: 'var/log/app.log', body: 'started\n' },
  ];
  const tars = [await layerTar(base, T1), await layerTar(top, T2)];
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => {
    const d = sha256(b);
    fs.writeFileSync(path.join(blobs, d.slice(7)), b);
    return d;
  };
  const layers = tars.map((t) => {
    const gz = zlib.gzipSync(t);
    return { mediaType: MT.layerGzip, digest: put(gz), size: gz.length, diffId: sha256(t) };
  });
  const config = Buffer.from(
    JSON.stringify({
      created: T2.toISOString(),
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/usr/bin/hello'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: [
        { created: T1.toISOString(), created_by: 'strata demo: base files' },
        { created: T2.toISOString(), created_by: 'strata demo: update motd, drop CHANGES, add a log' },
      ],
    }),
  );
  const configDigest = put(config);
  const manifest = ociManifest({ digest: configDigest, size: config.length }, layers);
  const md = put(manifest);
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MT.ociManifest, digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'strata-demo:latest' } }] }),
  );
}

/**
 * The context the demo builds its example image from: a Dockerfile on top of
 * strata-demo, and a shell (this machine's /bin/sh and cat, with the libraries ldd
 * names) so that the image can run. Returns false where that cannot be had.
 */
export function makeDemoContext(dir: string): boolean {
  const root = path.join(dir, 'rootfs');
  const files = new Set<string>();
  for (const bin of ['/bin/sh', '/bin/cat']) {
    const r = spawnSync('ldd', [bin], { encoding: 'utf8' });
    if (r.status !== 0) return false;
    files.add(bin);
    for (const m of r.stdout.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)) files.add(m[1]);
  }
  for (const f of files) {
    // the image's /bin is a symlink to usr/bin: put binaries where it leads
    const rel = f.replace(/^\/bin\//, 'usr/bin/').replace(/^\//, '');
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.copyFileSync(f, path.join(root, rel));
    fs.chmodSync(path.join(root, rel), 0o755);
  }
  fs.writeFileSync(path.join(dir, 'greeting.txt'), 'greetings from the build context\n');
  fs.writeFileSync(path.join(dir, '.dockerignore'), '*.tmp\n');
  fs.writeFileSync(path.join(dir, 'scratch.tmp'), 'ignored by .dockerignore\n');
  fs.writeFileSync(
    path.join(dir, 'Dockerfile'),
    `# the demo's example image: strata-demo, plus a shell so that it can run things
FROM strata-demo:latest
COPY rootfs/ /
COPY greeting.txt /etc/greeting
ENV GREETING="hello from a strata container"
RUN echo "built by strata build" > /etc/built-by
WORKDIR /var/log
CMD ["/bin/sh", "-c", "cat /etc/motd /etc/built-by; echo $GREETING in $PWD"]
`,
  );
  return true;
}

export async function runDemo(o: { root?: string; driver: string; keep: boolean }): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-demo-'));
  const root = o.root ? path.resolve(o.root) : path.join(work, 'store');
  const bin = path.resolve(__dirname, '..', '..', '..', 'bin', 'strata');
  const say = (s: string) => process.stdout.write(s);
  const strata = (args: string[]): string => {
    const shown = args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
    say(`\n$ strata ${shown.join(' ')}\n`);
    const r = spawnSync(process.execPath, [bin, '--root', root, ...args], { encoding: 'utf8' });
    say(r.stdout);
    if (r.stderr) process.stderr.write(r.stderr);
    if (r.status !== 0) throw new Error(`demo step failed: strata ${args.join(' ')}`);
    return r.stdout.trim();
  };
  const shell = (desc: string, fn: () => void) => {
    say(`\n$ ${desc}\n`);
    fn();
  };
  let mounted = false;
  try {
    say(`# building a two-layer demo image with tar-stream in ${work}/image (store: ${root})\n`);
    await makeDemoImage(path.join(work, 'image'));
    strata(['load', path.join(work, 'image')]);
    strata(['images']);
    strata(['history', 'strata-demo']);
    const ctx = path.join(work, 'context');
    fs.mkdirSync(ctx);
    if (makeDemoContext(ctx)) {
      say(`\n$ cat ${ctx}/Dockerfile\n${fs.readFileSync(path.join(ctx, 'Dockerfile'), 'utf8')}`);
      strata(['build', '-t', 'strata-demo:app', ctx]);
      strata(['run', '--rm', 'strata-demo:app']);
      strata(['run', '--name', 'app', 'strata-demo:app', 'sh', '-c', 'echo "written by a process in the container" > /etc/note; cat /etc/greeting']);
      strata(['ps', '-a']);
      strata(['diff', 'app']);
      strata(['commit', 'app', 'strata-demo:noted']);
      strata(['run', '--rm', 'strata-demo:noted', 'cat', '/etc/note']);
      strata(['rm', 'app']);
      strata(['rmi', 'strata-demo:noted', 'strata-demo:app']);
    } else say('\n# (no ldd here: skipping the build and run part of the demo)\n');
    strata(['create', '--name', 'demo', 'strata-demo']);
    let driver = o.driver;
    let mnt: string;
    if (driver === 'auto') {
      say('\n# mounting with strata-fs (falls back to kernel overlayfs if strata-fs is unavailable)');
      driver = 'strata-fs';
      const r = spawnSync(process.execPath, [bin, '--root', root, 'mount', '--driver', 'strata-fs', 'demo', path.join(work, 'mnt')], { encoding: 'utf8' });
      if (r.status === 0) mnt = r.stdout.trim();
      else {
        say(`\n# strata-fs failed (${(r.stderr || '').trim()}); using --driver overlay`);
        driver = 'overlay';
        mnt = strata(['mount', '--driver', 'overlay', 'demo', path.join(work, 'mnt')]);
      }
      say(`\n$ strata mount --driver ${driver} demo ${path.join(work, 'mnt')}\n${mnt}\n`);
    } else {
      mnt = strata(['mount', '--driver', driver, 'demo', path.join(work, 'mnt')]);
    }
    mounted = true;
    shell(`cat ${mnt}/etc/motd`, () => say(fs.readFileSync(path.join(mnt, 'etc/motd'), 'utf8')));
    shell(`echo "hello from the container" > ${mnt}/etc/greeting`, () => fs.writeFileSync(path.join(mnt, 'etc/greeting'), 'hello from the container\n'));
    shell(`echo "edited in the container" >> ${mnt}/etc/motd`, () => fs.appendFileSync(path.join(mnt, 'etc/motd'), 'edited in the container\n'));
    shell(`rm ${mnt}/usr/share/doc/demo/README`, () => fs.rmSync(path.join(mnt, 'usr/share/doc/demo/README')));
    strata(['ps', '-a']);
    strata(['diff', 'demo']);
    strata(['explain', path.join(mnt, 'etc/motd')]);
    strata(['explain', '--container', 'demo', '/usr/share/doc/demo/README']);
    strata(['explain', '--container', 'demo', '/usr/share/doc/demo/CHANGES']);
    strata(['explain', '--container', 'demo', '/usr/bin/hello']);
    strata(['commit', '-m', 'demo changes', 'demo', 'strata-demo:changed']);
    strata(['history', 'strata-demo:changed']);
    strata(['umount', 'demo']);
    mounted = false;
    strata(['rm', 'demo']);
    strata(['rmi', 'strata-demo:changed', 'strata-demo:latest']);
    strata(['images']);
    say('\n# done\n');
  } finally {
    if (mounted) spawnSync(process.execPath, [bin, '--root', root, 'rm', '-f', 'demo'], { stdio: 'ignore' });
    if (!o.keep) {
      fs.rmSync(work, { recursive: true, force: true });
    } else say(`# kept ${work}\n`);
  }
}
