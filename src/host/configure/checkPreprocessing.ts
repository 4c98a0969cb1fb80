/**
 * "Check Preprocessing": runs the model on one image under every input scaling and lists the top-5 of
 * each in a quick pick, the configured one ticked. The right scaling is usually obvious: a confident,
 * sensible top-5; wrong ones give a flat or absurd one.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ScalingCheck } from '../../engine/preprocessCheck';
import type { ScalingCandidate } from '../../files/scalingChoices';
import { RunCancelledError, type EngineApi } from '../engineApi';
import { CancelSource } from '../panel/cancelSource';
import { PRESET_TEXT, resizeTitle, scalingTitle } from './presetText';

function percent(score: number): string {
  return `${(score * 100).toFixed(score >= 0.1 ? 0 : 1)}%`;
}

/**
 * Confidence alone cannot pick the scaling (nearby ones such as [-1, 1] and ImageNet mean/std give
 * MobileNet the same answer at 90 % and 93 %), so rows say whether they agree with the one in use.
 */
function describeCheck(check: ScalingCheck, inUseTop: number | undefined): vscode.QuickPickItem & { check: ScalingCheck } {
  const [top] = check.predictions;
  const agreement = check.inUse ? ' · in use' : top && top.index === inUseTop ? ' · same top-1 as in use' : '';
  const [min, max] = check.inputRange;
  return {
    label: `${check.inUse ? '$(check) ' : ''}${scalingTitle(check.preset, check.channelOrder)}${check.resize ? ` · resized ${resizeTitle(check.resize)}` : ''}`,
    description: top ? `${top.label} ${percent(top.score)}${agreement}` : '',
    detail: `${check.predictions.map((p) => `${p.label} ${percent(p.score)}`).join(' · ')}   (input ${min.toFixed(2)} … ${max.toFixed(2)}; ${PRESET_TEXT[check.preset].detail})`,
    check,
  };
}

/** The scalings' top-5 on `image`, with a cancellable progress notification; undefined when cancelled. */
async function runChecks(engine: EngineApi, image: vscode.Uri): Promise<ScalingCheck[] | undefined> {
  return vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      cancellable: true,
      title: `CNN Lens: running the model on ${path.basename(image.fsPath)} under each input scaling…`,
    },
    async (_progress, token) => {
      const cancel = new CancelSource();
      const subscription = token.onCancellationRequested(() => cancel.cancel());
      try {
        return await engine.checkScalings(image.fsPath, cancel);
      } catch (error) {
        if (error instanceof RunCancelledError) return undefined;
        throw error;
      } finally {
        subscription.dispose();
      }
    },
  );
}

/** Shows the check for `image`; resolves to the scaling the user picked (undefined: dismissed). */
export async function pickScalingOnImage(engine: EngineApi, image: vscode.Uri, modelName: string): Promise<ScalingCandidate | undefined> {
  const checks = await runChecks(engine, image);
  if (!checks) return undefined;
  const inUseTop = checks.find((check) => check.inUse)?.predictions[0]?.index;
  const items = checks.map((check) => describeCheck(check, inUseTop));
  const picked = await vscode.window.showQuickPick(items, {
    title: `${modelName} on ${path.basename(image.fsPath)}: top-5 under each input scaling`,
    placeHolder: 'Pick the scaling (and resizing) whose predictions look right for this image (✓ = in use)',
    matchOnDetail: true,
    ignoreFocusOut: true,
  });
  if (!picked) return undefined;
  const { preset, channelOrder, resize } = picked.check;
  return resize ? { preset, channelOrder, resize } : { preset, channelOrder };
}
