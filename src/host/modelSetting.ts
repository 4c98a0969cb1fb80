/**
 * The cnnLens.model setting's values, both ways, as plain functions (no vscode, unit-tested in Node):
 * `zoo:<id>` for a downloaded model (portable: no machine-specific storage path in a shared
 * settings.json), a '/'-separated path relative to the first workspace folder for a model inside it,
 * else an absolute path. Also cnnLens.modelOutput and cnnLens.modelLimits, checked.
 */
import * as path from 'node:path';
import { checkModelLimits, type ModelLimits } from '../files/modelConfig';
import { isZooId } from '../files/zoo/catalog';

export const ZOO_PREFIX = 'zoo:';

export interface SettingPlaces {
  /** The first workspace folder (relative settings are relative to it). */
  workspaceRoot: string | null;
  /** Where downloaded models live. */
  zooStorage: string | null;
}

export type ModelSetting =
  { kind: 'bundled' } | { kind: 'path'; path: string } | { kind: 'zoo'; id: string; path: string } | { kind: 'invalid'; message: string };

function inside(dir: string, file: string): string | null {
  const relative = path.relative(dir, file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : null;
}

export function resolveModelSetting(raw: string, places: SettingPlaces): ModelSetting {
  const value = raw.trim();
  if (!value) return { kind: 'bundled' };
  if (value.startsWith(ZOO_PREFIX)) {
    const id = value.slice(ZOO_PREFIX.length);
    if (!isZooId(id))
      return {
        kind: 'invalid',
        message: `cnnLens.model "${value}": "${id}" is not a downloaded model's id (letters, digits, ".", "_", "-").`,
      };
    if (!places.zooStorage)
      return { kind: 'invalid', message: `cnnLens.model "${value}": downloaded models are only available in VS Code.` };
    return { kind: 'zoo', id, path: path.join(places.zooStorage, id, 'model.json') };
  }
  if (path.isAbsolute(value)) return { kind: 'path', path: value };
  return { kind: 'path', path: places.workspaceRoot ? path.join(places.workspaceRoot, value) : path.resolve(value) };
}

/** The value that names `modelJsonPath` in the setting. */
export function modelSettingValue(modelJsonPath: string, places: SettingPlaces): string {
  const inZoo = places.zooStorage ? inside(places.zooStorage, modelJsonPath) : null;
  if (inZoo) return `${ZOO_PREFIX}${inZoo.split(path.sep)[0]}`;
  const inWorkspace = places.workspaceRoot ? inside(places.workspaceRoot, modelJsonPath) : null;
  return inWorkspace ? inWorkspace.split(path.sep).join('/') : modelJsonPath;
}

/**
 * cnnLens.modelOutput and cnnLens.modelLimits as the loader's defaults (cnnlens.json's "output" beats the
 * setting's; the CLI's flags beat both), the limits checked as the engine checks them: or why they cannot
 * be used — every job then fails with that, rather than running under limits the user did not mean.
 */
export function outputAndLimits(
  output: unknown,
  limits: unknown,
): { output?: string; limits?: Partial<ModelLimits>; problem: string | null } {
  const name = typeof output === 'string' ? output.trim() : '';
  const chosen = name ? { output: name } : {};
  if (output !== undefined && output !== null && typeof output !== 'string')
    return { ...chosen, problem: "The cnnLens.modelOutput setting must be a string: the name of one of the model's outputs." };
  if (limits === undefined || limits === null) return { ...chosen, problem: null };
  try {
    const checked = checkModelLimits(limits, 'The cnnLens.modelLimits setting');
    return { ...chosen, ...(Object.keys(checked).length ? { limits: checked } : {}), problem: null };
  } catch (error) {
    return { ...chosen, problem: `${(error as Error).message} Fix or remove it in the settings.` };
  }
}
