/** The parameter values the user set, by technique, kept in the webview state so a reload or a technique switch keeps them. */
import type { TechniqueParameters } from '../../src/shared/vocabulary';
import { saveState } from '../vscodeApi';

export class RememberedParameters {
  constructor(private readonly byTechnique: Record<string, TechniqueParameters>) {}

  set(technique: string, values: TechniqueParameters): void {
    // Defaults never set by the user are not worth a state write.
    if (Object.keys(values).length === 0 && !Object.hasOwn(this.byTechnique, technique)) return;
    this.byTechnique[technique] = { ...values };
    saveState({ parameters: this.byTechnique });
  }

  get(technique: string | undefined): TechniqueParameters | undefined {
    return technique !== undefined && Object.hasOwn(this.byTechnique, technique) ? this.byTechnique[technique] : undefined;
  }
}
