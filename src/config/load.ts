import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.ts';
import { parseConfig, parseListen, type Config } from './schema.ts';

/** config/default.yaml of this installation, found from the source or the built file. */
export const DEFAULT_CONFIG_FILE = resolve(dirname(fileURLToPath(import.meta.url)), '../../config/default.yaml');

export interface ConfigOverrides {
  listen?: string | undefined;
  storage?: string | undefined;
}

/**
 * File, then environment (PYDEPOT_LISTEN / PYDEPOT_STORAGE), then command-line
 * flags. The storage and TLS paths are made absolute against the working directory.
 */
export function loadConfig(file: string | null, overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Config {
  let raw: unknown = {};
  if (file !== null) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    try {
      raw = parseYaml(text);
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
    }
  }
  const config = parseConfig(raw);
  const listen = overrides.listen ?? env.PYDEPOT_LISTEN;
  if (listen !== undefined && listen !== '') {
    const parsed = parseListen(listen);
    if (!parsed) throw new ConfigError(`listen address ${JSON.stringify(listen)} (PYDEPOT_LISTEN or --listen): expected HOST:PORT`);
    config.listen = parsed;
  }
  const storage = overrides.storage ?? env.PYDEPOT_STORAGE;
  if (storage !== undefined && storage !== '') config.storage = storage;
  config.storage = resolve(config.storage);
  if (config.tls) config.tls = { cert: resolve(config.tls.cert), key: resolve(config.tls.key) };
  return config;
}
