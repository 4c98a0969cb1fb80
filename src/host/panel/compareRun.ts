/** The Compare view's run: every technique with its faithfulness metrics, drawn side by side. */
import type { Preview } from '../../engine/types';
import type { EvaluateJob } from '../engineApi';
import { COMPARE_MAX_SIDE, compareResult, previewMessage } from './displayParts';
import type { ActiveRun, RunContext } from './panelRuns';

export async function runCompare(ctx: RunContext, run: ActiveRun, job: EvaluateJob): Promise<void> {
  const { engine, runs } = ctx;
  try {
    const imagePromise = engine.displayImage(ctx.imagePath, COMPARE_MAX_SIDE, run.cancel);
    const onProgress = (preview: Preview) => {
      if (runs.isCurrent(run)) ctx.post(previewMessage(run.id, preview, null));
    };
    const evaluation = await engine.evaluate({ ...job, onProgress }, run.cancel);
    const image = await imagePromise;
    if (!runs.isCurrent(run)) return;
    const message = compareResult(run.id, evaluation, image);
    runs.complete(run, { compare: { message, jobId: evaluation.jobId } }, message);
  } catch (err) {
    runs.fail(run, err);
  }
}
