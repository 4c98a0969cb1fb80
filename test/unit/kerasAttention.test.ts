/**
 * Keras's MultiHeadAttention, which CNN Lens implements itself (tfjs-layers has none), imported from
 * `.keras` archives laid out as Keras 3 saves the layer (its projections in sub-groups) and from a Keras 2
 * `.h5`, against the double-precision attention of helpers/kerasReference.ts: self- and cross-attention,
 * Swin-style attention within windows, attention over an image's positions; and the calls it refuses.
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { ModelError } from '../../src/files/modelFiles';
import {
  attentionDatasets,
  kerasTensor,
  layer,
  mha,
  writeKerasArchive,
  writeLegacyKeras,
  type Dataset,
  type Json,
} from './helpers/kerasArchive';
import { assertClose, chain, loadChecked, predict } from './helpers/kerasChecks';
import { attention, attentionWeights, dense, numbers } from './helpers/kerasReference';
import { tempDir } from './helpers/tinyModels';
import { loadModel } from './helpers/suiteAcceleration';

async function archive(name: string, config: Json, datasets: Dataset[], names: Record<string, string> = {}): Promise<string> {
  return writeKerasArchive(path.join(tempDir(), `${name}.keras`), config, datasets, names);
}

describe('Keras import: MultiHeadAttention', () => {
  const self = { q: 6, v: 6, k: 6 };

  it('runs self-attention over tokens from Keras 3 archives, old and new layouts', async () => {
    const config = chain(
      [2, 3, 6],
      [
        (x) => layer('Reshape', 'tokens', { target_shape: [6, 6] }, [x]),
        (x) => mha('mha', { key_dim: 3, value_dim: 4, attention_axes: [1] }, [x, x]),
      ],
    );
    const w = attentionWeights(2, 3, 4, self, 6, 11);
    const image = numbers(36, 12, 2);
    const want = attention(image, image, image, w, self, 6);
    for (const older of [false, true]) {
      const { datasets, names } = attentionDatasets(w, self, 6, older);
      await loadChecked(await archive(`self-${older}`, config, datasets, names), (loaded) => {
        assert.equal(loaded.summary.layers.find((l) => l.name === 'mha')?.kind, 'MultiHeadAttention');
        assertClose(predict(loaded, image), want, 1e-5, older ? '_query_dense layout' : 'query_dense layout');
      });
    }
  });

  it('runs cross-attention with the key passed by keyword, no biases and an output_shape', async () => {
    const channels = { q: 3, v: 5, k: 2 };
    const [kv, kk] = [numbers(15, 21), numbers(6, 22)];
    const config = chain(
      [2, 2, 3],
      [
        (x) => layer('Reshape', 'tokens', { target_shape: [4, 3] }, [x]),
        (x) => layer('Dense', 'to_value', { units: 5, use_bias: false }, [x]),
        () => layer('Dense', 'to_key', { units: 2, use_bias: false }, ['tokens']),
        () =>
          mha('cross', { num_heads: 3, key_dim: 2, value_dim: 2, use_bias: false, output_shape: [5] }, ['tokens', 'to_value'], {
            key: kerasTensor('to_key'),
          }),
      ],
    );
    const w = attentionWeights(3, 2, 2, channels, 5, 23, false);
    const { datasets } = attentionDatasets(w, channels, 5);
    datasets.push({ path: 'layers/dense/vars/0', shape: [3, 5], data: kv }, { path: 'layers/dense_1/vars/0', shape: [3, 2], data: kk });
    const image = numbers(12, 24, 2);
    const want = attention(image, dense(image, kv, null, 3, 5), dense(image, kk, null, 3, 2), w, channels, 5);
    await loadChecked(await archive('cross', config, datasets), (loaded) =>
      assertClose(predict(loaded, image), want, 1e-5, 'cross-attention'),
    );
  });

  it('attends within Swin-style windows (attention_axes=[2]) and over all of an image’s positions', async () => {
    const channels = { q: 3, v: 3, k: 3 };
    const w = attentionWeights(1, 2, 3, channels, 3, 31);
    const { datasets, names } = attentionDatasets(w, channels, 3);
    const windows = chain(
      [4, 4, 3],
      [
        (x) => layer('Reshape', 'split', { target_shape: [2, 2, 2, 2, 3] }, [x]),
        (x) => layer('Permute', 'gather', { dims: [1, 3, 2, 4, 5] }, [x]),
        (x) => layer('Reshape', 'windows', { target_shape: [4, 4, 3] }, [x]),
        (x) => mha('mha', { num_heads: 1, key_dim: 2, value_dim: 3, attention_axes: [2] }, [x, x]),
      ],
    );
    const image = numbers(48, 32, 2);
    // Window (wy, wx) holds pixels (2wy + y, 2wx + x), its tokens in (y, x) order.
    const pixel = (row: number, col: number) => Array.from(image.slice((row * 4 + col) * 3, (row * 4 + col) * 3 + 3));
    const want = [0, 1, 2, 3].flatMap((win) => {
      const tokens = [0, 1, 2, 3].flatMap((t) => pixel(2 * Math.floor(win / 2) + Math.floor(t / 2), 2 * (win % 2) + (t % 2)));
      return attention(tokens, tokens, tokens, w, channels, 3);
    });
    await loadChecked(await archive('windows', windows, datasets, names), (loaded) =>
      assertClose(predict(loaded, image), want, 1e-5, 'windows'),
    );

    const positions = chain([2, 2, 3], [(x) => mha('mha', { num_heads: 1, key_dim: 2, value_dim: 3, attention_axes: [1, 2] }, [x, x])]);
    const small = numbers(12, 33, 2);
    await loadChecked(await archive('positions', positions, datasets, names), (loaded) =>
      assertClose(predict(loaded, small), attention(small, small, small, w, channels, 3), 1e-5, 'positions'),
    );
  });

  it('reads a Keras 2 .h5 whose value arrives as a keyword tensor, weights named query/kernel …', async () => {
    const w = attentionWeights(2, 3, 4, self, 6, 41);
    const node = (...refs: unknown[]) => [refs];
    const modelConfig = {
      class_name: 'Functional',
      config: {
        name: 'vit',
        layers: [
          {
            class_name: 'InputLayer',
            config: { batch_input_shape: [null, 2, 3, 6], dtype: 'float32', name: 'image' },
            name: 'image',
            inbound_nodes: [],
          },
          {
            class_name: 'Reshape',
            config: { name: 'tokens', target_shape: [6, 6] },
            name: 'tokens',
            inbound_nodes: node(['image', 0, 0, {}]),
          },
          {
            class_name: 'MultiHeadAttention',
            config: {
              name: 'mha',
              num_heads: 2,
              key_dim: 3,
              value_dim: 4,
              dropout: 0.1,
              use_bias: true,
              output_shape: null,
              attention_axes: [1],
              query_shape: [null, 6, 6],
              key_shape: null,
              value_shape: [null, 6, 6],
            },
            name: 'mha',
            inbound_nodes: node(['tokens', 0, 0, { value: ['tokens', 0, 0] }]),
          },
          { class_name: 'Flatten', config: { name: 'flat' }, name: 'flat', inbound_nodes: node(['mha', 0, 0, {}]) },
        ],
        input_layers: [['image', 0, 0]],
        output_layers: [['flat', 0, 0]],
      },
    };
    const weight = (name: string, shape: number[], data: Float32Array | null) => ({ name, shape, data: data! });
    const file = await writeLegacyKeras(path.join(tempDir(), 'vit.h5'), modelConfig, {
      // Listed out of order: the reader goes by the sub-layer each name holds.
      mha: [
        weight('value/kernel', [6, 2, 4], w.value[0]),
        weight('value/bias', [2, 4], w.value[1]),
        weight('query/kernel', [6, 2, 3], w.query[0]),
        weight('query/bias', [2, 3], w.query[1]),
        weight('attention_output/kernel', [2, 4, 6], w.output[0]),
        weight('attention_output/bias', [6], w.output[1]),
        weight('key/kernel', [6, 2, 3], w.key[0]),
        weight('key/bias', [2, 3], w.key[1]),
      ],
    });
    const image = numbers(36, 42, 2);
    await loadChecked(file, (loaded) => assertClose(predict(loaded, image), attention(image, image, image, w, self, 6), 1e-5, 'Keras 2'));
  });

  it('refuses masks, returned scores, gates and a missing value, naming the layer', async () => {
    const tokens = (x: string) => layer('Reshape', 'tokens', { target_shape: [6, 6] }, [x]);
    const config = chain(
      [2, 3, 6],
      [
        tokens,
        (x) => mha('masked', {}, [x, x], { attention_mask: kerasTensor('tokens') }),
        (x) => mha('scores', {}, [x, x], { return_attention_scores: true }),
        (x) => mha('gated', { use_gate: true }, [x, x]),
        (x) => mha('lonely', {}, [x]),
      ],
    );
    const file = await archive('refused', config, []);
    await assert.rejects(loadModel(file), (error: Error) => {
      assert.ok(error instanceof ModelError);
      assert.match(error.message, /"masked" \(MultiHeadAttention called with an attention mask\)/);
      assert.match(error.message, /"scores" \(MultiHeadAttention called with return_attention_scores=True\)/);
      assert.match(error.message, /"gated" \(MultiHeadAttention with use_gate=True\)/);
      assert.match(error.message, /"lonely" \(MultiHeadAttention not called as \(query, value\[, key\]\) with tensors\)/);
      return true;
    });
  });
});
