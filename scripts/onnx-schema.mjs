// Regenerates src/engine/accel/onnxSchema.json (protobufjs's JSON descriptor) from onnx.proto, the
// schema text the ONNX project ships (Apache-2.0; here from Debian's python3-onnx 1.12). The engine imports
// the JSON so that esbuild bundles it: no .proto file is read at run time.
//   node scripts/onnx-schema.mjs
import protobuf from 'protobufjs';
import { writeFileSync } from 'node:fs';

const dir = 'src/engine/accel';
const root = protobuf.loadSync(`${dir}/onnx.proto`);
const json = root.toJSON({ keepComments: false });
writeFileSync(`${dir}/onnxSchema.json`, `${JSON.stringify(json)}\n`);
console.log(`wrote ${dir}/onnxSchema.json`);
