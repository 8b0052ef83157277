// strata build: every instruction, the cache, .dockerignore, contexts, multi-stage,
// scratch, and each bad-Dockerfile case (nothing tagged, nothing left behind).
import test, { ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { execFileSync, spawnSync } from 'node:child_process';
import { STRATA, makeTar } from './image-helpers';
import { RtStore, destroyStore, leftovers, makeStore } from './helpers/runtime';

let s: RtStore;
test.before(() => {
  s = makeStore('strata-build-');
});
test.after.always(() => {
  if (s) destroyStore(s);
});

let seq = 0;
function ctxDir(files: Record<string, string | Buffer>, dockerfile?: string): string {
  const d = path.join(s.dir, `ctx${++seq}`);
  fs.mkdirSync(d);
  if (dockerfile !== undefined) fs.writeFileSync(path.join(d, 'Dockerfile'), dockerfile);
  for (const [k, v] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(d, k)), { recursive: true });
    fs.writeFileSync(path.join(d, k), v);
  }
  return d;
}

interface Inspect {
  Id: string;
  Config: { Env?: string[]; Cmd?: string[] | null; Entrypoint?: string[] | null; WorkingDir?: string; User?: string; ExposedPorts?: Record<string, object>; Volumes?: Record<string, object>; Labels?: Record<string, string>; StopSignal?: string; Healthcheck?: { Test: string[]; Interval?: number; Retries?: number }; OnBuild?: string[] | null; Shell?: string[] };
  Author?: string;
  RootFS: { Layers: string[] };
}

function config(ref: string): { cfg: Inspect['Config']; author?: string; layers: number; history: Array<{ created_by?: string; empty_layer?: boolean }> } {
  const r = s.run(['inspect', ref]);
  if (r.code !== 0) throw new Error(r.stderr);
  const j = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
  const img = j[0];
  // the config blob itself: what any tool reads
  const blob = JSON.parse(fs.readFileSync(path.join(s.root, 'blobs', 'sha256', String((img.Config as { digest?: string })?.digest ?? img.ConfigDigest ?? img.Id).replace('sha256:', '')), 'utf8')) as { config: Inspect['Config']; author?: string; rootfs: { diff_ids: string[] }; history: Array<{ created_by?: string; empty_layer?: boolean }> };
  return { cfg: blob.config, author: blob.author, layers: blob.rootfs.diff_ids.length, history: blob.history };
}

const runIn = (ref: string, ...cmd: string[]) => s.run(['run', '--rm', ref, ...cmd]);
const oneLine = (t: ExecutionContext, stderr: string) => t.is(stderr.trim().split('\n').length, 1, stderr);

