/**
 * Integration suite for Restricted Mode (workspace not trusted). package.json declares limited support:
 * the workspace's cnnLens.model / cnnLens.labels / cnnLens.modelOutput / cnnLens.modelLimits are ignored and
 * the default model is used. The driver gives this workspace a .vscode/settings.json pointing cnnLens.model
 * at a broken model, naming an output no model has and a 1-byte weight budget.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CnnLensApi } from '../../src/extension';

describe('CNN Lens in Restricted Mode', () => {
  it('activates, ignores the workspace model setting and explains with the default model', async () => {
    assert.equal(vscode.workspace.isTrusted, false, 'the workspace is not trusted');
    const extension = vscode.extensions.getExtension<CnnLensApi>('cnn-lens.cnn-lens');
    assert.ok(extension);
    const api = await extension.activate();
    const folder = vscode.workspace.workspaceFolders![0].uri.fsPath;
    const workspaceSettings = JSON.parse(readFileSync(path.join(folder, '.vscode', 'settings.json'), 'utf8'));
    assert.equal(workspaceSettings['cnnLens.model'], 'broken-model', 'the workspace does set cnnLens.model');
    assert.equal(vscode.workspace.getConfiguration('cnnLens').get('model'), '', 'VS Code withholds it in Restricted Mode');
    // The chosen output and the model budgets too (package.json's restrictedConfigurations): were they read,
    // the default model below would be refused (no output "no-such-output", over 1 byte of weights).
    assert.equal(workspaceSettings['cnnLens.modelOutput'], 'no-such-output');
    assert.equal(vscode.workspace.getConfiguration('cnnLens').get('modelOutput'), '');
    assert.deepEqual(vscode.workspace.getConfiguration('cnnLens').get('modelLimits'), {});
    const described = await api.engine.describeModel();
    assert.equal(described.summary.name, 'Darknet tiny (ImageNet)', 'the default model is used instead');
    assert.equal(described.source?.origin, 'default');
    assert.match(described.source?.text ?? '', /Restricted Mode ignores the workspace's cnnLens\.model/);
    const sample = readdirSync(folder).find((f) => f.endsWith('.png') && !f.includes('broken'))!;
    const never = { cancelled: false, onCancel: () => undefined };
    const result = await api.engine.explain(
      { imagePath: path.join(folder, sample), technique: 'gradcam', classIndex: null, layer: null, parameters: {} },
      never,
    );
    assert.ok(result.heatmap.data.length > 0);
  });
});
