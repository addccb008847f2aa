export { loadConfig, configToJson, configFileBytesMax } from './load-config.js';
export type { ConfigSources, ConfigSource, ConfigProblem } from './load-config.js';
export { parseHostPort, formatHostPort, sameHostPort, portMax } from './host-port.js';
export type { HostPort } from './host-port.js';
export {
  configSettings,
  configDefaults,
  requiredConfigKeys,
  optionalConfigKeys,
  logLevels,
  configFileFlag,
  configFileEnv,
  tickMsMax,
  electionTicksMax,
  shutdownTimeoutMsMax,
  clusterIdBytesMax,
  peersMax,
} from './node-config.js';
export type { NodeConfig, ConfigKey, ConfigSetting, ConfigValueKind, LogLevel } from './node-config.js';
