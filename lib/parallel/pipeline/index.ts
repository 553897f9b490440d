/** Pipeline parallelism: Pipe within one process; PipelineStage and schedules across processes. */
export { Pipe, type PipeOptions } from './pipe.js';
export { PipelineStage, type PipelineStageOptions, type StageModule } from './stage.js';
export { PipelineSchedule, ScheduleGPipe, Schedule1F1B, type LossFn, type ScheduleOptions, type StepOptions } from './schedules.js';
export { splitSizes } from './microbatch.js';
