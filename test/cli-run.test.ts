// strata run / exec / start / stop / kill / logs / wait / ps: real containers through
// runc on strata-fs mounts of the Debian fixture image.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { STRATA } from './image-helpers';
import { RtStore, destroyStore, leftovers, makeStore, underPty } from './helpers/runtime';

let s: RtStore;
test.before(() => {
  s = makeStore();
});
test.after.always(() => {
  if (s) destroyStore(s);
});

const oneLine = (t: { is(a: unknown, b: unknown, m?: string): void }, stderr: string) => t.is(stderr.trim().split('\n').length, 1, stderr);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface PsRow {
  id: string;
  name: string;
  status: string;
  state: string;
  exitCode: number | null;
  mountpoint: string | null;
}
const ps = (all = true): PsRow[] => JSON.parse(s.run(['ps', ...(all ? ['-a'] : []), '--json']).stdout) as PsRow[];
const row = (name: string) => ps().find((r) => r.name === name);
/** Waits (on a loaded machine, for long) until the container's log has printed `text`. */
async function logged(name: string, text: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (s.run(['logs', name]).stdout.includes(text)) return;
    await sleep(100);
  }
  throw new Error(`${name} never printed ${text}`);
}

test.serial('exit code, stdout and stderr are the process\'s; --rm leaves nothing', (t) => {
  const r = s.run(['run', '--rm', 'base', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  t.is(r.code, 3);
  t.is(r.stdout, 'out\n');
  t.is(r.stderr, 'err\n');
  t.is(s.run(['run', '--rm', 'base', 'true']).code, 0);
  t.deepEqual(ps(), []);
  t.deepEqual(leftovers(s), { runc: [], mounts: [] });
});

test('stdin: -i forwards it, without -i the process reads /dev/null', (t) => {
  const r = s.run(['run', '--rm', '-i', 'base', 'sh', '-c', 'cat; echo done'], { input: 'hello\nworld\n' });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'hello\nworld\ndone\n');
  const n = s.run(['run', '--rm', 'base', 'sh', '-c', 'cat; echo done; readlink /proc/self/fd/0'], { input: 'ignored\n' });
  t.is(n.stdout, 'done\n/dev/null\n');
  const p = s.run(['run', '--rm', '-i', 'base', 'sh', '-c', 'test -p /dev/stdin && test -p /dev/stdout && echo pipes > /dev/stderr']);
  t.is(p.stderr, 'pipes\n', 'stdio are pipes, so /dev/stdout can be opened');
});

test('-t: a pseudo-terminal, its window size forwarded, input and exit code through it', async (t) => {
  const r = await underPty(
    s,
    ['run', '--rm', '-it', 'base', 'sh'],
    `size(40, 100)
until('# ')
send('stty size; tty\\n')
until('/dev/pts/')
size(30, 90)
time.sleep(0.3)
send('stty size\\n')
until('30 90')
send('exit 9\\n')
rd(3)`,
  );
  t.is(r.code, 9, r.out);
  // our terminal is raw, output processing included: the pty's \r\n arrives as it is
  t.regex(r.out, /40 100\r\n\/dev\/pts\/0/);
  t.notRegex(r.out, /\r\r\n/);
  // raw before the process starts: output written at once is not processed twice either
  const quick = await underPty(s, ['run', '--rm', '-it', 'base', 'sh', '-c', 'echo hi; echo there'], `until('there', 60)`);
  t.is(quick.code, 0, quick.out);
  t.regex(quick.out, /hi\r\nthere\r\n/);
  t.notRegex(quick.out, /\r\r\n/);
  t.regex(r.out, /30 90/);
  // -t without a terminal of our own: the process still gets one
  const n = s.run(['run', '--rm', '-t', 'base', 'sh', '-c', 'tty; exit 4']);
  t.is(n.code, 4);
  t.regex(n.stdout, /^\/dev\/pts\/0\r\n$/);
});

test('-t: a signal to strata reaches the process', async (t) => {
  const r = await underPty(
    s,
    ['run', '--rm', '-t', 'base', 'sh', '-c', 'trap "echo got-hup; exit 5" HUP; echo ready; while true; do sleep 0.1; done'],
    `until('ready')
os.kill(pid, 1)
rd(3)`,
  );
  t.regex(r.out, /got-hup/);
  t.is(r.code, 5);
});

test('env, user, workdir, entrypoint, hostname by docker\'s rules', (t) => {
  const envFile = path.join(s.dir, 'env.list');
  fs.writeFileSync(envFile, '# comment\nFROM_FILE=yes\n\nBOTH=file\n');
  const r = s.run(['run', '--rm', '-e', 'A=1', '--env-file', envFile, '-e', 'BOTH=flag', '-e', 'HOSTVAR', 'base', 'env'], { env: { HOSTVAR: 'passed' } });
  t.is(r.code, 0, r.stderr);
  const env = r.stdout.split('\n');
  for (const want of ['A=1', 'FROM_FILE=yes', 'BOTH=flag', 'HOSTVAR=passed', 'HOME=/root', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']) t.true(env.includes(want), `${want} in ${r.stdout}`);
  t.true(env.some((e) => /^HOSTNAME=.+/.test(e)));

  const u = s.run(['run', '--rm', '-u', 'nobody', 'base', 'sh', '-c', 'id -u; id -g; echo $HOME']);
  t.is(u.stdout, '65534\n65534\n/nonexistent\n', u.stderr);
  t.is(s.run(['run', '--rm', '-u', '1234:5678', 'base', 'sh', '-c', 'id -u; id -g; echo $HOME']).stdout, '1234\n5678\n/\n');
  t.is(s.run(['run', '--rm', '-u', 'daemon:mail', 'base', 'id']).stdout, 'uid=1(daemon) gid=8(mail) groups=8(mail)\n');
  const bad = s.run(['run', '--rm', '-u', 'nosuchuser', 'base', 'true']);
  t.is(bad.code, 125);
  t.regex(bad.stderr, /unable to find user nosuchuser/);
  oneLine(t, bad.stderr);

  t.is(s.run(['run', '--rm', '-w', '/usr/share', 'base', 'pwd']).stdout, '/usr/share\n');
  t.is(s.run(['run', '--rm', '--entrypoint', '/bin/echo', 'base', 'a', 'b']).stdout, 'a b\n');
  t.is(s.run(['run', '--rm', '-h', 'myhost', 'base', 'sh', '-c', 'hostname; cat /etc/hostname']).stdout, 'myhost\nmyhost\n');
  t.is(s.run(['run', '--rm', '--network', 'none', '-h', 'iso', 'base', 'sh', '-c', 'cat /etc/hostname']).stdout, 'iso\n');
});

test('capabilities, masked and read-only paths, namespaces are docker\'s', (t) => {
  const r = s.run(['run', '--rm', 'base', 'sh', '-c', 'grep CapEff /proc/self/status; wc -c < /proc/timer_list; echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo writable || echo ro; echo $$; ls /sys/firmware | wc -l']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'CapEff:\t00000000a80425fb\n0\nro\n1\n0\n');
  const net = s.run(['run', '--rm', '--network', 'none', 'base', 'sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "']);
  t.is(net.stdout, 'lo\n');
  const host = s.run(['run', '--rm', 'base', 'sh', '-c', 'tail -n +3 /proc/net/dev | wc -l']);
  t.true(Number(host.stdout) >= 1);
  const ro = s.run(['run', '--rm', '--read-only', 'base', 'sh', '-c', 'touch /x 2>/dev/null && echo rw || echo ro; echo ok > /dev/shm/f && cat /dev/shm/f']);
  t.is(ro.stdout, 'ro\nok\n');
});

test('volumes: -v HOST:CTR and :ro', (t) => {
  const h = path.join(s.dir, 'vol');
  fs.mkdirSync(h);
  fs.writeFileSync(path.join(h, 'in'), 'from host\n');
  const r = s.run(['run', '--rm', '-v', `${h}:/data`, '-v', `${h}:/rodata:ro`, 'base', 'sh', '-c', 'cat /data/in; echo back > /data/out; touch /rodata/x 2>/dev/null || echo refused']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'from host\nrefused\n');
  t.is(fs.readFileSync(path.join(h, 'out'), 'utf8'), 'back\n');
  const bad = s.run(['run', '--rm', '-v', 'named:/x', 'base', 'true']);
  t.not(bad.code, 0);
  oneLine(t, bad.stderr);
});

test('a command that cannot start: docker\'s exit codes, one line, the container kept (removed with --rm)', (t) => {
  const r = s.run(['run', '--name', 'nocmd', 'base', 'no-such-binary']);
  t.is(r.code, 127);
  t.regex(r.stderr, /no-such-binary.*not found/);
  oneLine(t, r.stderr);
  t.is(row('nocmd')?.state, 'created');
  t.deepEqual(leftovers(s).mounts.filter((m) => m.includes(row('nocmd')?.id ?? '-')), []);
  const x = s.run(['run', '--rm', 'base', '/etc/passwd']);
  t.is(x.code, 126);
  oneLine(t, x.stderr);
  const crun = s.run(['run', '--rm', '--runtime', 'crun', 'base', 'true']);
  t.not(crun.code, 0);
  oneLine(t, crun.stderr);
  t.is(s.run(['rm', 'nocmd']).code, 0);
});

test('the documents\' workflow: run, change, exit, diff, commit, run the new image', (t) => {
  const r = s.run(['run', '--name', 'wf', 'base', 'sh', '-c', 'echo hi > /root/hello; rm /etc/issue; echo 127.0.0.2 x >> /etc/hosts']);
  t.is(r.code, 0, r.stderr);
  const st = row('wf');
  t.is(st?.state, 'exited');
  t.regex(st?.status ?? '', /^Exited \(0\) (Less than a second|\d+ seconds?|About a minute) ago$/);
  t.is(st?.mountpoint, null, 'unmounted once the process ended');
  // /etc/hosts is the container's own file, bound from its state dir: not in the upper
  t.is(s.run(['diff', 'wf']).stdout, 'C /etc\nD /etc/issue\nC /root\nA /root/hello\n');
  const c = s.run(['commit', 'wf', 'wf:1']);
  t.is(c.code, 0, c.stderr);
  t.is(s.run(['run', '--rm', 'wf:1', 'sh', '-c', 'cat /root/hello; test -e /etc/issue || echo gone']).stdout, 'hi\ngone\n');
  t.is(s.run(['rm', 'wf']).code, 0);
  t.is(s.run(['rmi', 'wf:1']).code, 0);
});

test('detached: logs, exec, ps status, stop with the stop signal, wait, logs -f', async (t) => {
  const id = s.run(['run', '-d', '--name', 'bg', 'base', 'sh', '-c', 'trap "echo got-term; exit 7" TERM; echo warn >&2; echo started; while true; do sleep 0.1; done']);
  t.is(id.code, 0, id.stderr);
  t.regex(id.stdout, /^[0-9a-f]{64}\n$/);
  await logged('bg', 'started');
  const running = ps(false).find((r) => r.name === 'bg');
  t.regex(running?.status ?? '', /^Up (Less than a second|\d+ seconds?|About a minute|\d+ minutes)$/);
  t.truthy(running?.mountpoint);
  t.regex(s.run(['ps']).stdout, /CONTAINER ID\s+NAME\s+IMAGE\s+CREATED\s+STATUS\s+MOUNTED AT\n[0-9a-f]{12}\s+bg\s+base\s+.*\s+Up /);
  const logs = s.run(['logs', 'bg']);
  t.is(logs.stdout, 'started\n');
  t.is(logs.stderr, 'warn\n');
  const ex = s.run(['exec', '-e', 'X=1', '-w', '/tmp', '-u', 'nobody', 'bg', 'sh', '-c', 'echo $X; pwd; id -u; exit 4']);
  t.is(ex.code, 4);
  t.is(ex.stdout, '1\n/tmp\n65534\n');
  t.is(s.run(['exec', '-i', 'bg', 'cat'], { input: 'piped\n' }).stdout, 'piped\n');
  const rm = s.run(['rm', 'bg']);
  t.not(rm.code, 0);
  t.regex(rm.stderr, /running/);
  oneLine(t, rm.stderr);
  // logs -f follows until the container ends
  const follow = spawn(process.execPath, [STRATA, '--root', s.root, 'logs', '-f', 'bg'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let followed = '';
  follow.stdout.on('data', (d: Buffer) => (followed += d.toString()));
  const followEnd = new Promise<number | null>((r) => follow.on('close', (c) => r(c)));
  for (let i = 0; i < 300 && !followed.includes('started'); i++) await sleep(100);
  const stop = s.run(['stop', '-t', '30', 'bg']);
  t.is(stop.code, 0, stop.stderr);
  t.is(stop.stdout, 'bg\n');
  t.is(await followEnd, 0);
  t.is(followed, 'started\ngot-term\n');
  t.is(s.run(['wait', 'bg']).stdout, '7\n');
  const done = row('bg');
  t.is(done?.exitCode, 7);
  t.regex(done?.status ?? '', /^Exited \(7\) /);
  t.is(done?.mountpoint, null);
  t.false(ps(false).some((r) => r.name === 'bg'), 'ps without -a lists running containers only');
  t.is(s.run(['rm', 'bg']).code, 0);
  t.deepEqual(leftovers(s).runc.filter((x) => x === done?.id), []);
});

test('stop of a process that ignores SIGTERM kills it after -t; kill -s; rm -f of a running container', async (t) => {
  t.is(s.run(['run', '-d', '--name', 'stubborn', 'base', 'sleep', '1000']).code, 0);
  const t0 = Date.now();
  t.is(s.run(['stop', '-t', '1', 'stubborn']).code, 0);
  t.true(Date.now() - t0 >= 1000, 'waited for the grace period');
  t.is(s.run(['wait', 'stubborn']).stdout, '137\n');

  t.is(s.run(['run', '-d', '--name', 'sig', 'base', 'sh', '-c', 'trap "exit 42" USR1; echo ready; while true; do sleep 0.1; done']).code, 0);
  await logged('sig', 'ready');
  t.is(s.run(['kill', '-s', 'USR1', 'sig']).code, 0);
  t.is(s.run(['wait', 'sig']).stdout, '42\n');
  const notRunning = s.run(['kill', 'sig']);
  t.not(notRunning.code, 0);
  t.regex(notRunning.stderr, /not running/);

  const id = s.run(['run', '-d', '--name', 'doomed', 'base', 'sleep', '1000']).stdout.trim();
  const f = s.run(['rm', '-f', 'doomed']);
  t.is(f.code, 0, f.stderr);
  t.false(ps().some((r) => r.name === 'doomed'));
  t.false(leftovers(s).runc.includes(id));
  t.deepEqual(leftovers(s).mounts.filter((m) => m.includes(id)), []);
  t.is(s.run(['rm', 'stubborn', 'sig']).code, 0);
});

test('create + start: Created, start -a attaches, start runs it in the background again', async (t) => {
  const c = s.run(['create', '--name', 'later', '-e', 'N=5', 'base', 'sh', '-c', 'echo run $N; exit 2']);
  t.is(c.code, 0, c.stderr);
  t.is(row('later')?.status, 'Created');
  const a = s.run(['start', '-a', 'later']);
  t.is(a.code, 2);
  t.is(a.stdout, 'run 5\n');
  t.is(s.run(['start', 'later']).stdout, 'later\n');
  t.is(s.run(['wait', 'later']).stdout, '2\n');
  t.is(s.run(['logs', 'later']).stdout, 'run 5\nrun 5\n');
  t.is(s.run(['rm', 'later']).code, 0);
});

test('commit of a running container pauses it and keeps it running', async (t) => {
  t.is(s.run(['run', '-d', '--name', 'live', 'base', 'sh', '-c', 'echo state > /state; echo ready; while true; do sleep 0.1; done']).code, 0);
  await logged('live', 'ready');
  const c = s.run(['commit', 'live', 'live:1']);
  t.is(c.code, 0, c.stderr);
  t.is(row('live')?.state, 'running');
  t.is(s.run(['exec', 'live', 'true']).code, 0, 'resumed after the commit');
  t.is(s.run(['run', '--rm', 'live:1', 'cat', '/state']).stdout, 'state\n');
  t.is(s.run(['rm', '-f', 'live']).code, 0);
  t.is(s.run(['rmi', 'live:1']).code, 0);
});

test('an image VOLUME is an anonymous volume: seeded from the image, kept out of the upper', (t) => {
  const ctx = path.join(s.dir, 'volctx');
  fs.mkdirSync(ctx);
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM base\nRUN mkdir /data && echo seeded > /data/seed\nVOLUME /data\n');
  t.is(s.run(['build', '-q', '-t', 'vol:1', ctx]).code, 0);
  const r = s.run(['run', '--name', 'volc', 'vol:1', 'sh', '-c', 'cat /data/seed; echo new > /data/new; echo up > /up; grep -c " /data " /proc/mounts']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'seeded\n1\n');
  t.is(s.run(['diff', 'volc']).stdout, 'A /up\n', 'what went to the volume is not in the upper');
  t.is(s.run(['start', '-a', 'volc']).code, 0);
  t.is(s.run(['run', '--rm', 'vol:1', 'sh', '-c', 'ls /data']).stdout, 'seed\n', 'a new container gets a fresh volume');
  t.is(s.run(['rm', 'volc']).code, 0);
  t.is(s.run(['rmi', 'vol:1']).code, 0);
});
