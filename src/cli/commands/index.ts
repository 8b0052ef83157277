// Every command, in the order `strata --help` lists them. A new command is a file in this
// folder exporting register(program), and one line here with the names it registers.
// A command's module is loaded only when it is the one run (or for help): each start of
// `strata` is on the path of every container start, and the rest are dozens of modules.
import type { Command } from 'commander';

interface Registers {
  register(program: Command): void;
}

export interface CommandEntry {
  /** the names (and aliases) its register() gives commander */
  names: string[];
  load(): Registers;
}

/* eslint-disable @typescript-eslint/no-require-imports */
export const commands: CommandEntry[] = [
  { names: ['pull'], load: () => require('./pull') as Registers },
  { names: ['push'], load: () => require('./push') as Registers },
  { names: ['login', 'logout'], load: () => require('./login') as Registers },
  { names: ['search'], load: () => require('./search') as Registers },
  { names: ['load'], load: () => require('./load') as Registers },
  { names: ['images'], load: () => require('./images') as Registers },
  { names: ['tag'], load: () => require('./tag') as Registers },
  { names: ['rmi'], load: () => require('./rmi') as Registers },
  { names: ['inspect'], load: () => require('./inspect') as Registers },
  { names: ['history'], load: () => require('./history') as Registers },
  { names: ['run'], load: () => require('./run') as Registers },
  { names: ['create'], load: () => require('./create') as Registers },
  { names: ['start'], load: () => require('./start') as Registers },
  { names: ['stop'], load: () => require('./stop') as Registers },
  { names: ['kill'], load: () => require('./kill') as Registers },
  { names: ['wait'], load: () => require('./wait') as Registers },
  { names: ['logs'], load: () => require('./logs') as Registers },
  { names: ['exec'], load: () => require('./exec') as Registers },
  { names: ['mount', 'umount', 'unmount'], load: () => require('./mount') as Registers },
  { names: ['ps'], load: () => require('./ps') as Registers },
  { names: ['rm'], load: () => require('./rm') as Registers },
  { names: ['diff'], load: () => require('./diff') as Registers },
  { names: ['commit'], load: () => require('./commit') as Registers },
  { names: ['build'], load: () => require('./build') as Registers },
  { names: ['save'], load: () => require('./save') as Registers },
  { names: ['explain'], load: () => require('./explain') as Registers },
  { names: ['check'], load: () => require('./check') as Registers },
  { names: ['demo'], load: () => require('./demo') as Registers },
  { names: ['version'], load: () => require('./version') as Registers },
  // image prune, container prune, system df/prune: only under their groups, which load all
  { names: [], load: () => require('./prune') as Registers },
  { names: ['cp', 'export', 'import', 'rename'], load: () => require('./transfer') as Registers },
];
