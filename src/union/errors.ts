// Filesystem answers are errno codes; they travel as exceptions carrying .code like Node's own.

export class FsError extends Error {
  constructor(readonly code: string, what?: string) {
    super(what ? `${code}: ${what}` : code);
  }
}

export function fail(code: string, what?: string): never {
  throw new FsError(code, what);
}

export function errCode(e: unknown): string | undefined {
  return (e as { code?: string } | null)?.code;
}
