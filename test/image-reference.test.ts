import test from 'ava';
import { parseReference, normalizeReference } from '../src/image/reference';
import { chainIds, sha256 } from '../src/image/digest';
import { detectCompression } from '../src/image/compression';

test('docker naming rules', (t) => {
  t.is(normalizeReference('ubuntu'), 'ubuntu:latest');
  t.is(normalizeReference('docker.io/library/ubuntu:22.04'), 'ubuntu:22.04');
  t.is(normalizeReference('docker.io/user/repo'), 'user/repo:latest');
  t.is(normalizeReference('localhost:5000/a/b:t'), 'localhost:5000/a/b:t');
  t.is(normalizeReference('quay.io/x/y'), 'quay.io/x/y:latest');
  t.deepEqual(parseReference('a/b:c'), { repo: 'a/b', tag: 'c' });
  for (const bad of ['Upper', 'a b', 'a:', 'a:b:c', '-x', 'x@sha256:00', 'a/:t']) t.throws(() => parseReference(bad), undefined, bad);
});

test('chain ids follow the OCI definition', (t) => {
  const a = 'sha256:' + 'a'.repeat(64);
  const b = 'sha256:' + 'b'.repeat(64);
  t.deepEqual(chainIds([a, b]), [a, sha256(`${a} ${b}`)]);
});

test('compression is detected by magic, not by name', (t) => {
  t.is(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0])), 'gzip');
  t.is(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd');
  t.is(detectCompression(Buffer.from('etc/passwd')), 'none');
  t.throws(() => detectCompression(Buffer.from('BZh91AY')), { message: /bzip2/ });
});
