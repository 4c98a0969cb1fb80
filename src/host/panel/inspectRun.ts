/** "Look inside": feature maps, kernels or an optimised image, with the image so far while it optimises. */
import type { InspectResultMessage } from '../../shared/protocol';
import type { InspectRequest, RgbaImage } from '../../shared/vocabulary';
import { rgbaPart } from './displayParts';
import type { ActiveRun, RunContext } from './panelRuns';

export async function runInspect(ctx: RunContext, run: ActiveRun, request: InspectRequest): Promise<void> {
  const { runs } = ctx;
  try {
    const { kind } = request;
    const onImage = (image: RgbaImage, fraction: number) => {
      if (runs.isCurrent(run)) ctx.post({ type: 'inspectPreview', runId: run.id, fraction, image: rgbaPart(image) });
    };
    const result = await ctx.engine.inspect({ imagePath: ctx.imagePath, request, onImage }, run.cancel);
    if (!runs.isCurrent(run)) return;
    const message: InspectResultMessage = {
      type: 'inspectResult',
      runId: run.id,
      kind,
      image: rgbaPart(result.image),
      caption: result.caption,
      history: result.history,
      tiles: result.tiles,
      page: result.page,
      pages: result.pages,
    };
    runs.complete(run, { inspect: { message, jobId: result.jobId, subject: result.subject } }, message);
  } catch (err) {
    runs.fail(run, err);
  }
}
