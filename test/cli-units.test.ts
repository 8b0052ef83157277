// The CLI's pure parts: docker's durations, the --format templates, the --filter parser.
import test from 'ava';
import { humanDuration, timeAgo } from '../src/units';
import { compile, formatRows } from '../src/cli/template';
import { parseFilters, pathMatch, referenceMatch, boolFilter } from '../src/cli/filter';
import { applyChanges } from '../src/build/changes';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

test('humanDuration: go-units HumanDuration at its boundaries', (t) => {
  const cases: Array<[number, string]> = [
    [0, 'Less than a second'],
    [999, 'Less than a second'],
    [1 * S, '1 second'],
    [1999, '1 second'],
    [2 * S, '2 seconds'],
    [59 * S + 999, '59 seconds'],
    [60 * S, 'About a minute'],
    [119 * S, 'About a minute'],
    [120 * S, '2 minutes'],
    [59 * M + 59 * S, '59 minutes'],
    [60 * M, 'About an hour'],
    [90 * M - 1, 'About an hour'],
    [90 * M, '2 hours'],
    [23 * H, '23 hours'],
    [24 * H, '24 hours'],
    [30 * H, '30 hours'],
    [47 * H + 29 * M, '47 hours'],
    [47 * H + 30 * M, '2 days'],
    [48 * H, '2 days'],
    [13 * D + 23 * H, '13 days'],
    [14 * D, '2 weeks'],
    [59 * D, '8 weeks'],
    [60 * D, '2 months'],
    [364 * D, '12 months'],
    [729 * D, '24 months'],
    [730 * D, '2 years'],
    [3650 * D, '10 years'],
  ];
  for (const [ms, want] of cases) t.is(humanDuration(ms), want, `${ms} ms`);
  const now = Date.parse('2026-01-03T00:00:00Z');
  t.is(timeAgo('2026-01-01T18:00:00Z', now), '30 hours ago');
  t.is(timeAgo('2026-01-01T00:00:00Z', now), '2 days ago');
  t.is(timeAgo('2026-01-03T00:00:00Z', now), 'Less than a second ago');
  t.is(timeAgo('2027-01-03T00:00:00Z', now), 'Less than a second ago', 'a time in the future');
  t.is(timeAgo(null, now), 'N/A');
  t.is(timeAgo('garbage', now), 'N/A');
});

