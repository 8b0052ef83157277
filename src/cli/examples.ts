// One example or more per command, shown at the end of its --help, for the commands whose
// file does not carry its own (those add theirs with addHelpText beside their options).
import type { Command } from 'commander';

const EXAMPLES: Record<string, string[]> = {
  pull: ['strata pull alpine:3.19', 'strata pull 127.0.0.1:5000/team/app@sha256:...'],
  push: ['strata tag me/app:2 127.0.0.1:5000/me/app:2', 'strata push 127.0.0.1:5000/me/app:2'],
  login: ['strata login -u me 127.0.0.1:5000', 'echo "$TOKEN" | strata login -u me --password-stdin registry.example.com'],
  logout: ['strata logout 127.0.0.1:5000'],
  search: ['strata search nginx', 'strata search 127.0.0.1:5000/team'],
  run: ['strata run --rm alpine:3.19 echo hello', 'strata run -it --name shell -v "$PWD:/src" alpine:3.19 sh'],
  create: ['strata create --name web nginx:1.25', 'strata create --name job -e MODE=batch me/app:2 ./run.sh'],
  start: ['strata start web', 'strata start -a job'],
  stop: ['strata stop web', 'strata stop -t 30 web db'],
  kill: ['strata kill web', 'strata kill -s HUP web'],
  wait: ['strata wait job'],
  logs: ['strata logs web', 'strata logs -f web'],
  exec: ['strata exec web cat /etc/os-release', 'strata exec -it web sh'],
  diff: ['strata diff web'],
  build: ['strata build -t me/app:2 .', 'strata build -f docker/Dockerfile --build-arg VERSION=2 -t me/app:2 .'],
  explain: ['strata explain /var/lib/strata/containers/ID/merged/etc/os-release', 'strata explain -c web /etc/os-release'],
  check: ['strata check', 'strata check --repair'],
  demo: ['strata demo'],
  system: ['strata system df -v', 'strata system prune -f'],
  container: ['strata container ls -a'],
};

export function addExamples(program: Command): void {
  for (const c of program.commands) {
    const ex = EXAMPLES[c.name()];
    if (ex) c.addHelpText('after', `\nExample${ex.length > 1 ? 's' : ''}:\n${ex.map((e) => '  ' + e).join('\n')}`);
  }
}
