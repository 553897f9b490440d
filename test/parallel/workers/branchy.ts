/** A module with a branch that forward never uses (for findUnusedParameters). */
import { nn, type Tensor } from '../../../lib/index.js';
import { CLASSES, IN } from './common.js';

export class Branchy extends nn.Module {
  a = new nn.Linear(IN, CLASSES);
  unused = new nn.Linear(IN, CLASSES);
  constructor() {
    super();
    this.registerModule('a', this.a);
    this.registerModule('unused', this.unused);
  }
  override forward(x: Tensor): Tensor {
    return this.a.forward(x);
  }
}
