/**
 * The errors a user of a compiled model can meet, each naming what went wrong and the fix.
 * `code` is stable for programs that branch on it; the message is for people.
 */
export type RuntimeErrorCode = 'no-adapter' | 'device-lost' | 'limits' | 'weights' | 'input' | 'disposed';

export class MoecRuntimeError extends Error {
  override readonly name: string = 'MoecRuntimeError';
  constructor(
    readonly code: RuntimeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** No WebGPU adapter (or the `webgpu` package is missing in Node). */
export class NoAdapterError extends MoecRuntimeError {
  override readonly name = 'NoAdapterError';
  constructor(message: string) {
    super('no-adapter', message);
  }
}

/** The device was lost (driver reset, GPU process crash, destroy): load the model again. */
export class DeviceLostError extends MoecRuntimeError {
  override readonly name = 'DeviceLostError';
  constructor(
    readonly reason: string,
    detail: string,
  ) {
    super('device-lost', `the WebGPU device was lost (${reason}${detail ? `: ${detail}` : ''}); load the model again to continue`);
  }
}

/** The device's limits are too small for the model at the requested token count. */
export class LimitsError extends MoecRuntimeError {
  override readonly name = 'LimitsError';
  constructor(message: string) {
    super('limits', message);
  }
}

/** The weights do not match the compiled program (names, dtypes, shapes, layout, values). */
export class WeightsError extends MoecRuntimeError {
  override readonly name = 'WeightsError';
  constructor(message: string) {
    super('weights', message);
  }
}

/** An input of the wrong width, type or token count. */
export class InputError extends MoecRuntimeError {
  override readonly name = 'InputError';
  constructor(message: string) {
    super('input', message);
  }
}
