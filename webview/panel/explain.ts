/**
 * Explain: the technique, layer, class and parameter controls, the run requests they make (after a short
 * pause, so arrowing through a list runs once), and the result or the map so far drawn over the image.
 */
import { parseConcepts, type InitMessage, type PreviewMessage, type ResultMessage } from '../../src/shared/protocol';
import type { ExplainRequest, TechniqueParameters } from '../../src/shared/vocabulary';
import { renderCaption } from '../view/caption';
import { renderConceptLegend } from '../view/conceptLegend';
import { captionLine, describeDrawn, type Drawn } from '../view/captionText';
import { ClassSearch } from '../view/classSearch';
import { h, icon } from '../view/dom';
import { formatTimings } from '../view/format';
import type { ParameterControls } from '../view/parameterControls';
import { parameterValues } from '../view/parameters';
import type { PredictionList } from '../view/predictions';
import { post } from '../vscodeApi';
import { fillSelect, hasOption, type PanelCore } from './core';
import { LayerPicker } from './layerPicker';
import type { RememberedParameters } from './rememberedParameters';

/** Changing technique, layer or a parameter re-runs after this pause, so arrowing through a list runs once. */
const RERUN_DELAY_MS = 200;

export class ExplainController {
  readonly layers: LayerPicker;
  /** The last result shown (a cancelled or failed run's preview gives way to it again). */
  result: ResultMessage | undefined;
  private resultDescription = '';
  /** What the last result drew, for its caption. */
  private resultDrawn: Drawn | undefined;
  /** The request of the run in progress (from runStarted), which its previews are captioned by. */
  private activeRequest: ExplainRequest | undefined;
  readonly classSearch: ClassSearch;
  /** Called when the picked technique, layer or class change (the webview state keeps them). */
  onChosen: () => void = () => undefined;
  /** The class the next run explains (null = top-1). */
  classIndex: number | null = null;
  private rerunTimer: ReturnType<typeof setTimeout> | undefined;
  private rerunPending = false;

  constructor(
    private readonly core: PanelCore,
    private readonly predictions: PredictionList,
    private readonly parameters: ParameterControls,
    private readonly remembered: RememberedParameters,
  ) {
    const { ui } = core;
    this.layers = new LayerPicker(ui.layer, ui.fuseLayers);
    this.classSearch = new ClassSearch(
      ui.classInput,
      ui.classOptions,
      (index) => this.pickClass(index),
      (text) => this.showClassError(text),
    );
    ui.technique.addEventListener('change', () => {
      this.updateTechniqueHints();
      this.scheduleRun();
    });
    ui.layer.addEventListener('change', () => this.scheduleRun());
    ui.fuseLayers.addEventListener('change', () => {
      this.layers.setFusing(ui.fuseLayers.checked);
      if (!ui.fuseLayers.checked) this.scheduleRun();
    });
    ui.rerun.addEventListener('click', () => this.requestRun());
    ui.classForm.addEventListener('submit', (event) => {
      event.preventDefault();
      if (this.core.init) this.classSearch.submit();
    });
  }

  onInit(msg: InitMessage): void {
    const { ui } = this.core;
    const current = ui.technique.value;
    fillSelect(
      ui.technique,
      msg.techniques.map((t) => ({ value: t.id, text: t.title })),
      current || msg.techniques[0]?.id || '',
    );
    this.layers.fill(msg.model.layers, msg.model.defaultLayer);
    this.classSearch.setLabels(msg.model.labels);
    ui.labelsNote.textContent = typeof msg.model.labelsNote === 'string' ? msg.model.labelsNote : '';
    for (const control of [ui.technique, ui.classInput, ui.classGo, ui.rerun]) control.disabled = false;
    this.updateTechniqueHints(true);
    this.parameters.setDisabled(false);
  }

  /** Pickers kept from before the tab was hidden (a replayed result then shows what was drawn). */
  restore(choices: { technique: string; layer: string; classIndex: number | null }): void {
    const { ui } = this.core;
    if (hasOption(ui.technique, choices.technique)) ui.technique.value = choices.technique;
    if (choices.layer) this.layers.show(choices.layer);
    if (choices.classIndex !== null && choices.classIndex < (this.core.init?.model.labels.length ?? 0))
      this.classIndex = choices.classIndex;
    this.updateTechniqueHints();
  }

  /** The host started a run: its technique shows as selected; its previews will be captioned by its request. */
  onRunStarted(technique: string, request: ExplainRequest | undefined): void {
    this.activeRequest = request && request.technique === technique ? request : undefined;
    if (!hasOption(this.core.ui.technique, technique)) return;
    this.core.ui.technique.value = technique;
    this.updateTechniqueHints();
  }

