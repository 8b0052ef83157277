// docker's management groups: `strata image ls`, `strata container rm`, ... Each alias
// is the top-level command it names (the same parser, options and help); a group's own
// subcommands (image prune, system df) are ordinary commander subcommands of the group.
import type { Command } from 'commander';

interface Group {
  description: string;
  /** subcommand -> the argv it stands for */
  aliases: Record<string, string[]>;
}

export const GROUPS: Record<string, Group> = {
  image: {
    description: 'manage images (docker image ...)',
    aliases: { ls: ['images'], list: ['images'], rm: ['rmi'], remove: ['rmi'], inspect: ['inspect', '--type', 'image'], history: ['history'], tag: ['tag'], save: ['save'], load: ['load'], pull: ['pull'], push: ['push'], build: ['build'], import: ['import'] },
  },
  container: {
    description: 'manage containers (docker container ...)',
    aliases: {
      ls: ['ps'], list: ['ps'], ps: ['ps'], rm: ['rm'], remove: ['rm'], inspect: ['inspect', '--type', 'container'], create: ['create'], run: ['run'], start: ['start'], stop: ['stop'], kill: ['kill'], wait: ['wait'], logs: ['logs'], exec: ['exec'],
      mount: ['mount'], umount: ['umount'], unmount: ['umount'], diff: ['diff'], commit: ['commit'], cp: ['cp'], export: ['export'], rename: ['rename'],
    },
  },
  system: { description: 'store-wide accounting and cleanup (docker system ...)', aliases: {} },
};

/** The group's command, created on first use (commands add their own subcommands to it). */
export function groupCommand(program: Command, name: keyof typeof GROUPS): Command {
  const found = program.commands.find((c) => c.name() === name);
  if (found) return found;
  return program.command(name).description(GROUPS[name].description);
}

/** After every command is registered: the groups exist, and their help lists their aliases. */
export function finishGroups(program: Command): void {
  const top = new Set(program.commands.map((c) => c.name()));
  for (const name of Object.keys(GROUPS)) {
    const g = groupCommand(program, name);
    const lines = Object.entries(GROUPS[name].aliases)
      .filter(([, argv]) => top.has(argv[0]))
      .map(([sub, argv]) => `  ${sub.padEnd(10)} strata ${argv.join(' ')}`);
    if (lines.length) g.addHelpText('after', `\nAliases (same options and help as the command they name):\n${lines.join('\n')}\n\nExample:\n  strata ${name} ${Object.keys(GROUPS[name].aliases)[0]} --help`);
  }
}

/** argv with a group alias replaced by the command it stands for ("image ls -q" -> "images -q"). */
export function expandGroups(program: Command, argv: string[]): string[] {
  let i = 0;
  while (i < argv.length && (argv[i] === '--root' || argv[i].startsWith('--root='))) i += argv[i] === '--root' ? 2 : 1;
  const g = GROUPS[argv[i]];
  if (!g) return argv;
  const sub = argv[i + 1];
  const top = new Set(program.commands.map((c) => c.name()));
  const own = new Set(groupCommand(program, argv[i]).commands.flatMap((c) => [c.name(), ...c.aliases()]));
  if (sub === undefined) return [...argv.slice(0, i + 1), '--help'];
  const alias = g.aliases[sub];
  if (alias && top.has(alias[0])) return [...argv.slice(0, i), ...alias, ...argv.slice(i + 2)];
  if (own.has(sub) || sub.startsWith('-')) return argv;
  throw new Error(`unknown command '${argv[i]} ${sub}' (see strata ${argv[i]} --help)`);
}
