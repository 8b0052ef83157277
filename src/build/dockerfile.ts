// A Dockerfile as stages of steps, parsed by dockerfile-ast (escape directive, line
// continuations, comments); what each instruction means is the builder's business.
import { DockerfileParser } from 'dockerfile-ast';

export interface Step {
  keyword: string;
  /** the arguments after the flags, continuations joined */
  args: string;
  flags: Array<[string, string | null]>;
  /** the instruction as `Step N/M :` shows it */
  text: string;
  line: number;
  /** 1-based, over the whole file */
  number: number;
}

export interface Stage {
  index: number;
  name: string | null;
  from: Step;
  steps: Step[];
}

export interface ParsedDockerfile {
  escape: string;
  globalArgs: Step[];
  stages: Stage[];
  total: number;
}

export const KNOWN = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'MAINTAINER', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL']);

export class DockerfileError extends Error {}

export function parseDockerfile(text: string): ParsedDockerfile {
  const d = DockerfileParser.parse(text);
  const escape = d.getEscapeCharacter();
  const instrs = d.getInstructions();
  const total = instrs.length;
  const steps: Step[] = instrs.map((i, n) => {
    const flags = ((i as unknown as { getFlags?: () => Array<{ getName(): string; getValue(): string | null }> }).getFlags?.() ?? []).map((f): [string, string | null] => [f.getName(), f.getValue()]);
    return { keyword: i.getKeyword().toUpperCase(), args: i.getArgumentsContent() ?? '', flags, text: i.toString().replace(/\s+/g, ' ').trim(), line: i.getRange().start.line + 1, number: n + 1 };
  });
  if (steps.length === 0) throw new DockerfileError('the Dockerfile is empty (no FROM instruction)');
  for (const s of steps) if (!KNOWN.has(s.keyword)) throw new DockerfileError(`Dockerfile line ${s.line} (step ${s.number}/${total}): unknown instruction: ${s.keyword}`);
  const globalArgs: Step[] = [];
  const stages: Stage[] = [];
  for (const s of steps) {
    if (s.keyword === 'FROM') {
      stages.push({ index: stages.length, name: null, from: s, steps: [] });
      continue;
    }
    if (stages.length === 0) {
      if (s.keyword !== 'ARG') throw new DockerfileError(`Dockerfile line ${s.line} (step ${s.number}/${total}): no FROM before ${s.keyword}: a Dockerfile must begin with FROM (only ARG may come before it)`);
      globalArgs.push(s);
      continue;
    }
    stages[stages.length - 1].steps.push(s);
  }
  if (stages.length === 0) throw new DockerfileError('no FROM instruction: a Dockerfile must have at least one FROM');
  return { escape, globalArgs, stages, total };
}
