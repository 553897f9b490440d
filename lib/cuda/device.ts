/** Devices: discovery, properties, the current device, versions and device-wide synchronize. */
import { ArgumentError } from '../errors.js';
import { native } from '../native/index.js';
import type { DeviceApiInfo, DeviceProperties } from '../../typings/native.js';

export type { DeviceApiInfo, DeviceProperties };

/**
 * A CUDA device: its index, `'cuda'` (the current device), `'cuda:N'`, or an object with
 * `{ type: 'cuda', index }` (such as a tensor's `Device`).
 */
export type DeviceLike = number | string | { readonly type: string; readonly index: number };

/** The index a DeviceLike names; undefined means the current device (left to the addon). */
export function deviceIndex(device: DeviceLike | undefined, what = 'device'): number | undefined {
  if (device === undefined) return undefined;
  if (typeof device === 'number') {
    if (!Number.isInteger(device) || device < 0) {
      throw new ArgumentError(`${what} must be a non-negative integer, got ${String(device)}`);
    }
    return device;
  }
  if (typeof device === 'string') {
    if (device === 'cuda') return undefined;
    const m = /^cuda:(\d+)$/.exec(device);
    if (!m) throw new ArgumentError(`${what} must be 'cuda' or 'cuda:N', got '${device}'`);
    return Number(m[1]);
  }
  if (device !== null && typeof device === 'object' && device.type === 'cuda' && Number.isInteger(device.index)) {
    return device.index < 0 ? undefined : device.index;
  }
  throw new ArgumentError(`${what} must be a device index, 'cuda:N' or a cuda Device, got ${describe(device)}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as { type?: unknown }).type === 'cpu' ? "a 'cpu' device" : 'an object';
  return typeof v;
}

/** True when at least one CUDA device can be used (a driver and a GPU, in a CUDA build). */
export function isAvailable(): boolean {
  return native.cuda.isAvailable();
}

/** Number of usable CUDA devices (0 without a CUDA build, a driver or a GPU: see noGpuReason()). */
export function deviceCount(): number {
  return native.cuda.deviceCount();
}

/** Why deviceCount() is 0: "built without CUDA", "no CUDA driver", "no GPU", ...; "" when it is not. */
export function noGpuReason(): string {
  return native.cuda.noGpuReason();
}

/**
 * What drives the devices: 'cuda' (the CUDA runtime), 'simulated' (NODE_NCCL_SIM_DEVICES=N
 * simulated devices on the CPU) or 'none', with a description (the simulated devices, or why
 * there is no device).
 */
export function deviceApi(): DeviceApiInfo {
  return native.cuda.deviceApi();
}

/** True when the devices are simulated (NODE_NCCL_SIM_DEVICES), not GPUs. */
export function isSimulated(): boolean {
  return native.cuda.deviceApi().kind === 'simulated';
}

/** Properties of a device (default: the current one): name, compute capability, memory, SMs, ... */
export function getDeviceProperties(device?: DeviceLike): DeviceProperties {
  const d = deviceIndex(device);
  return native.cuda.getDeviceProperties(d ?? native.cuda.currentDevice());
}

/** The device's name, e.g. "NVIDIA H100 80GB HBM3". */
export function getDeviceName(device?: DeviceLike): string {
  return getDeviceProperties(device).name;
}

/** [major, minor] compute capability, like torch.cuda.get_device_capability. */
export function getDeviceCapability(device?: DeviceLike): [number, number] {
  const p = getDeviceProperties(device);
  return [p.major, p.minor];
}

/** Makes `device` the current device of this thread. */
export function setDevice(device: DeviceLike): void {
  const d = deviceIndex(device);
  native.cuda.setDevice(d ?? native.cuda.currentDevice());
}

/** The current device of this thread. Throws the no-device error where there is none. */
export function currentDevice(): number {
  return native.cuda.currentDevice();
}

/**
 * Waits for all work on the device (default: the current one) to finish. The wait happens off the
 * JS thread: the event loop keeps running.
 */
export async function synchronize(device?: DeviceLike): Promise<void> {
  return native.cuda.synchronize(deviceIndex(device));
}

/** The blocking form of synchronize(), like torch.cuda.synchronize(). */
export function synchronizeSync(device?: DeviceLike): void {
  native.cuda.synchronizeSync(deviceIndex(device));
}

/** CUDA version numbers are encoded as 1000 * major + 10 * minor. */
function decodeVersion(v: number | null): string | null {
  return v === null ? null : `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}

/** The version of the CUDA driver ("12.8"), or null where there is none. */
export function driverVersion(): string | null {
  return decodeVersion(native.cuda.versions().driver);
}

/** The version of the CUDA runtime compiled in ("13.0"), or null in a CPU-only build. */
export function runtimeVersion(): string | null {
  return decodeVersion(native.cuda.versions().runtime);
}

/** { free, total } bytes of device memory, like torch.cuda.mem_get_info. */
export function memGetInfo(device?: DeviceLike): { free: number; total: number } {
  return native.cuda.memGetInfo(deviceIndex(device));
}