test('every instruction: config, layers, history, and what RUN and COPY did', (t) => {
  const d = ctxDir(
    { 'a.txt': 'A\n', 'dir/sub/b.txt': 'B\n', 'dir/c.txt': 'C\n', 'x1.conf': '1', 'x2.conf': '2', 'tool.sh': '#!/bin/sh\necho tool\n' },
    `# a comment
ARG BASE=base
FROM \${BASE}
ARG WHO=world
MAINTAINER Jane Doe <jane@example.com>
ENV GREETING="hello \${WHO}" PLAIN=x
ENV LEGACY value with spaces
LABEL org.example.a=1 "org.example.b"="two words"
WORKDIR /app
WORKDIR sub
COPY a.txt ./
COPY --chown=daemon:mail --chmod=0640 dir /data/
COPY x*.conf /conf/
COPY ["tool.sh", "/usr/local/bin/tool"]
RUN echo "$GREETING $WHO" > /app/sub/greeting \\
 && id -un > /app/sub/user
USER nobody
RUN id -u > /tmp/uid
SHELL ["/bin/bash", "-c"]
RUN echo $BASH_VERSION | cut -c1 > /tmp/bash
EXPOSE 8080 53/udp
VOLUME ["/vol"]
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --retries=3 CMD ["true"]
ONBUILD RUN echo triggered > /tmp/onbuild
ENTRYPOINT ["/usr/local/bin/tool"]
CMD ["arg"]
`,
  );
  fs.chmodSync(path.join(d, 'tool.sh'), 0o755);
  const r = s.run(['build', '-t', 'all:1', '--build-arg', 'WHO=strata', d]);
  t.is(r.code, 0, r.stderr + r.stdout);
  t.regex(r.stdout, /^Step 1\/25 : ARG BASE=base\nStep 2\/25 : FROM \$\{BASE\}\n ---> [0-9a-f]{12}\n/);
  t.regex(r.stdout, /Step 14\/25 : RUN echo .*\n ---> Running in [0-9a-f]{12}\nRemoving intermediate container [0-9a-f]{12}\n ---> [0-9a-f]{12}\n/);
  t.regex(r.stdout, /Successfully built [0-9a-f]{12}\nSuccessfully tagged all:1\n$/);
  const { cfg, author, layers, history } = config('all:1');
  t.is(author, 'Jane Doe <jane@example.com>');
  t.true(cfg.Env?.includes('GREETING=hello strata'));
  t.true(cfg.Env?.includes('PLAIN=x'));
  t.true(cfg.Env?.includes('LEGACY=value with spaces'));
  t.false(cfg.Env?.some((e) => e.startsWith('WHO=')), 'ARG values are not kept in the image');
  t.is(cfg.Labels?.['org.example.a'], '1');
  t.is(cfg.Labels?.['org.example.b'], 'two words');
  t.is(cfg.WorkingDir, '/app/sub');
  t.is(cfg.User, 'nobody');
  t.deepEqual(cfg.ExposedPorts, { '8080/tcp': {}, '53/udp': {} });
  t.deepEqual(cfg.Volumes, { '/vol': {} });
  t.is(cfg.StopSignal, 'SIGQUIT');
  t.deepEqual(cfg.Healthcheck, { Test: ['CMD', 'true'], Interval: 5e9, Retries: 3 });
  t.deepEqual(cfg.OnBuild, ['RUN echo triggered > /tmp/onbuild']);
  t.deepEqual(cfg.Shell, ['/bin/bash', '-c']);
  t.deepEqual(cfg.Entrypoint, ['/usr/local/bin/tool']);
  t.deepEqual(cfg.Cmd, ['arg']);
  // base (1) + 4 COPY + 3 RUN
  t.is(layers, 8);
  const layered = history.filter((h) => !h.empty_layer);
  t.is(layered.length, 8);
  t.regex(layered[5].created_by ?? '', /^\|1 WHO=strata \/bin\/sh -c echo/);
  t.true(history.filter((h) => h.empty_layer).every((h) => /#\(nop\)/.test(h.created_by ?? '')));

  const check = runIn('all:1', 'sh', '-c', 'cat /app/sub/greeting /app/sub/user /tmp/uid /tmp/bash /app/sub/a.txt; stat -c "%U:%G %a %n" /data/sub/b.txt /data/c.txt /conf/x1.conf; ls /conf; test -d /app/sub && echo workdir');
  t.is(check.code, 0, check.stderr);
  t.is(check.stdout, 'tool\n', 'the entrypoint runs (CMD replaced by the args)');
  const check2 = s.run(['run', '--rm', '--entrypoint', '', '-u', 'root', 'all:1', 'sh', '-c', 'cat /app/sub/greeting /app/sub/user /tmp/uid /tmp/bash /app/sub/a.txt; stat -c "%U:%G %a %n" /data/sub/b.txt /data/c.txt /conf/x1.conf; ls /conf; pwd']);
  t.is(check2.stdout, 'hello strata strata\nroot\n65534\n5\nA\ndaemon:mail 640 /data/sub/b.txt\ndaemon:mail 640 /data/c.txt\nroot:root 644 /conf/x1.conf\nx1.conf\nx2.conf\n/app/sub\n', check2.stderr);
  t.is(s.run(['run', '--rm', '--entrypoint', 'id', 'all:1', '-un']).stdout, 'nobody\n', 'USER is the default user');

  // ONBUILD: the triggers run when the image is a base, and are not inherited
  const child = ctxDir({}, 'FROM all:1\nUSER root\nRUN cat /tmp/onbuild\n');
  const cr = s.run(['build', '-t', 'all:child', child]);
  t.is(cr.code, 0, cr.stderr + cr.stdout);
  t.regex(cr.stdout, /# Executing 1 build trigger\n/);
  t.regex(cr.stdout, /triggered\n/);
  t.falsy(config('all:child').cfg.OnBuild?.length);
});

test.serial('cache: a rebuild uses it; touching a copied file misses from that step on; --no-cache', (t) => {
  const imageCount = () => fs.readdirSync(path.join(s.root, 'images')).length;
  const before = imageCount();
  const d = ctxDir({ 'one.txt': '1\n', 'two.txt': '2\n' }, 'FROM base\nRUN echo first\nCOPY one.txt /one\nRUN echo second\nCOPY two.txt /two\nENV X=1\n');
  const a = s.run(['build', '-t', 'cache:1', d]);
  t.is(a.code, 0, a.stderr);
  t.false(a.stdout.includes('Using cache'));
  const b = s.run(['build', '-t', 'cache:2', d]);
  t.is((b.stdout.match(/---> Using cache/g) ?? []).length, 5);
  t.false(b.stdout.includes('Running in'));
  t.is(config('cache:1').layers, config('cache:2').layers);
  t.is(JSON.parse(s.run(['inspect', 'cache:1']).stdout)[0].Id, JSON.parse(s.run(['inspect', 'cache:2']).stdout)[0].Id);
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(path.join(d, 'one.txt'), later, later);
  const c = s.run(['build', '-t', 'cache:3', d]);
  const steps = c.stdout.split(/^Step /m).slice(1);
  t.deepEqual(steps.map((x) => x.includes('Using cache')), [false, true, false, false, false, false], c.stdout);
  const n = s.run(['build', '--no-cache', '-q', d]);
  t.is(n.code, 0, n.stderr);
  t.regex(n.stdout, /^sha256:[0-9a-f]{64}\n$/, '-q prints only the id');
  // intermediate images are hidden (only the untagged -q result shows), and go with the image they made
  t.is((s.run(['images']).stdout.match(/^<none>/gm) ?? []).length, 1);
  t.is(imageCount(), before + 14);
  t.is(s.run(['rmi', 'cache:1', 'cache:2', 'cache:3']).code, 0);
  t.is(imageCount(), before + 5, 'the --no-cache chain stays, both cached chains are gone');
});

test('.dockerignore: docker\'s rules, exceptions, and COPY . leaves ignored files out', (t) => {
  const d = ctxDir({ '.dockerignore': '*.log\nsecret/\n!keep.log\n**/*.tmp\n', 'a.log': 'x', 'keep.log': 'k', 'secret/key': 'k', 'src/main.c': 'm', 'src/deep/x.tmp': 't', 'src/deep/y': 'y' }, 'FROM base\nCOPY . /ctx/\n');
  const r = s.run(['build', '-t', 'ign:1', d]);
  t.is(r.code, 0, r.stderr);
  t.is(runIn('ign:1', 'sh', '-c', 'cd /ctx && find . -type f | sort').stdout, './.dockerignore\n./Dockerfile\n./keep.log\n./src/deep/y\n./src/main.c\n');
  const bad = s.run(['build', ctxDir({ '.dockerignore': 'secret\n', secret: 's' }, 'FROM base\nCOPY secret /s\n')]);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /step 2\/2 \(COPY secret \/s\): .*excluded by \.dockerignore/);
  t.is(s.run(['rmi', 'ign:1']).code, 0);
});

test('multi-stage with --target, COPY --from a stage and an image, FROM scratch', (t) => {
  const d = ctxDir(
    { 'hello.txt': 'hi\n' },
    `FROM base AS builder
RUN mkdir /out && echo built > /out/artifact && cp /bin/busybox /out/ 2>/dev/null; cp /bin/true /out/true
FROM scratch AS final
COPY --from=builder /out/artifact /artifact
COPY hello.txt /
COPY --from=base /etc/debian_version /etc/
FROM base AS other
RUN echo other > /other
`,
  );
  const f = s.run(['build', '-t', 'ms:final', '--target', 'final', d]);
  t.is(f.code, 0, f.stderr + f.stdout);
  t.false(f.stdout.includes('RUN echo other'), 'stages after the target are not built');
  const fc = config('ms:final');
  t.is(fc.layers, 3, 'scratch: only the three COPY layers');
  // read the scratch image's tree through a container mount
  const id = s.run(['create', 'ms:final', '/x']).stdout.trim();
  const mnt = s.run(['mount', id]).stdout.trim();
  t.is(fs.readFileSync(path.join(mnt, 'artifact'), 'utf8'), 'built\n');
  t.is(fs.readFileSync(path.join(mnt, 'hello.txt'), 'utf8'), 'hi\n');
  t.true(fs.existsSync(path.join(mnt, 'etc/debian_version')));
  t.deepEqual(fs.readdirSync(mnt).sort(), ['artifact', 'etc', 'hello.txt']);
  t.is(s.run(['rm', '-f', id]).code, 0);
  const all = s.run(['build', '-t', 'ms:last', d]);
  t.is(all.code, 0, all.stderr);
  t.is(runIn('ms:last', 'cat', '/other').stdout, 'other\n');
  t.is(s.run(['rmi', 'ms:final', 'ms:last']).code, 0);
});

test('ADD: a local tar is extracted, a URL is fetched (loopback server), an unreachable URL fails in one line', async (t) => {
  const tarball = zlib.gzipSync(await makeTar([{ name: 'pkg/', type: 'directory' }, { name: 'pkg/file', body: 'from tar\n' }, { name: 'pkg/link', type: 'symlink', linkname: 'file' }]));
  const server = http.createServer((req, res) => {
    if (req.url === '/remote.txt') {
      res.writeHead(200, { 'Last-Modified': 'Wed, 21 Oct 2015 07:28:00 GMT' });
      res.end('remote\n');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    const d = ctxDir({ 'pkg.tar.gz': tarball }, `FROM base\nADD pkg.tar.gz /opt/\nADD http://127.0.0.1:${port}/remote.txt /dl/\n`);
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = require('node:child_process').spawn(process.execPath, [STRATA, '--root', s.root, 'build', '-t', 'add:1', d], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (x: Buffer) => (out += x));
      p.stderr.on('data', (x: Buffer) => (out += x));
      p.on('close', (code: number | null) => resolve({ code, out }));
    });
    t.is(r.code, 0, r.out);
    t.is(runIn('add:1', 'sh', '-c', 'cat /opt/pkg/file; readlink /opt/pkg/link; cat /dl/remote.txt; stat -c "%a %Y" /dl/remote.txt').stdout, 'from tar\nfile\nremote\n600 1445412480\n');
  } finally {
    await new Promise((r) => server.close(r));
  }
  // a port nobody listens on: the server above, closed
  const bad = s.run(['build', ctxDir({}, `FROM base\nADD http://127.0.0.1:${port}/nothing /x\n`)]);
  t.not(bad.code, 0);
  t.regex(bad.stderr, new RegExp(`step 2/2 \\(ADD http://127\\.0\\.0\\.1:${port}/nothing /x\\): cannot fetch http://127\\.0\\.0\\.1:${port}/nothing: ECONNREFUSED`));
  oneLine(t, bad.stderr);
  t.is(s.run(['rmi', 'add:1']).code, 0);
});

test('contexts: a tar on stdin, a git repository, -f outside the context', (t) => {
  const d = ctxDir({ 'f.txt': 'from tar\n' }, 'FROM base\nCOPY f.txt /f.txt\n');
  const tarred = execFileSync('tar', ['-C', d, '-c', '.']);
  const r = spawnSync(process.execPath, [STRATA, '--root', s.root, 'build', '-t', 'ctx:tar', '-'], { input: tarred, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.is(runIn('ctx:tar', 'cat', '/f.txt').stdout, 'from tar\n');

  const repo = path.join(s.dir, 'repo');
  fs.mkdirSync(repo);
  fs.writeFileSync(path.join(repo, 'Dockerfile'), 'FROM base\nCOPY g.txt /g.txt\n');
  fs.writeFileSync(path.join(repo, 'g.txt'), 'from git\n');
  const git = (...a: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.email=t@e', '-c', 'user.name=t', ...a]);
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-qm', 'init');
  const g = s.run(['build', '-t', 'ctx:git', `file://${repo}`]);
  t.is(g.code, 0, g.stderr);
  t.is(runIn('ctx:git', 'cat', '/g.txt').stdout, 'from git\n');

  const outside = path.join(s.dir, 'Outside.Dockerfile');
  fs.writeFileSync(outside, 'FROM base\nCOPY f.txt /elsewhere\n');
  const f = s.run(['build', '-t', 'ctx:f', '-f', outside, d]);
  t.is(f.code, 0, f.stderr);
  t.is(runIn('ctx:f', 'cat', '/elsewhere').stdout, 'from tar\n');
  t.is(s.run(['rmi', 'ctx:tar', 'ctx:git', 'ctx:f']).code, 0);
});

test('nothing outside the context is read: COPY ../x and symlinks leading out are refused', (t) => {
  fs.writeFileSync(path.join(s.dir, 'secret'), 'host secret\n');
  for (const [df, files] of [
    ['FROM base\nCOPY ../secret /s\n', {}],
    ['FROM base\nCOPY link /s\n', {}],
    ['FROM base\nCOPY sub/link2 /s\n', {}],
  ] as Array<[string, Record<string, string>]>) {
    const d = ctxDir(files, df);
    fs.symlinkSync(path.join(s.dir, 'secret'), path.join(d, 'link'));
    fs.mkdirSync(path.join(d, 'sub'));
    fs.symlinkSync('../../secret', path.join(d, 'sub', 'link2'));
    const r = s.run(['build', '-t', 'escape:1', d]);
    t.not(r.code, 0, df);
    t.regex(r.stderr, /outside the build context/, df);
    oneLine(t, r.stderr);
  }
  t.not(s.run(['inspect', 'escape:1']).code, 0, 'nothing tagged');
});

test.serial('failed steps name the step, tag nothing and leave no container, mount or layer behind', (t) => {
  const before = fs.readdirSync(path.join(s.root, 'layers')).length;
  const cases: Array<[string, RegExp]> = [
    ['FROM base\nRUN echo ok\nRUN exit 3\nCMD ["x"]\n', /step 3\/4 \(RUN exit 3\): the command '\/bin\/sh -c exit 3' returned a non-zero code: 3/],
    ['FROM base\nCOPY missing.txt /x\n', /step 2\/2 \(COPY missing.txt \/x\): .*file not found in build context/],
    ['FROM base\nFROBNICATE now\n', /line 2 \(step 2\/2\): unknown instruction: FROBNICATE/],
    ['RUN echo no from\n', /no FROM before RUN/],
    ['ARG X=1\n', /no FROM instruction/],
    ['FROM no-such-image:9\n', /step 1\/1 \(FROM no-such-image:9\): no such image/],
    ['FROM base\nRUN no-such-command-here\n', /step 2\/2 \(RUN no-such-command-here\): the command '\/bin\/sh -c no-such-command-here' returned a non-zero code: 127/],
    ['FROM base\nRUN ["no-such-binary"]\n', /step 2\/2 .*could not be started: .*no-such-binary/],
    ['FROM base\nCOPY a b c\n', /step 2\/2 .*destination must be a directory and end with a \//],
  ];
  for (const [df, re] of cases) {
    const d = ctxDir({ a: 'a', b: 'b' }, df);
    const r = s.run(['build', '-t', 'fail:1', d]);
    t.not(r.code, 0, df);
    t.regex(r.stderr, re, df);
    // a failing RUN's own output comes first; strata's reason is one line, the last
    const ours = r.stderr.trim().split('\n').filter((l) => l.startsWith('strata:'));
    t.is(ours.length, 1, r.stderr);
    t.true(r.stderr.trim().endsWith(ours[0]));
  }
  t.not(s.run(['inspect', 'fail:1']).code, 0, 'nothing tagged');
  t.deepEqual(JSON.parse(s.run(['ps', '-a', '--json']).stdout), []);
  t.deepEqual(leftovers(s), { runc: [], mounts: [] });
  t.deepEqual(fs.readdirSync(path.join(s.root, 'tmp')), []);
  // the one layer that a successful step made (RUN echo ok) is its image's; nothing half-made
  t.true(fs.readdirSync(path.join(s.root, 'layers')).length <= before + 1);
  const chk = s.run(['check']);
  t.is(chk.code, 0, chk.stdout + chk.stderr);
});

test('variable substitution: ${VAR:-x}, ${VAR:+x}, escapes, quotes and the escape directive', (t) => {
  const df = [
    '# escape=`',
    'FROM base',
    'ARG UNSET',
    'ENV SET=yes EMPTY=',
    'ENV A=${UNSET:-dflt} B=${SET:+alt} C=${EMPTY:-e} D=${SET:-no} E=${UNSET:+no}',
    "ENV F='$SET' G=\"${SET}s\" H=`$SET",
    'RUN echo one `',
    '    two',
    '',
  ].join('\n');
  const d = ctxDir({}, df);
  const r = s.run(['build', '-t', 'subst:1', d]);
  t.is(r.code, 0, r.stderr + r.stdout);
  const env = config('subst:1').cfg.Env ?? [];
  for (const want of ['A=dflt', 'B=alt', 'C=e', 'D=yes', 'E=', 'F=$SET', 'G=yess', 'H=$SET']) t.true(env.includes(want), `${want} in ${env.join(' ')}`);
  t.regex(r.stdout, /one two\n/);
  t.is(s.run(['rmi', 'subst:1']).code, 0);
});

test('a source that is a symlink inside the context is followed and keeps its own name; symlinks in a copied directory stay symlinks', (t) => {
  const d = ctxDir({ real: 'content\n', 'dir/target': 't\n' }, 'FROM base\nCOPY alias /d/\nCOPY dir /dir/\n');
  fs.symlinkSync('real', path.join(d, 'alias'));
  fs.symlinkSync('target', path.join(d, 'dir', 'link'));
  const r = s.run(['build', '-t', 'links:1', d]);
  t.is(r.code, 0, r.stderr);
  t.is(runIn('links:1', 'sh', '-c', 'ls /d; cat /d/alias; readlink /dir/link').stdout, 'alias\ncontent\ntarget\n');
  t.is(s.run(['rmi', 'links:1']).code, 0);
});
