// Help text for every command, in place of citty's: it names the program as the user started it
// (programName), keeps examples apart from the version, aligns options in one column, and uses colour
// only on a terminal unless NO_COLOR is set (https://no-color.org).

import { type ArgsDef, type CommandDef, runMain } from "citty";
import { programName } from "../executable.ts";

export interface Help {
  /** The subcommand's name after the program, e.g. "init"; none for the node command. */
  command?: string;
  /** One-line description. */
  summary: string;
  /** [command line after the program, what it does]. */
  examples?: [string, string][];
  /** Further commands: [name and arguments, what it does]. */
  commands?: [string, string][];
}

export function colourEnabled(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && !env.NO_COLOR && env.TERM !== "dumb";
}

type Paint = (s: string) => string;

/** Two columns, the first padded to its widest entry (padding outside the colour codes). */
function columns(rows: [string, string][], left: Paint, right: Paint = (s) => s): string[] {
  const width = Math.max(...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => (b ? `  ${left(a)}${" ".repeat(width - a.length)}  ${right(b)}` : `  ${left(a)}`));
}

export function renderUsage(args: ArgsDef, help: Help, colour = colourEnabled(), program = programName()): string {
  const paint = (code: number): Paint => (s) => (colour ? `\x1b[${code}m${s}\x1b[0m` : s);
  const bold = paint(1);
  const cyan = paint(36);
  const gray = paint(90);
  const cmd = help.command ? `${program} ${help.command}` : program;
  const positionals: [string, string][] = [];
  const options: [string, string][] = [];
  let synopsis = cmd;
  for (const [name, def] of Object.entries(args)) {
    const dflt = def.default === undefined || def.default === false ? "" : ` (default: ${def.default})`;
    if (def.type === "positional") {
      positionals.push([name.toUpperCase(), `${def.description ?? ""}${dflt}`]);
      synopsis += ` [${name.toUpperCase()}]`;
    } else {
      const value = def.type === "boolean" ? "" : ` ${def.valueHint ?? "<value>"}`;
      options.push([`--${name}${value}`, `${def.description ?? ""}${dflt}`]);
    }
  }
  if (options.length > 0) synopsis = synopsis.replace(cmd, `${cmd} [OPTIONS]`);
  const out = [help.summary, "", `${bold("Usage:")} ${synopsis}`];
  if (positionals.length > 0) out.push("", bold("Arguments:"), ...columns(positionals, cyan));
  if (options.length > 0) out.push("", bold("Options:"), ...columns(options, cyan));
  if (help.commands) out.push("", bold("Commands:"), ...columns(help.commands.map(([c, d]) => [`${program} ${c}`, d]), cyan));
  if (help.commands) out.push("", `Help for a command: ${program} <command> --help`);
  // A comment line above each command, so a long command keeps the column readable and copies cleanly.
  if (help.examples) out.push("", bold("Examples:"), ...help.examples.flatMap(([c, d]) => [`  ${gray(`# ${d}`)}`, `  ${program} ${c}`]));
  return out.join("\n") + "\n";
}

/** citty's runMain with our help text. */
export function runCommand<T extends ArgsDef>(cmd: CommandDef<T>, args: T, help: Help, rawArgs: string[]): Promise<void> {
  return runMain(cmd, {
    rawArgs,
    showUsage: async () => {
      process.stdout.write(renderUsage(args, help));
    },
  });
}
