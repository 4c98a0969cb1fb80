/**
 * What the CNN Lens model view shows, as plain data (no vscode import, so it is unit-tested in Node):
 * a summary of the model and its layers in order, grouped in hundreds for big models so the tree
 * never renders thousands of rows at once.
 */
import { FORMAT_TITLES } from '../../files/formats';
import type { LayerInfo } from '../../shared/vocabulary';
import { formatShape } from '../../shared/display';
import { scalingTitle } from '../configure/presetText';
import type { LoadedModelInfo } from '../engineApi';

export interface OutlineNode {
  /** Stable across refreshes of the same model, so the tree keeps what was expanded. */
  id: string;
  label: string;
  description?: string;
  tooltip?: string;
  /** A codicon name. */
  icon: string;
  /** Menus key on this: "layer" plus ".cam" / ".maps" / ".kernel" for what the layer offers. */
  contextValue?: string;
  /** For layer rows: the layer's name. */
  layer?: string;
  /** A command the row runs when clicked, with its arguments. */
  command?: { id: string; args: unknown[] };
  children?: OutlineNode[];
  expanded?: boolean;
}

/** Models with more layers than this are shown in groups of GROUP_SIZE. */
export const FLAT_LIMIT = 200;
export const GROUP_SIZE = 100;

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

/** Feature maps need a [h, w, c] output; filters need a convolution kernel. */
function layerContext(layer: LayerInfo): string {
  const parts = ['layer'];
  if (layer.camCapable) parts.push('cam');
  if (layer.outputShape.length === 3) parts.push('maps');
  if (layer.hasKernel) parts.push('kernel');
  return parts.join('.');
}

function layerNode(layer: LayerInfo, index: number, defaultLayer: string | null): OutlineNode {
  const isDefault = layer.name === defaultLayer;
  const shape = formatShape(layer.outputShape);
  const params = layer.params > 0 ? ` · ${formatCount(layer.params)} params` : '';
  const offers = [
    layer.camCapable ? 'CAM-capable (Grad-CAM and the CAM family can target it)' : '',
    isDefault ? 'the default target layer' : '',
  ].filter(Boolean);
  return {
    id: `layer:${layer.name}`,
    label: layer.name,
    description: `${layer.kind} · ${shape}${params}${layer.camCapable ? ' · CAM' : ''}`,
    tooltip: [
      `#${index + 1} ${layer.name}`,
      `${layer.kind}, output ${shape}${layer.layout ? ` (${layer.layout})` : ''}, ${formatCount(layer.params)} parameters`,
      ...offers,
      layer.camCapable
        ? 'Click to make it the target layer of the open panel.'
        : 'Not a target layer: CAM techniques need an output with height and width.',
    ].join('\n'),
    icon: isDefault ? 'star-full' : layer.camCapable ? 'target' : 'symbol-field',
    contextValue: layerContext(layer),
    layer: layer.name,
    command: layer.camCapable ? { id: 'cnnLens.targetLayer', args: [layer.name] } : undefined,
  };
}

export function layerNodes(layers: readonly LayerInfo[], defaultLayer: string | null): OutlineNode[] {
  const rows = layers.map((layer, i) => layerNode(layer, i, defaultLayer));
  if (rows.length <= FLAT_LIMIT) return rows;
  const groups: OutlineNode[] = [];
  for (let start = 0; start < rows.length; start += GROUP_SIZE) {
    const slice = rows.slice(start, start + GROUP_SIZE);
    const end = start + slice.length;
    const cam = layers.slice(start, end).filter((l) => l.camCapable).length;
    groups.push({
      id: `group:${start}`,
      label: `Layers ${start + 1}–${end}`,
      description: `${slice[0].label} … ${slice[slice.length - 1].label}${cam ? ` · ${cam} CAM` : ''}`,
      icon: 'list-flat',
      children: slice,
    });
  }
  return groups;
}

function row(id: string, label: string, value: string, icon: string, tooltip?: string): OutlineNode {
  return { id: `summary:${id}`, label, description: value, icon, tooltip: tooltip ?? `${label}: ${value}` };
}

/** ViT-family models: what attention rollout reads, and how the tokens lie on the image. */
function attentionRows(attention: LoadedModelInfo['summary']['attention']): OutlineNode[] {
  if (!attention) return [];
  const { blocks, heads, specialTokens, grid } = attention;
  const special = specialTokens ? `${specialTokens} special token${specialTokens > 1 ? 's' : ''} + ` : '';
  return [
    row(
      'attention',
      'Attention',
      `${blocks} blocks × ${heads} heads · ${special}${grid[0]}×${grid[1]} patches`,
      'eye',
      'Global self-attention over patch tokens: attention rollout and attention × gradient can read it; token layers are laid on the patch grid (special tokens dropped) as CAM targets.',
    ),
  ];
}

export function modelOutline(info: LoadedModelInfo): OutlineNode[] {
  const { summary, labels, backend, sizeOnDisk } = info;
  const totalParams = summary.layers.reduce((sum, layer) => sum + layer.params, 0);
  const camLayers = summary.layers.filter((layer) => layer.camCapable).length;
  const [h, w, c] = summary.inputShape;
  const named = labels.filter((label, i) => label !== `class ${i}`).length;
  const details: OutlineNode[] = [
    row(
      'input',
      'Input',
      `${h}×${w}×${c}`,
      'arrow-right',
      `Input: ${h}×${w} pixels, ${c} channel${c === 1 ? '' : 's'} (images are resized to this)`,
    ),
    row(
      'output',
      'Output',
      `${formatCount(summary.numClasses)} classes · explained on ${summary.hasLogits ? 'logits' : 'probabilities'}`,
      'arrow-left',
      summary.hasLogits
        ? 'Techniques differentiate the class scores before the softmax (logits), as Grad-CAM prescribes.'
        : 'The model exposes no pre-softmax scores, so techniques differentiate probabilities (gradients can saturate).',
    ),
    ...attentionRows(summary.attention),
    row('params', 'Parameters', formatCount(totalParams), 'symbol-numeric'),
    row('size', 'Size on disk', formatBytes(sizeOnDisk), 'database'),
    row('format', 'Format', FORMAT_TITLES[summary.format], 'file-code'),
    row('backend', 'Backend', backend, 'server-process'),
    row(
      'preprocess',
      'Input scaling',
      `${scalingTitle(summary.preprocessing.preset, summary.preprocessing.channelOrder)} (from ${summary.preprocessing.source})`,
      'settings',
    ),
    row(
      'labels',
      'Labels',
      named ? `${formatCount(named)} of ${formatCount(summary.numClasses)} named` : 'none (class 0, class 1, …)',
      'tag',
    ),
    // A labels file one longer or shorter than the outputs was fitted to them: every name depends on it.
    ...(summary.labelsNote ? [row('labelsNote', 'Labels fitted', summary.labelsNote, 'warning', summary.labelsNote)] : []),
    row('path', 'File', summary.path, 'file', summary.path),
  ];
  return [
    {
      id: 'summary',
      label: summary.name,
      description: `${FORMAT_TITLES[summary.format]} · ${formatCount(totalParams)} params`,
      tooltip: `${summary.name}: ${summary.layers.length} layers, ${camLayers} CAM-capable, ${formatCount(totalParams)} parameters`,
      icon: 'circuit-board',
      children: details,
      expanded: true,
    },
    {
      id: 'layers',
      label: `Layers (${formatCount(summary.layers.length)})`,
      description: `${camLayers} CAM-capable`,
      icon: 'layers',
      children: layerNodes(summary.layers, summary.defaultLayer),
      expanded: true,
    },
  ];
}
