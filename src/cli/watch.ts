// Watches a config file for --watch. Editors often replace a file (write + rename), which ends a
// watch on the file itself, so the directory is watched and events are filtered by name and debounced.

import { type FSWatcher, watch } from "node:fs";
import { basename, dirname, resolve } from "node:path";

export function watchFile(path: string, onChange: () => void, debounceMs = 200): FSWatcher {
  const abs = resolve(path);
  const name = basename(abs);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const w = watch(dirname(abs), (_event, file) => {
    if (file !== null && file !== name) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  });
  w.unref();
  return w;
}