test('template: fields, json, functions, pipes, table headers', (t) => {
  const rows = [
    { Repository: 'me/app', Tag: '2', ID: 'abc', Labels: { a: '1' }, Names: ['x', 'y'], N: 3 },
    { Repository: 'base', Tag: '1', ID: 'def', Labels: {}, Names: [], N: 0 },
  ];
  t.is(compile('{{.Repository}}:{{.Tag}}').render(rows), 'me/app:2\nbase:1\n');
  t.is(compile('{{json .Labels}}').render(rows.slice(0, 1)), '{"a":"1"}\n');
  t.deepEqual(JSON.parse(compile('{{json .}}').render(rows.slice(0, 1))), rows[0]);
  t.deepEqual(JSON.parse(compile('json').render(rows.slice(0, 1))), rows[0], 'docker\'s --format json');
  t.is(compile('{{.ID}}\\t{{.Tag}}').render(rows.slice(0, 1)), 'abc\t2\n', '\\t typed in a shell is a tab');
  t.is(compile('{{join .Names ","}}|{{index .Labels "a"}}|{{upper .Repository}}|{{.Names}}').render(rows.slice(0, 1)), 'x,y|1|ME/APP|[x y]\n');
  t.is(compile('{{.Repository | upper}} {{truncate .Repository 2}} {{ .N -}}  !').render(rows.slice(0, 1)), 'ME/APP me 3!\n');
  t.is(compile('{{/* comment */}}{{.Tag}}').render(rows.slice(0, 1)), '2\n');
  const tbl = formatRows('table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}', rows, { Repository: 'REPOSITORY', ID: 'IMAGE ID' }, '');
  t.is(tbl, 'REPOSITORY   TAG       IMAGE ID\nme/app       2         abc\nbase         1         def\n');
  t.is(formatRows('table', rows, { Repository: 'REPOSITORY' }, '{{.Repository}}\\t{{.Tag}}'), 'REPOSITORY   TAG\nme/app       2\nbase         1\n');
  t.throws(() => compile('{{.Nope}}').render(rows), { message: /no field Nope \(fields: Repository, Tag, ID/ });
  t.throws(() => compile('{{range .Names}}x{{end}}'), { message: /"range" is not supported/ });
  t.throws(() => compile('{{.Tag'), { message: /unclosed action/ });
  t.throws(() => compile('{{frob .Tag}}'), { message: /function "frob" not defined/ });
});

test('filters: keys, alternatives, docker wildcard references', (t) => {
  const f = parseFilters(['reference=me/*', 'reference=base', 'dangling=false'], ['reference', 'dangling']);
  t.deepEqual(f.get('reference'), ['me/*', 'base']);
  t.false(boolFilter(f, 'dangling'));
  t.throws(() => parseFilters(['color=red'], ['reference']), { message: /invalid filter 'color'/ });
  t.throws(() => parseFilters(['reference'], ['reference']), { message: /expected name=value/ });
  t.throws(() => boolFilter(parseFilters(['dangling=maybe'], ['dangling']), 'dangling'), { message: /true or false/ });
  t.true(pathMatch('me/*', 'me/app'));
  t.false(pathMatch('*', 'me/app'), '* does not cross /');
  t.true(pathMatch('*/*', 'me/app'));
  t.true(pathMatch('b?se', 'base'));
  t.true(pathMatch('[a-c]ase', 'base'));
  t.false(pathMatch('[^a-c]ase', 'base'));
  t.true(pathMatch('a\\*b', 'a*b'));
  t.false(pathMatch('a\\*b', 'axb'));
  t.true(referenceMatch('me/app', 'me/app', '2'), 'a name matches every tag');
  t.true(referenceMatch('me/app:2', 'me/app', '2'));
  t.false(referenceMatch('me/app:3', 'me/app', '2'));
  t.true(referenceMatch('*:2', 'base', '2'));
  t.true(referenceMatch('me/*:*', 'me/app', '2'));
  t.false(referenceMatch('app', 'me/app', '2'));
  t.true(referenceMatch('127.0.0.1:5000/*', '127.0.0.1:5000/x', 'latest'));
});

test('commit --change: docker\'s instructions, JSON and shell forms, $VARS from Env', (t) => {
  const base = { Env: ['PATH=/usr/bin', 'HOME=/root'], Cmd: ['/bin/sh'], WorkingDir: '/srv', Labels: { a: '1' } };
  const c = applyChanges(base, [
    'CMD ["nginx", "-g", "daemon off;"]',
    'ENV MODE=prod DIR=$HOME/app',
    'env LEGACY value with spaces',
    'EXPOSE 80 53/UDP',
    'LABEL b="two words" a=3',
    'USER www:www',
    'VOLUME ["/data", "/logs"]',
    'VOLUME /cache',
    'WORKDIR rel',
    'ONBUILD RUN make',
  ]);
  t.deepEqual(c.Cmd, ['nginx', '-g', 'daemon off;']);
  t.deepEqual(c.Env, ['PATH=/usr/bin', 'HOME=/root', 'MODE=prod', 'DIR=/root/app', 'LEGACY=value with spaces']);
  t.deepEqual(c.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
  t.deepEqual(c.Labels, { a: '3', b: 'two words' });
  t.is(c.User, 'www:www');
  t.deepEqual(Object.keys(c.Volumes ?? {}), ['/data', '/logs', '/cache']);
  t.is(c.WorkingDir, '/srv/rel');
  t.deepEqual(c.OnBuild, ['RUN make']);
  t.deepEqual(base.Env, ['PATH=/usr/bin', 'HOME=/root'], 'the base is not changed');
  t.deepEqual(applyChanges(base, ['CMD echo hi']).Cmd, ['/bin/sh', '-c', 'echo hi'], 'shell form');
  const ep = applyChanges(base, ['ENTRYPOINT ["/init"]']);
  t.deepEqual(ep.Entrypoint, ['/init']);
  t.is(ep.Cmd, null, 'a new ENTRYPOINT drops the old CMD');
  t.deepEqual(applyChanges(base, ['CMD ["x"]', 'ENTRYPOINT /init']).Cmd, ['x'], 'unless CMD is given too');
  t.deepEqual(applyChanges(base, ['ENTRYPOINT /init']).Entrypoint, ['/bin/sh', '-c', '/init']);
  t.throws(() => applyChanges(base, ['RUN make']), { message: /--change "RUN make": RUN is not one commit can apply/ });
  t.throws(() => applyChanges(base, ['EXPOSE http']), { message: /invalid port "http\/tcp"/ });
  t.throws(() => applyChanges(base, ['LABEL novalue']), { message: /syntax is KEY=VALUE/ });
  t.throws(() => applyChanges(base, ['USER']), { message: /USER requires an argument/ });
});

test('help: every command describes each argument and shows an example; strata-fs --help lists its exit codes', async (t) => {
  const { buildProgram } = await import('../src/cli/main');
  const program = buildProgram();
  const all: Array<[string, import('commander').Command]> = [];
  const walk = (c: import('commander').Command, prefix: string) => {
    for (const s of c.commands) {
      if (s.name() === 'help') continue;
      all.push([prefix + s.name(), s]);
      walk(s, prefix + s.name() + ' ');
    }
  };
  walk(program, '');
  t.true(all.length > 40, `${all.length} commands`);
  for (const [name, c] of all) {
    let help = '';
    c.configureOutput({ writeOut: (s) => (help += s), writeErr: (s) => (help += s) });
    c.outputHelp();
    for (const a of c.registeredArguments) t.truthy(a.description, `${name}: argument ${a.name()} has a description`);
    t.regex(help, /\nExamples?:\n {2}strata/, `${name} --help shows an example`);
  }
  let mountHelp = '';
  const mount = all.find(([n]) => n === 'mount')![1];
  mount.configureOutput({ writeOut: (s) => (mountHelp += s) });
  mount.outputHelp();
  t.regex(mountHelp.replace(/\s+/g, ' '), /default: ROOT\/containers\/ID\/merged/, 'the default mountpoint');
  const { main } = await import('../src/cli/strata-fs');
  let fsHelp = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => ((fsHelp += s), true)) as typeof process.stdout.write;
  try {
    t.is(await main(['--help']), 0);
  } finally {
    process.stdout.write = write;
  }
  t.regex(fsHelp, /Exit status:\n {2}0 .*\n(.*\n)* {2}1 .*\n(.*\n)* {2}2 +bad usage/);
});
