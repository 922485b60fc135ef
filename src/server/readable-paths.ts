import fs from "node:fs";
import path from "node:path";

/**
 * `child`'s real path when it lies strictly inside `parent` once both have their symlinks resolved, else null
 * (also when either is missing): what the server reads of a run's folder never leads outside it.
 */
export function realPathInside(parent: string, child: string): string | null {
  try {
    const realParent = fs.realpathSync(parent);
    const realChild = fs.realpathSync(child);
    const relative = path.relative(realParent, realChild);
    return relative && !relative.startsWith("..") && !path.isAbsolute(relative) ? realChild : null;
  } catch {
    return null;
  }
}

function within(root: string, target: string): boolean {
  const relative = path.relative(root, target);
  return !relative.startsWith("..") && !path.isAbsolute(relative);
}

/**
 * Whether the dashboard may read `target` (or say whether it exists) on a client's behalf: it must lie in one of
 * `roots`, by its path and, once it exists, by its real path too. Outside them every answer is the same refusal,
 * so a client cannot probe the server's filesystem.
 */
export function isInsideRoots(target: string, roots: readonly string[]): boolean {
  const resolved = path.resolve(target);
  if (!roots.some((root) => within(path.resolve(root), resolved))) return false;
  let real: string;
  try {
    real = fs.realpathSync(resolved);
  } catch {
    return true;
  }
  return roots.some((root) => {
    try {
      return within(fs.realpathSync(root), real);
    } catch {
      return false;
    }
  });
}
