/**
 * Which image a command acts on (src/host/commands/imageChoice.ts, wired to VS Code by pickImage.ts): Check
 * Preprocessing takes the open panel's image instead of asking, from the command palette and the Configure
 * flow alike; the Explain commands still ask.
 */
import { strict as assert } from 'node:assert';
import { isImageName } from '../../src/files/choices';
import { chooseImage, type HasPath, type ImageLookups } from '../../src/host/commands/imageChoice';

const file = (path: string): HasPath => ({ path });

/** The lookups with a dialog that records whether it was opened (`asked` null: the user cancels it). */
function lookups(parts: Partial<ImageLookups<HasPath>>, asked: HasPath | null = file('/photos/picked.png')) {
  const dialog = { opened: 0 };
  const all: ImageLookups<HasPath> = {
    clicked: undefined,
    activeTab: () => undefined,
    ask: () => {
      dialog.opened++;
      return Promise.resolve(asked ?? undefined);
    },
    ...parts,
  };
  return { all, dialog };
}

describe('the image a command acts on', () => {
  const panelImage = () => file('/photos/dog.jpg');

  it('Check Preprocessing with a panel open (its tab active, or another non-image tab): the panel’s image, no dialog', async () => {
    const { all, dialog } = lookups({ panel: panelImage });
    assert.deepEqual(await chooseImage(all), { image: file('/photos/dog.jpg'), from: 'panel' });
    const withSource = lookups({ panel: panelImage, activeTab: () => file('/src/train.py') });
    assert.deepEqual(await chooseImage(withSource.all), { image: file('/photos/dog.jpg'), from: 'panel' });
    assert.equal(dialog.opened + withSource.dialog.opened, 0);
  });

  it('the image in the active tab wins over the panel’s (the one being looked at), and the clicked file over both', async () => {
    const tab = lookups({ panel: panelImage, activeTab: () => file('/photos/cat.PNG') });
    assert.deepEqual(await chooseImage(tab.all), { image: file('/photos/cat.PNG'), from: 'tab' });
    const clicked = lookups({ panel: panelImage, activeTab: () => file('/photos/cat.png'), clicked: file('/photos/bird.webp') });
    assert.deepEqual(await chooseImage(clicked.all), { image: file('/photos/bird.webp'), from: 'clicked' });
    // A clicked file that is no image (a model.json in the Explorer) is passed over.
    const notImage = lookups({ panel: panelImage, clicked: file('/models/net/model.json') });
    assert.deepEqual(await chooseImage(notImage.all), { image: file('/photos/dog.jpg'), from: 'panel' });
    assert.equal(tab.dialog.opened + clicked.dialog.opened + notImage.dialog.opened, 0);
  });

  it('no panel open (or one that is gone): the file dialog; cancelling it chooses nothing', async () => {
    const none = lookups({ panel: () => undefined });
    assert.deepEqual(await chooseImage(none.all), { image: file('/photos/picked.png'), from: 'dialog' });
    assert.equal(none.dialog.opened, 1);
    const cancelled = lookups({ panel: () => undefined }, null);
    assert.equal(await chooseImage(cancelled.all), undefined);
  });

  it('the Explain commands do not consult the panel: they ask, to explain another image', async () => {
    const { all, dialog } = lookups({});
    assert.equal((await chooseImage(all))?.from, 'dialog');
    assert.equal(dialog.opened, 1);
  });

  it('images by their ending, whatever its case', () => {
    for (const name of ['/a/b.png', '/a/b.JPG', '/a/b.jpeg', '/a.b/c.tiff', '/a/b.avif', '/a/b.webp']) assert.ok(isImageName(name), name);
    for (const name of ['/a/b.json', '/a/png', '/a/.png', '/a.png/b', '/a/b.onnx']) assert.ok(!isImageName(name), name);
  });
});
