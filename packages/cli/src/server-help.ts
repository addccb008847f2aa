import type { ConfigSetting } from '@vigil/server';

/** The parts of @vigil/server's config API the help is generated from. */
export interface ServerSettingsApi {
  readonly configSettings: readonly ConfigSetting[];
  readonly configFileFlag: string;
  readonly configFileEnv: string;
}

function defaultText(setting: ConfigSetting): string {
  if (setting.optional === true) return 'optional';
  if (setting.defaultValue === undefined) return 'required';
  return `default: ${String(setting.defaultValue)}`;
}

/**
 * The settings of `vigil server`, generated from the server's settings table so that help, docs
 * and the parser cannot drift apart.
 */
export function serverFlagsHelp(server: ServerSettingsApi, title = 'Settings'): string {
  const { configSettings, configFileEnv, configFileFlag } = server;
  const lines = [
    `${title} (precedence: defaults < config file < VIGIL_* env < flags):`,
    `  --${configFileFlag} <file>  (env ${configFileEnv})`,
    '      a JSON (.json) or YAML (.yaml, .yml) file with the settings below as camelCase keys',
  ];
  for (const setting of configSettings) {
    const flag = setting.valueName === undefined ? `--${setting.flag}` : `--${setting.flag} ${setting.valueName}`;
    lines.push(`  ${flag}  (env ${setting.env}; file key ${setting.key}; ${defaultText(setting)})`);
    lines.push(`      ${setting.description}`);
  }
  return lines.join('\n');
}
