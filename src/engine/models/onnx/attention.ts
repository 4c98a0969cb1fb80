/**
 * A ViT-family encoder in an ONNX graph: its blocks' attention probabilities are the outputs of Softmax
 * nodes over all tokens ([n·heads, T, T] as torch.onnx writes nn.MultiheadAttention, or [n, heads, T, T]),
 * where T is the token count of the model's token sequences. Swin's windowed attention (49 tokens per
 * window) does not match, so Swin has no attention layout: rollout is defined for global attention.
 */
import type { AttentionLayout } from '../adapter';
import type { Step } from './executor';
import type { LayerView } from './layerViews';

interface Probe {
  shape: number[];
  dtype: string;
}

export interface AttentionSite {
  layout: AttentionLayout;
  /** The Softmax outputs, one per block, in forward order. */
  tensors: string[];
  /** The usual CAM target: the last block's input norm (the last token layer of the model's width before the last attention). */
  camLayer: string | null;
}

type TokenView = Extract<LayerView, { kind: 'tokens' }>;

/** The token layout most of the model's sequences share (the encoder's). */
function encoderTokens(views: Map<string, LayerView>): TokenView | null {
  const counts = new Map<string, { view: TokenView; count: number }>();
  for (const view of views.values()) {
    if (view.kind !== 'tokens') continue;
    const key = `${view.special}:${view.grid.join('x')}`;
    const entry = counts.get(key) ?? { view, count: 0 };
    entry.count++;
    counts.set(key, entry);
  }
  return [...counts.values()].sort((a, b) => b.count - a.count)[0]?.view ?? null;
}

function headsOf(shape: number[], tokens: number): number | null {
  if (shape.length === 3 && shape[1] === tokens && shape[2] === tokens) return shape[0];
  if (shape.length === 4 && shape[0] === 1 && shape[2] === tokens && shape[3] === tokens) return shape[1];
  return null;
}

export function findAttention(steps: Step[], probes: Map<string, Probe>, views: Map<string, LayerView>): AttentionSite | null {
  const encoder = encoderTokens(views);
  if (!encoder) return null;
  const tokens = encoder.special + encoder.grid[0] * encoder.grid[1];
  const softmaxes: { index: number; tensor: string; heads: number }[] = [];
  steps.forEach(({ node }, index) => {
    const shape = node.opType === 'Softmax' ? probes.get(node.outputs[0])?.shape : undefined;
    const heads = shape ? headsOf(shape, tokens) : null;
    if (heads) softmaxes.push({ index, tensor: node.outputs[0], heads });
  });
  if (!softmaxes.length || softmaxes.some((s) => s.heads !== softmaxes[0].heads)) return null;
  // Attention within windows anywhere (Swin's early stages) means the model is not a global-attention encoder,
  // even where a last stage's single window spans the whole grid.
  const windowed = steps.some(({ node }) => {
    const shape = node.opType === 'Softmax' ? probes.get(node.outputs[0])?.shape : undefined;
    return !!shape && shape.length >= 3 && shape[shape.length - 1] === shape[shape.length - 2] && headsOf(shape, tokens) === null;
  });
  if (windowed) return null;
  const last = softmaxes[softmaxes.length - 1].index;
  const sameLayout = (view: LayerView | undefined) =>
    view?.kind === 'tokens' && view.special === encoder.special && view.grid.join() === encoder.grid.join();
  const width = probes.get([...views].reverse().find(([, view]) => sameLayout(view))![0])!.shape[2];
  let camLayer: string | null = null;
  for (let i = last - 1; i >= 0 && !camLayer; i--) {
    const { node } = steps[i];
    const output = node.outputs[0];
    if (sameLayout(views.get(output)) && probes.get(output)!.shape[2] === width) camLayer = node.name;
  }
  return {
    layout: { blocks: softmaxes.length, heads: softmaxes[0].heads, special: encoder.special, grid: encoder.grid },
    tensors: softmaxes.map((s) => s.tensor),
    camLayer,
  };
}