  /** The model tree picked the layer to explain at (switching to Grad-CAM if the technique has no layer). */
  explainAtPickedLayer(): void {
    const { ui } = this.core;
    if (this.core.techniqueInfo(ui.technique.value)?.needsLayer === false && hasOption(ui.technique, 'gradcam')) {
      ui.technique.value = 'gradcam';
      this.updateTechniqueHints();
    }
    this.requestRun();
  }

  onResult(msg: ResultMessage): void {
    const { core } = this;
    const { ui } = core;
    if (!core.takeResult(msg.runId)) return;
    delete ui.stage.dataset.preview;
    const title = core.techniqueTitle(msg.technique);
    const ran = isParameters(msg.parameters) ? msg.parameters : {};
    const drawn = describeDrawn({
      info: core.techniqueInfo(msg.technique),
      technique: msg.technique,
      parameters: ran,
      target: msg.target,
      layer: msg.layer || null,
    });
    const description = captionLine(drawn);
    const concepts = msg.concepts ? parseConcepts(msg.concepts) : null;
    if (msg.concepts && !concepts) {
      core.setStatus('error', 'The result’s concepts are malformed.');
      core.setPhase('error');
      return;
    }
    const error = core.overlay.setPixels(msg.image, msg.heatmap, description, {
      signed: msg.signed,
      colour: msg.colour,
      region: msg.region,
      outline: msg.outline,
      concepts,
    });
    if (error) {
      core.setStatus('error', error);
      core.setPhase('error');
      return;
    }
    this.result = { ...msg, concepts };
    renderConceptLegend(ui.conceptLegend, concepts?.classes ?? null);
    this.resultDescription = description;
    this.resultDrawn = drawn;
    this.activeRequest = undefined;
    this.classIndex = msg.target.index;
    ui.placeholder.hidden = true;

    if (hasOption(ui.technique, msg.technique)) ui.technique.value = msg.technique;
    if (msg.layer) this.layers.show(msg.layer);
    this.updateTechniqueHints();
    // Show what the run used, unless the user has already changed something for the next one.
    if (!this.rerunPending && this.parameters.technique === msg.technique) {
      this.parameters.setValues(ran);
      this.remembered.set(msg.technique, ran);
    }
    renderCaption(ui.caption, drawn, { size: msg.imageSize, region: msg.region });
    this.onChosen();
    this.predictions.render(msg.predictions, msg.target);
    ui.notes.replaceChildren(...msg.notes.map((note) => h('li', { class: 'note' }, icon('info'), h('span', {}, note))));
    ui.notes.hidden = msg.notes.length === 0;
    core.setStatus('ok', formatTimings(msg.timings, title));
    ui.exportButton.disabled = false;
    ui.exportMapButton.disabled = false;
    core.setPhase('ready');
  }

  /** The map so far of the running job: drawn as it comes, replaced by the result. */
  onPreview(msg: PreviewMessage): void {
    const { core } = this;
    if (msg.runId !== core.activeRunId) return;
    const title = core.activeTitle;
    const percent = Math.round(Math.min(1, Math.max(0, msg.fraction)) * 100);
    const detail = msg.detail ? ` (${msg.detail})` : '';
    core.ui.stage.dataset.progress = String(percent);
    if (!msg.image || !msg.heatmap) {
      core.setStatus('busy', `${title}: ${percent} %${detail}…`);
      return;
    }
    const drawn = this.previewDrawn(percent);
    if (
      core.overlay.setPixels(msg.image, msg.heatmap, drawn ? captionLine(drawn) : `${title}, ${percent} % done (preview)`, {
        signed: msg.signed,
        region: msg.region,
      })
    )
      return;
    if (drawn) renderCaption(core.ui.caption, drawn, { size: this.result?.imageSize, region: msg.region });
    core.ui.placeholder.hidden = true;
    renderConceptLegend(core.ui.conceptLegend, null);
    core.ui.stage.dataset.preview = String(percent);
    core.setStatus('busy', `${title}: ${percent} %${detail} — showing the map so far…`);
  }

  /** The caption of a preview: the run in progress's technique, parameters, class and layer. */
  private previewDrawn(percent: number): Drawn | undefined {
    const request = this.activeRequest;
    const init = this.core.init;
    if (!request || !init) return undefined;
    const info = this.core.techniqueInfo(request.technique);
    const index = request.classIndex ?? this.result?.predictions[0]?.index ?? null;
    const label = index === null ? undefined : init.model.labels[index];
    return describeDrawn({
      info,
      technique: request.technique,
      parameters: request.parameters,
      target: index !== null && label !== undefined ? { label, index } : null,
      layer: request.layer ?? init.model.defaultLayer,
      preview: percent,
    });
  }

