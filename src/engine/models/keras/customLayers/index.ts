/**
 * Keras layers tfjs-layers lacks, written for CNN Lens and registered with tfjs's serialization under their
 * Keras class names, so that a translated Keras config deserialises into them like any tfjs layer and the
 * model's layer list shows the Keras names. Only Keras files reach them: a TF.js model.json naming one of
 * these classes is refused as before (topologyCheck.ts, through kerasConfig.layerClassProblem).
 */
import { tf } from '../../../tfjs/tf';
import { GeluTanh } from './geluTanh';
import { KerasLayerScale } from './layerScale';
import { KerasMultiHeadAttention } from './multiHeadAttention';
import { KerasNormalization } from './normalization';

const CLASSES = [KerasNormalization, KerasLayerScale, KerasMultiHeadAttention];
for (const cls of CLASSES) tf.serialization.registerClass(cls);
tf.serialization.registerClass(GeluTanh);

/** The Keras class names these layers answer to. */
export const KERAS_ONLY_LAYERS: ReadonlySet<string> = new Set(CLASSES.map((cls) => cls.className));
