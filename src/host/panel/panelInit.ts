/** The `init` message: the model described for the panel (every class named), its techniques and the view to start with. */
import type { InitMessage, ViewSettings } from '../../shared/protocol';
import { COLORMAP_NAMES } from '../../shared/vocabulary';
import type { EngineApi } from '../engineApi';

/** `viewDefaults` and `seedDefault` are read once the model is described, so the settings are the latest. */
export async function describeForPanel(
  engine: EngineApi,
  imageName: string,
  viewDefaults: () => ViewSettings,
  seedDefault: () => number,
): Promise<InitMessage> {
  const [info, techniques] = await Promise.all([engine.describeModel(), engine.techniques()]);
  const labels = [...info.labels];
  for (let i = labels.length; i < info.summary.numClasses; i++) labels.push(`class ${i}`);
  return {
    type: 'init',
    imageName,
    model: {
      name: info.summary.name,
      backend: info.backend,
      inputShape: info.summary.inputShape,
      layers: info.summary.layers,
      defaultLayer: info.summary.defaultLayer,
      labels,
      labelsNote: info.summary.labelsNote ?? null,
      source: info.source ?? null,
    },
    // Attention rollout and its kin are offered only where there is attention to read.
    techniques: techniques.filter((t) => !t.needsAttention || info.summary.attention),
    colormaps: COLORMAP_NAMES,
    view: viewDefaults(),
    seed: seedDefault(),
  };
}
