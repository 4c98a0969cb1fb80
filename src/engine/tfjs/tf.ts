/**
 * The one place the engine imports TensorFlow.js from, so that every backend package registers
 * itself with the same tfjs-core instance before anything else runs.
 */
import * as tf from '@tensorflow/tfjs-core';
// Typings for the chained tensor methods (x.add(y)); tfjs-core registers their code itself.
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import { version_wasm } from '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tfc from '@tensorflow/tfjs-converter';

export { tf, tfl, tfc };

/** The backend packages' versions, for the log (importing them registers the backends). */
export const BACKEND_PACKAGE_VERSIONS = { cpu: version_cpu, wasm: version_wasm };

/** True while tfjs records a gradient tape: forward-only shortcuts (fused plans, onnxruntime runs) must not be used then. */
export function recordingGradients(): boolean {
  return (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}
