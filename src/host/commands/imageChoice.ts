/**
 * Which image a command acts on, the first there is: the file it was invoked on (Explorer, editor title),
 * the image in the active editor tab, the image of the open explain panel (for commands about the image
 * being looked at, such as Check Preprocessing), else one the user picks in a file dialog. Plain logic with
 * the lookups passed in (pickImage.ts wires them to VS Code), so unit tests can drive it.
 */
import { isImageName } from '../../files/choices';

/** A file by its path (a vscode.Uri is one). */
export interface HasPath {
  path: string;
}

export interface ImageLookups<T extends HasPath> {
  /** What the command was invoked on, if anything (used when it is an image). */
  clicked: T | undefined;
  /** The file shown in the active editor tab (used when it is an image). */
  activeTab: () => T | undefined;
  /** The image of the explain panel in focus (the last active, else any open); absent: not consulted. */
  panel?: () => T | undefined;
  /** The file dialog. */
  ask: () => Promise<T | undefined>;
}

export type ImageOrigin = 'clicked' | 'tab' | 'panel' | 'dialog';

export async function chooseImage<T extends HasPath>(lookups: ImageLookups<T>): Promise<{ image: T; from: ImageOrigin } | undefined> {
  if (lookups.clicked && isImageName(lookups.clicked.path)) return { image: lookups.clicked, from: 'clicked' };
  const tab = lookups.activeTab();
  if (tab && isImageName(tab.path)) return { image: tab, from: 'tab' };
  const panel = lookups.panel?.();
  if (panel) return { image: panel, from: 'panel' };
  const asked = await lookups.ask();
  return asked ? { image: asked, from: 'dialog' } : undefined;
}
