export interface Creds {
  uid: number;
  gid: number;
  groups?: number[]; // supplementary groups; none if omitted
}

// setpriv drops every capability when it leaves uid 0, so the command really
// runs with an ordinary user's permissions.
export function asUserArgv(c: Creds, argv: string[]): string[] {
  const g = c.groups && c.groups.length ? ['--groups', c.groups.join(',')] : ['--clear-groups'];
  return ['setpriv', '--reuid', String(c.uid), '--regid', String(c.gid), ...g, '--', ...argv];
}
