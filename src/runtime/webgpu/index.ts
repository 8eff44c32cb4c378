/**
 * `moec/runtime`: what a generated model module imports, and what an application may use
 * directly. Browser-safe: nothing here imports a Node module except on Node-only paths.
 */
export { CompiledModel, loadCompiled, type CompiledPrograms, type ForwardOptions, type LoadOptions, type ModelInfo } from './model.js';
export type { LoadProgress } from './stream-weights.js';
export type { WeightsSource } from '../byte-stream.js';
export { openDevice, type OpenDeviceOptions, type OpenedDevice } from './device.js';
export { DeviceLostError, InputError, LimitsError, MoecRuntimeError, NoAdapterError, WeightsError, type RuntimeErrorCode } from './errors.js';
