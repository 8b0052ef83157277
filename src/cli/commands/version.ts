// strata version: what docker version shows for its client, as lines or JSON.
import type { Command } from 'commander';
import { json, out } from '../context';
import { strataVersion } from '../version';

export function register(program: Command): void {
  program
    .command('version')
    .description('show the strata version, Node.js version, OS and architecture')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  strata version --json')
    .action((o: { json?: boolean }) => {
      const v = { Version: strataVersion(), NodeVersion: process.version, Os: process.platform, Arch: process.arch };
      if (o.json) return json(v);
      out(` Version:      ${v.Version}\n Node version: ${v.NodeVersion}\n OS/Arch:      ${v.Os}/${v.Arch}\n`);
    });
}
