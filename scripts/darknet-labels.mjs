// Derives models/darknet-tiny/labels.json: the default model's 1000 classes in Darknet's output order, each
// labelled as the standard ImageNet labels name it, so that a class is found by any of its names ("pickup
// truck", "tabby cat", "husky"), as with MobileNet. Darknet's short name comes first (it is what the panel
// and the CLI show first): "tabby" → "tabby, tabby cat".
//   node scripts/darknet-labels.mjs [--check] [--fixtures DIR] [--wnids FILE]
// Inputs (DIR defaults to ../shared/fixtures beside the repository):
//   DIR/labels/imagenet_classes_darknet_order.json  Darknet's names in output order (ml5js/ml5-library
//       src/utils/IMAGENET_CLASSES_DARKNET.js, MIT; the same 1000 strings as pjreddie/darknet
//       data/imagenet.shortnames.list, public domain)
//   DIR/labels/imagenet_classes.json  the standard labels, index = ImageNet class id (tensorflow/tfjs-examples
//       mobilenet/imagenet_classes.js, Apache-2.0)
// Each Darknet name is matched to the standard label that has it among its comma-separated names (spaces and
// case ignored: "jellyfish" is "jelly fish"); when several have it, to the one whose first name it is; the
// two names that stay ambiguous ("crane", "maillot") by WordNet id, from Darknet's data/imagenet.labels.list
// (the synset of each output; the standard order is the synsets' sorted order). The result must be a
// bijection over the 1000 classes, or nothing is written. --wnids FILE (Darknet's data/imagenet.labels.list)
// checks every class against its synset, not only the ambiguous ones. --check compares with the file instead
// of writing it (exit 1 when they differ).
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUTPUT = path.join(ROOT, 'models', 'darknet-tiny', 'labels.json');

/**
 * Darknet output → standard class for the names two standard classes share as their first name; from
 * pjreddie/darknet @ fa1581ee8d65dbfbb1a8868e95575f98fc0a66a4 : data/imagenet.labels.list (line = output + 1)
 * and the standard order (the 1000 synsets sorted).
 */
const BY_WORDNET_ID = {
  428: { wnid: 'n02012849', standard: 134 }, // crane, the bird
  544: { wnid: 'n03126707', standard: 517 }, // crane, the machine
  781: { wnid: 'n03710637', standard: 638 }, // maillot (a one-piece bathing suit)
  976: { wnid: 'n03710721', standard: 639 }, // maillot, tank suit
};

const namesOf = (label) => label.split(',').map((name) => name.trim());
/** Case counts ("Cardigan" the corgi, "cardigan" the jacket); spaces do not ("jellyfish", "jelly fish"). */
const key = (name) => name.replace(/\s+/g, '');

/** Darknet output i → standard class; throws unless every name finds one class and each class is taken once. */
export function mapDarknetToStandard(darknet, standard) {
  if (darknet.length !== 1000 || standard.length !== 1000)
    throw new Error(`expected 1000 labels each, got ${darknet.length} and ${standard.length}`);
  const mapping = darknet.map((name, i) => {
    const having = standard.flatMap((label, j) => (namesOf(label).some((n) => key(n) === key(name)) ? [j] : []));
    if (having.length === 0) throw new Error(`Darknet class ${i} "${name}": no standard label has this name`);
    if (having.length === 1) return having[0];
    const first = having.filter((j) => key(namesOf(standard[j])[0]) === key(name));
    if (first.length === 1) return first[0];
    const resolved = BY_WORDNET_ID[i];
    if (!resolved || !having.includes(resolved.standard))
      throw new Error(`Darknet class ${i} "${name}" is ambiguous (standard ${having.join(', ')}) and has no WordNet id here`);
    return resolved.standard;
  });
  const taken = new Map();
  mapping.forEach((j, i) => {
    if (taken.has(j)) throw new Error(`standard class ${j} "${standard[j]}" is taken by Darknet ${taken.get(j)} and ${i}`);
    taken.set(j, i);
  });
  if (taken.size !== 1000) throw new Error(`only ${taken.size} standard classes are taken`);
  return mapping;
}

/** Darknet's name first, then the standard label's other names. */
export function darknetLabels(darknet, standard, mapping = mapDarknetToStandard(darknet, standard)) {
  return darknet.map((name, i) => [name, ...namesOf(standard[mapping[i]]).filter((n) => n !== name)].join(', '));
}

/** Every class against Darknet's synset list: the standard index is the synset's rank among the sorted 1000. */
function checkWordNet(mapping, file) {
  const wnids = readFileSync(file, 'utf8').split(/\r?\n/).slice(0, 1000);
  const sorted = [...wnids].sort();
  if (new Set(sorted).size !== 1000 || !sorted.every((w) => /^n\d{8}$/.test(w))) throw new Error(`${file}: not 1000 distinct WordNet ids`);
  const wrong = mapping.flatMap((j, i) => (sorted.indexOf(wnids[i]) === j ? [] : [i]));
  if (wrong.length) throw new Error(`${wrong.length} classes disagree with ${file}: Darknet ${wrong.slice(0, 10).join(', ')}`);
  for (const [i, { wnid }] of Object.entries(BY_WORDNET_ID))
    if (wnids[i] !== wnid) throw new Error(`${file}: Darknet ${i} is ${wnids[i]}, not ${wnid}`);
}

function main(argv) {
  const flag = (name) => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const fixtures = path.resolve(flag('--fixtures') ?? path.join(ROOT, '..', 'shared', 'fixtures'));
  const read = (name) => JSON.parse(readFileSync(path.join(fixtures, 'labels', name), 'utf8'));
  const darknet = read('imagenet_classes_darknet_order.json');
  const standard = read('imagenet_classes.json');
  const mapping = mapDarknetToStandard(darknet, standard);
  const wnids = flag('--wnids');
  if (wnids) checkWordNet(mapping, wnids);
  const text = `[\n${darknetLabels(darknet, standard, mapping)
    .map((label) => `  ${JSON.stringify(label)}`)
    .join(',\n')}\n]\n`;
  if (argv.includes('--check')) {
    const same = readFileSync(OUTPUT, 'utf8') === text;
    console.log(
      same ? `${OUTPUT} is what the labels derive` : `${OUTPUT} differs from what the labels derive: run node scripts/darknet-labels.mjs`,
    );
    return same ? 0 : 1;
  }
  writeFileSync(OUTPUT, text);
  console.log(`wrote ${OUTPUT} (1000 classes, a bijection onto the standard labels${wnids ? `, every one checked against ${wnids}` : ''})`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
