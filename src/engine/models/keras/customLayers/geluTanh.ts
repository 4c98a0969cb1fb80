/**
 * GELU's tanh form, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) — Keras's gelu(approximate=True). tfjs-layers
 * has it as "gelu_new", but camel-cases every string of a config before looking an activation up, so a
 * config can only ask for "geluNew", under which nothing is registered; this is that name.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { tf } from '../../../tfjs/tf';

export class GeluTanh extends tf.serialization.Serializable {
  static readonly className = 'geluNew';

  apply(x: Tensor): Tensor {
    return tf.tidy(() => {
      const inner = x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
      return x.mul(0.5).mul(tf.tanh(inner).add(1));
    });
  }

  override getConfig(): Record<string, never> {
    return {};
  }
}
