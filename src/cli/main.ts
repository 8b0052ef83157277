// strata: the command line. One file per command under commands/, each parse -> call ->
// print; errors become one line on stderr and a non-zero exit.
import { Command, CommanderError } from 'commander';
import { CommandEntry, commands } from './commands';
import { DEFAULT_ROOT_HELP, setProgram } from './context';
import { fsSentence } from '../store/root';
import { strataVersion } from './version';
import { expandGroups, finishGroups } from './group';
import { addExamples } from './examples';

/** The command argv runs, if it names one after only the global --root: then only that
 *  command's module is loaded. Anything else (help, an unknown name, no command, a group
 *  such as `image ls`, whose aliases name other commands) loads all, so that commander's
 *  help and "did you mean" see every command. */
function invoked(argv: string[]): CommandEntry | null {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--root') i++;
    else if (a.startsWith('--root=')) continue;
    else if (a.startsWith('-')) return null;
    else return commands.find((c) => c.names.includes(a)) ?? null;
  }
  return null;
}

export function buildProgram(argv?: string[]): Command {
  const program = new Command();
  setProgram(program);
  program
    .name('strata')
    .description('Container image layer store with union mounts (strata-fs or kernel overlayfs)')
    .option('--root <dir>', `store root (default: ${DEFAULT_ROOT_HELP})`)
    .version(`strata version ${strataVersion()}`, '-v, --version', 'print the version and exit')
    .showHelpAfterError(false)
    // commander's errors can span lines ("(Did you mean ...?)"): one line, like ours
    .configureOutput({ outputError: (str, write) => write(`strata: ${str.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()}\n`) })
    .exitOverride()
    // run, create and exec take the options after the image as the command's: with
    // every command registered (help), theirs turned this on for all; so it is, always
    .enablePositionalOptions();
  const one = argv ? invoked(argv) : null;
  for (const c of one ? [one] : commands) c.load().register(program);
  finishGroups(program);
  addExamples(program);
  return program;
}

/** argv is nothing but complete --root options: `strata`, `strata --root DIR`. */
function onlyGlobalOptions(argv: string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--root' && i + 1 < argv.length) i++;
    else if (!argv[i].startsWith('--root=')) return false;
  }
  return true;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram(argv);
  // bare `strata` (global options at most): the help, and success, as docker does
  if (onlyGlobalOptions(argv)) {
    program.outputHelp();
    return 0;
  }
  let finished = false;
  // a promise that can never settle would otherwise end the process silently with 0
  process.once('beforeExit', () => {
    if (!finished) {
      process.stderr.write('strata: internal error: the command stopped before finishing\n');
      process.exitCode = 70;
    }
  });
  try {
    await program.parseAsync(expandGroups(program, argv), { from: 'user' });
    finished = true;
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    finished = true;
    if (e instanceof CommanderError) {
      // commander already printed its message (or help/version, which are not errors)
      return e.exitCode === 0 ? 0 : e.exitCode || 1;
    }
    // a filesystem error nobody turned into a sentence: path and cause, not "EACCES: ..., mkdir '...'"
    const msg = fsSentence(e);
    process.stderr.write(`strata: ${msg.split('\n')[0]}\n`);
    if (process.env.STRATA_DEBUG) process.stderr.write(String((e as Error).stack) + '\n');
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
