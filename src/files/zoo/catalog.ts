/**
 * Pretrained ImageNet classifiers that "CNN Lens: Download Pretrained Model" offers. Only models whose
 * URL appears in Google's own TF.js sources are listed; each group says where. No SHA-256 is pinned:
 * the hosted files could not be fetched to hash them, so integrity rests on the manifest's byte counts.
 */
import type { ModelFormat } from '../modelFiles';
import type { ScalingPreset } from '../choices';

export interface ZooEntry {
  /** Folder name under the zoo's storage; letters, digits, ".", "_", "-". */
  id: string;
  title: string;
  format: ModelFormat;
  /** The model.json URL; weight shards are fetched beside it, with the same query string (as tfjs does). */
  url: string;
  preprocess: ScalingPreset;
  /** Outputs of the model: 1000, or 1001 with a background class at index 0. */
  numClasses: number;
  labels: 'imagenet';
  /** Download size in bytes, rounded; the manifest gives the exact count at download time. */
  approxBytes: number;
  /** Hex SHA-256 per file name (model.json or a shard), where known. */
  sha256?: Record<string, string>;
}

const MB = 1_000_000;

/**
 * MobileNet v1 layers models (Keras topology, softmax output, inputs scaled x/127.5 - 1).
 * URL: tensorflow/tfjs-models mobilenet/index.ts @ 6adc684d (package @tensorflow-models/mobilenet 0.x:
 * BASE_PATH 'https://storage.googleapis.com/tfjs-models/tfjs/' + `mobilenet_v1_${alpha}_224/model.json`,
 * alpha 0.25, 0.50, 0.75, 1.0; the published 0.2.2 dist/index.js is the same). Only 224 px is hosted:
 * tensorflow/tfjs#1310 (maintainer). Sizes: the 0.25 and 0.75 copies in ../shared/fixtures; 0.50 and
 * 1.0 estimated from their parameter counts.
 */
const v1Layers = (alpha: string, approxBytes: number): ZooEntry => ({
  id: `mobilenet_v1_${alpha}_224`,
  title: `MobileNet v1 ${alpha} (224 px, layers model)`,
  format: 'layers',
  url: `https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_${alpha}_224/model.json`,
  preprocess: 'mobilenet',
  numClasses: 1000,
  labels: 'imagenet',
  approxBytes,
});

/**
 * MobileNet v2 graph models from TF Hub (1001 logits, index 0 background; inputs in [0, 1]).
 * URL and input range: @tensorflow-models/mobilenet 2.1.1 dist/index.js MODEL_INFO, loaded with
 * `fromTFHub`, which appends "/model.json?tfjs-format=file" (tfjs-converter getTFHubUrl). tfhub.dev now
 * redirects to Kaggle and on to signed storage URLs; redirects are followed. Sizes from parameter counts.
 */
const v2Hub = (alpha: string, hubAlpha: string, approxBytes: number): ZooEntry => ({
  id: `mobilenet_v2_${alpha}_224_tfhub`,
  title: `MobileNet v2 ${alpha} (224 px, TF Hub graph model)`,
  format: 'graph',
  url: `https://tfhub.dev/google/imagenet/mobilenet_v2_${hubAlpha}_224/classification/2/model.json?tfjs-format=file`,
  preprocess: 'zero-one',
  numClasses: 1001,
  labels: 'imagenet',
  approxBytes,
});

export const ZOO_CATALOG: readonly ZooEntry[] = [
  v1Layers('0.25', 1.9 * MB),
  v1Layers('0.50', 5.4 * MB),
  v1Layers('0.75', 10.4 * MB),
  v1Layers('1.0', 17 * MB),
  v2Hub('0.50', '050', 7.9 * MB),
  v2Hub('0.75', '075', 10.6 * MB),
  v2Hub('1.00', '100', 14 * MB),
];

/** A zoo id names one folder in the zoo's storage: no separators, no leading dot. */
export function isZooId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id);
}

export function findZooEntry(id: string): ZooEntry | undefined {
  return ZOO_CATALOG.find((entry) => entry.id === id);
}
