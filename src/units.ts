// Durations as docker prints them (github.com/docker/go-units HumanDuration): the words of
// `docker ps` STATUS and of every CREATED column. Shared by the runtime and the CLI.

/** "Less than a second", "About a minute", "30 hours" (24-48 h), "2 days", "3 weeks", ... */
export function humanDuration(ms: number): string {
  const s = Math.trunc(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.trunc(ms / 60_000);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  // go-units rounds hours to the nearest, but takes years from whole hours
  const h = Math.trunc(ms / 3_600_000 + 0.5);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.trunc(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.trunc(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.trunc(h / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

/** docker's CREATED column: "2 days ago"; N/A for an unknown or unreadable time. */
export function timeAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'N/A';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return 'N/A';
  return humanDuration(Math.max(0, now - t)) + ' ago';
}