  /** After a cancelled or failed run, a half-done preview must not pass for a result: show the last result again. */
  dropPreview(): void {
    const { ui, overlay } = this.core;
    if (ui.stage.dataset.preview === undefined) return;
    delete ui.stage.dataset.preview;
    const last = this.result;
    if (last) {
      overlay.setPixels(last.image, last.heatmap, this.resultDescription, {
        signed: last.signed,
        colour: last.colour,
        region: last.region,
        outline: last.outline,
        concepts: last.concepts,
      });
      renderConceptLegend(ui.conceptLegend, last.concepts?.classes ?? null);
      if (this.resultDrawn) renderCaption(ui.caption, this.resultDrawn, { size: last.imageSize, region: last.region });
    } else {
      overlay.clear();
      ui.caption.replaceChildren();
      renderConceptLegend(ui.conceptLegend, null);
    }
  }

  // ---- run requests ----

  scheduleRun(): void {
    clearTimeout(this.rerunTimer);
    this.rerunPending = true;
    this.rerunTimer = setTimeout(() => this.requestRun(), RERUN_DELAY_MS);
  }

  /** A re-run still waiting for its pause would supersede what the user just asked for. */
  cancelScheduledRun(): void {
    clearTimeout(this.rerunTimer);
    this.rerunPending = false;
  }

  /**
   * Another kind of run (Compare, Look inside) took the place of a re-run that was waiting: the pickers
   * go back to what the image shows, so they never describe a map that was not drawn.
   */
  dropScheduledRun(): void {
    const wasPending = this.rerunPending;
    this.cancelScheduledRun();
    const last = this.result;
    if (!wasPending || !last) return;
    const { ui } = this.core;
    if (hasOption(ui.technique, last.technique) && ui.technique.value !== last.technique) {
      ui.technique.value = last.technique;
      this.updateTechniqueHints();
    }
    if (last.layer) this.layers.show(last.layer);
  }

  requestRun(): void {
    this.cancelScheduledRun();
    const technique = this.core.ui.technique.value;
    if (!this.core.init || !technique) return;
    const info = this.core.techniqueInfo(technique);
    const layer = info?.needsLayer === false ? null : this.layers.selected();
    const read =
      this.parameters.technique === technique
        ? this.parameters.read()
        : { ok: true as const, values: parameterValues(info?.parameters ?? [], this.remembered.get(technique)) };
    if (!read.ok) {
      this.core.setStatus('error', `Parameter "${read.name}": ${read.error}`);
      return;
    }
    this.remembered.set(technique, read.values);
    post({ type: 'run', technique, classIndex: this.classIndex, layer, parameters: read.values });
  }

  /** A control changed: re-run after the usual pause, unless a field cannot be read yet (half typed, empty). */
  onParametersEdited(): void {
    const technique = this.parameters.technique;
    const read = this.parameters.read();
    if (!technique || !read.ok) {
      this.cancelScheduledRun();
      return;
    }
    this.remembered.set(technique, read.values);
    this.scheduleRun();
  }

  pickClass(index: number): void {
    this.classIndex = index;
    this.showClassError(null);
    this.requestRun();
  }

  private showClassError(text: string | null): void {
    const { classError, classInput } = this.core.ui;
    classError.hidden = text === null;
    classError.textContent = text ?? '';
    if (text === null) classInput.removeAttribute('aria-invalid');
    else classInput.setAttribute('aria-invalid', 'true');
  }

  updateTechniqueHints(rebuild = false): void {
    const { ui, init } = this.core;
    const info = this.core.techniqueInfo(ui.technique.value);
    // Rebuilt only when the technique changes, so a run starting never takes the focus from a field.
    if (rebuild || this.parameters.technique !== (info?.id ?? null)) {
      this.parameters.render(info, parameterValues(info?.parameters ?? [], this.remembered.get(info?.id)), init?.techniques ?? []);
    }
    ui.techniqueHint.textContent = info?.summary ?? '';
    ui.technique.title = info?.summary ?? '';
    const usesLayer = info?.needsLayer !== false;
    ui.layer.disabled = !init || !usesLayer || ui.layer.options.length === 0;
    ui.layerHint.textContent = usesLayer ? '' : `${info?.title ?? 'This technique'} does not use a layer.`;
    ui.layerHint.hidden = usesLayer;
    ui.fuseRow.hidden = !info?.fusesLayers;
    ui.fuseLayers.disabled = ui.layer.disabled;
    if (!info?.fusesLayers && ui.fuseLayers.checked) this.layers.setFusing(false);
  }
}

function isParameters(value: unknown): value is TechniqueParameters {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
