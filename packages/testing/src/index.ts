// Test support shared by the sivshm workspaces. Private: never published, never imported by
// shipped code. It imports no other workspace: apps and libraries are located and started at
// run time, so every package's tests may use it without a project-reference cycle.
export { channelDeviceHeader, type ChannelDeviceChoice } from './channel-device-header.js';
export { forkChild, type ForkOptions, type ForkedChild } from './child-process.js';
export {
  deploymentAt,
  makeDeployment,
  type Deployment,
  type DeploymentOptions,
} from './deployment.js';
export { elasticDeployment } from './elastic-deployment.js';
export {
  grantVectorsPath,
  readGrantVectors,
  type GrantVector,
  type GrantVectorContext,
  type GrantVectorFile,
} from './grant-vectors.js';
export { cliEntry, runCli, runCliStatus, runCliSync, type CliRunOptions } from './cli-process.js';
export {
  readStatus,
  startHostd,
  type HostdProcess,
  type StartHostdOptions,
  type StatusLike,
} from './hostd-process.js';
export {
  CAPTURE_PROBE_PORT,
  startLiveCapture,
  type LiveCapture,
  type LiveCaptureOptions,
} from './live-capture.js';
export {
  IPV6_NAMESPACE_SETUP,
  LOOPBACK_NAMESPACE_SETUP,
  netNamespaceMissing,
} from './net-namespace.js';
export { FROM_SOURCE, nodeEntry, siblingEntry, type NodeEntry } from './node-entry.js';
export {
  compiledFile,
  compiledPath,
  examplePath,
  packageRoot,
  repoRoot,
  workspaceDir,
} from './paths.js';
export {
  randomGrantKey,
  servicesYaml,
  writeServicesYaml,
  type ServiceChoice,
  type ServicesYamlOptions,
  type VmEntry,
} from './services-yaml.js';
export {
  fieldValues,
  tsharkDecodeFile,
  tsharkMissing,
  type TsharkDecodeOptions,
  type TsharkResult,
} from './tshark.js';
export { WaitTimeoutError, sleep, waitFor, waitForFiles } from './wait.js';
