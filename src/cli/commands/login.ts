// strata login / logout: registry credentials, checked against the registry before they
// are stored as docker stores them (auth file or credential helper).
import type { Command } from 'commander';
import { out } from '../context';
import { clientOptions, registryFlags, RegistryFlags } from '../registry';

interface LoginOpts extends RegistryFlags {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function prompt(question: string, hidden: boolean): Promise<string> {
  const readline = await import('node:readline');
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  let muted = false;
  const w = rl as unknown as { _writeToOutput: (s: string) => void };
  const orig = w._writeToOutput.bind(rl);
  w._writeToOutput = (s: string) => {
    if (!muted) orig(s);
  };
  return new Promise((resolve) => {
    rl.question(question, (a) => {
      rl.close();
      if (hidden) process.stderr.write('\n');
      resolve(a);
    });
    muted = hidden;
  });
}

export function register(program: Command): void {
  registryFlags(
    program
      .command('login')
      .description('log in to a registry (default: Docker Hub)')
      .argument('[server]', 'registry host[:port]')
      .option('-u, --username <user>', 'user name')
      .option('-p, --password <password>', 'password (insecure: it shows in the process list; prefer --password-stdin)')
      .option('--password-stdin', 'read the password from stdin')
      .option('--root <dir>', 'store root (its config.json names insecure registries)'),
  ).action(async (server: string | undefined, o: LoginOpts) => {
    const { login } = await import('../../registry/login');
    if (o.password !== undefined && o.passwordStdin) throw new Error('--password and --password-stdin are mutually exclusive');
    let user = o.username;
    let pass = o.password;
    if (o.password !== undefined) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    if (o.passwordStdin) {
      if (!user) throw new Error('Must provide --username with --password-stdin');
      pass = await readStdin();
    }
    if (user === undefined || pass === undefined) {
      if (!process.stdin.isTTY) throw new Error('Cannot perform an interactive login from a non TTY device');
      if (user === undefined) user = (await prompt('Username: ', false)).trim();
      if (pass === undefined) pass = await prompt('Password: ', true);
    }
    if (!user) throw new Error('Error: Non-null Username Required');
    if (!pass) throw new Error('Error: Non-null Password Required');
    const r = await login(server, { username: user, secret: pass }, clientOptions(o));
    if (!r.helper) {
      process.stderr.write(`WARNING! Your password will be stored unencrypted in ${r.file}.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/engine/reference/commandline/login/#credentials-store\n\n`);
    }
    out('Login Succeeded\n');
  });

  program
    .command('logout')
    .description('remove the stored credentials of a registry (default: Docker Hub)')
    .argument('[server]', 'registry host[:port]')
    .option('--authfile <file>', 'credentials file (default: $REGISTRY_AUTH_FILE or ~/.docker/config.json)')
    .action(async (server: string | undefined, o: { authfile?: string }) => {
      const { logout } = await import('../../registry/login');
      const r = logout(server, o);
      out(r.removed ? `Removing login credentials for ${r.key}\n` : `Not logged in to ${r.key}\n`);
    });
}
