/** A worker of an RPC group (torch.distributed.rpc.WorkerInfo): its unique name and its id (rank). */
export class WorkerInfo {
  readonly name: string;
  /** The worker's rank. */
  readonly id: number;
  constructor(name: string, id: number) {
    this.name = name;
    this.id = id;
    Object.freeze(this);
  }
  toString(): string {
    return `WorkerInfo(id=${this.id}, name=${this.name})`;
  }
}
