// Every command, in the order `strata --help` lists them. A new command is a file in this
// folder exporting register(program), and one line here.
import type { Command } from 'commander';
import * as load from './load';
import * as images from './images';
import * as tag from './tag';
import * as rmi from './rmi';
import * as inspect from './inspect';
import * as history from './history';
import * as create from './create';
import * as mount from './mount';
import * as ps from './ps';
import * as rm from './rm';
import * as diff from './diff';
import * as commit from './commit';
import * as save from './save';
import * as explain from './explain';
import * as check from './check';
import * as run from './run';
import * as start from './start';
import * as stop from './stop';
import * as kill from './kill';
import * as wait from './wait';
import * as logs from './logs';
import * as exec from './exec';
import * as build from './build';
import * as demo from './demo';
import * as pull from './pull';
import * as push from './push';
import * as login from './login';
import * as search from './search';
import * as version from './version';
import * as prune from './prune';
import * as transfer from './transfer';

export const commands: Array<{ register(program: Command): void }> = [
  pull, push, login, search, load, images, tag, rmi, inspect, history, run, create, start, stop, kill, wait, logs, exec, mount, ps, rm, diff, commit, build, save, explain, check, demo, version, prune, transfer,
];
