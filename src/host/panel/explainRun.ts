/** The panel's main run: one technique's map over the image, with the map so far while long techniques run. */
import type { Preview } from '../../engine/types';
import { DISPLAY_MAX_SIDE } from '../../shared/display';
import { previewMessage, resultMessage } from './displayParts';
import type { ActiveRun, RunContext } from './panelRuns';

export async function runExplain(ctx: RunContext, run: ActiveRun): Promise<void> {
  const { engine, imagePath, runs } = ctx;
  try {
    // Asked first: the worker serves jobs in order, and previews need the image while the run goes on.
    // The display copy's job decodes the photo: cancelling the run stops that decode too.
    const imagePromise = engine.displayImage(imagePath, DISPLAY_MAX_SIDE, run.cancel);
    const onPreview = (preview: Preview) => {
      void imagePromise.then(
        (image) => {
          if (runs.isCurrent(run)) ctx.post(previewMessage(run.id, preview, image));
        },
        () => undefined,
      );
    };
    const explanation = await engine.explain({ imagePath, ...run.request, onPreview }, run.cancel);
    if (!runs.isCurrent(run)) return;
    const image = await imagePromise;
    if (!runs.isCurrent(run)) return;
    const message = resultMessage(run.id, explanation, image);
    runs.complete(run, { result: { message, jobId: explanation.jobId } }, message);
  } catch (err) {
    runs.fail(run, err);
  }
}
