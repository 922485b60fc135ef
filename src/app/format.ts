export function formatUtility(value: number | null | undefined): string {
  return value == null ? "—" : value.toFixed(3);
}

export function formatDuration(start: Date | null, end: Date | null, now: Date = new Date()): string {
  if (!start) return "—";
  const seconds = Math.max(0, Math.round(((end ?? now).getTime() - start.getTime()) / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** A run's executing time over all its segments, the open one counted up to `now` (see shared/active-time). */
export function formatActiveTime(time: { closedMs: number; openSince: Date | null; firstStartedAt: Date | null }, now: Date = new Date()): string {
  if (!time.firstStartedAt) return "—";
  const ms = time.closedMs + (time.openSince ? Math.max(0, now.getTime() - time.openSince.getTime()) : 0);
  return formatDuration(new Date(0), new Date(ms));
}

export function formatStart(date: Date | null): string {
  if (!date) return "—";
  const pad = (value: number) => String(value).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
