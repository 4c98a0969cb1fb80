/**
 * The unit suite's onnxruntime choice, passed to the engine as the extension and the CLI pass theirs: from
 * CNN_LENS_ONNXRUNTIME (`npm run test:unit` runs the suite a second time with it off, so the TF.js path stays
 * tested). Tests that need one path whatever the variable says make their own Acceleration.
 */
import { Acceleration } from '../../../src/engine/accel/ortRuntime';
import { onnxRuntimeFromEnvironment } from '../../../src/engine/engine';
import { loadModel as loadWith, type LoadedModel } from '../../../src/engine/models/loadModel';
import type { ModelConfigOverrides } from '../../../src/files/modelConfig';

/** 'off' on the suite's TF.js-only pass, else 'auto': for Engine.create and for skipping onnxruntime-only checks. */
export const SUITE_ONNXRUNTIME = onnxRuntimeFromEnvironment();

export const suiteAcceleration = new Acceleration(SUITE_ONNXRUNTIME);

/** The engine's loadModel with the suite's choice unless one is given. */
export function loadModel(
  modelPath: string,
  overrides: ModelConfigOverrides = {},
  defaults: ModelConfigOverrides = {},
  acceleration: Acceleration = suiteAcceleration,
): Promise<LoadedModel> {
  return loadWith(modelPath, overrides, defaults, acceleration);
}
