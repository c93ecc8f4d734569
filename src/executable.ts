// How this program was started: by bun from the sources, or as the single executable that
// `bun run build` writes (`bun build --compile`), whose modules live in Bun's embedded /$bunfs/ filesystem.

import { basename, relative } from "node:path";

/** True inside a `bun build --compile` executable. */
export const compiled: boolean = Bun.main.startsWith("/$bunfs/");

/**
 * The command as the user would type it again, for help text and hints: `clusterclub` (on PATH),
 * `./dist/clusterclub` (a path), or `bun src/main.ts` from the sources.
 */
export function programName(argv0: string = process.argv0, script: string = process.argv[1] ?? "", cwd: string = process.cwd()): string {
  if (compiled) return argv0;
  // Started through a link or wrapper named for the program (the package's `bin`).
  if (basename(script) !== "main.ts") return basename(script);
  const rel = relative(cwd, script);
  return `bun ${rel.startsWith("..") ? script : rel}`;
}
