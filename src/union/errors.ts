// Filesystem answers are errno codes; they travel as thrown objects carrying .code like
// Node's own errors. Not Error instances: a stack trace per ENOENT would cost more than
// the request.

export class FsError {
  constructor(readonly code: string, readonly message: string = code) {}
  toString(): string {
    return this.message;
  }
}

export function fail(code: string, what?: string): never {
  throw new FsError(code, what ? `${code}: ${what}` : code);
}
