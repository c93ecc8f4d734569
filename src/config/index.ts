export * from "./schema.ts";
export { ConfigError, type ConfigIssue, configToToml, loadConfig, parseConfig } from "./parse.ts";
export { formatDuration, parseDuration } from "./duration.ts";
export { parseHostPort, type HostPort } from "./hostport.ts";
