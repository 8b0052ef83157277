// strata: the command line. One file per command under commands/, each parse -> call ->
// print; errors become one line on stderr and a non-zero exit.
import { Command, CommanderError } from 'commander';
import { commands } from './commands';
import { DEFAULT_ROOT_HELP, setProgram } from './context';

export function buildProgram(): Command {
  const program = new Command();
  setProgram(program);
  program
    .name('strata')
    .description('Container image layer store with union mounts (strata-fs or kernel overlayfs)')
    .option('--root <dir>', `store root (default: ${DEFAULT_ROOT_HELP})`)
    .showHelpAfterError(false)
    // commander's errors can span lines ("(Did you mean ...?)"): one line, like ours
    .configureOutput({ outputError: (str, write) => write(`strata: ${str.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()}\n`) })
    .exitOverride();
  for (const c of commands) c.register(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  let finished = false;
  // a promise that can never settle would otherwise end the process silently with 0
  process.once('beforeExit', () => {
    if (!finished) {
      process.stderr.write('strata: internal error: the command stopped before finishing\n');
      process.exitCode = 70;
    }
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    finished = true;
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    finished = true;
    if (e instanceof CommanderError) {
      // commander already printed its message (or help/version, which are not errors)
      return e.exitCode === 0 ? 0 : e.exitCode || 1;
    }
    const msg = (e as Error).message ?? String(e);
    process.stderr.write(`strata: ${msg.split('\n')[0]}\n`);
    if (process.env.STRATA_DEBUG) process.stderr.write(String((e as Error).stack) + '\n');
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
