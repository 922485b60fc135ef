"use client";

import { useQuery } from "@tanstack/react-query";
import { Fragment } from "react";
import { useTRPC, type RouterOutputs } from "@/trpc/react";
import { formatBytes } from "../format";

function Row({ label, value, testId }: { label: React.ReactNode; value: React.ReactNode; testId?: string }) {
  return (
    <div className="flex justify-between gap-4 border-t border-slate-100 py-2 first:border-t-0">
      <dt className="text-slate-600">{label}</dt>
      <dd className="break-words text-right font-medium tabular-nums" data-testid={testId}>
        {value}
      </dd>
    </div>
  );
}

function Card({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <div className="rounded-lg border border-slate-200 bg-white p-4">
      <h2 className="mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500">{title}</h2>
      <dl className="text-sm">{children}</dl>
    </div>
  );
}

type Device = RouterOutputs["system"]["info"]["devices"][number];

function memoryOf(device: Device): string {
  if (device.memoryBytes === null) return "not known (no nvidia-smi)";
  return device.freeMemoryBytes === null ? formatBytes(device.memoryBytes) : `${formatBytes(device.freeMemoryBytes)} free of ${formatBytes(device.memoryBytes)}`;
}

/** The onnxruntime provider a search evaluates with on the device, and why a GPU's is not CUDA. */
function providerOf(device: Device): string {
  const provider = { cpu: "CPU", cuda: "CUDA", webgpu: "WebGPU" } as const;
  if (device.evalProvider === null) return device.whyNotCuda ? `none: ${device.whyNotCuda}` : "—";
  return `${provider[device.evalProvider]}${device.whyNotCuda ? ` (not CUDA: ${device.whyNotCuda})` : ""}`;
}

export default function SystemPage() {
  const trpc = useTRPC();
  const info = useQuery(trpc.system.info.queryOptions(undefined, { refetchInterval: 10_000 }));

  return (
    <section>
      <h1 className="mb-6 text-2xl font-semibold">System</h1>
      {info.isPending && <p className="text-sm text-slate-500">Reading system information…</p>}
      {info.error && <p className="text-sm text-red-700">Could not read system information: {info.error.message}</p>}
      {info.data && (
        <div className="grid gap-4 md:grid-cols-2">
          <Card title="Database">
            <Row label="Mode" value={info.data.database.mode} testId="database-mode" />
            <Row
              label="Health"
              testId="database-health"
              value={
                info.data.database.healthy ? (
                  <span className="text-emerald-700">healthy</span>
                ) : (
                  <span className="text-red-700">unreachable: {info.data.database.error}</span>
                )
              }
            />
            <Row label="Server" value={info.data.database.serverVersion ?? "—"} />
            <Row label="Round trip" value={info.data.database.latencyMs == null ? "—" : `${info.data.database.latencyMs} ms`} />
            <Row
              label="Migrations"
              testId="database-migrations"
              value={`${info.data.database.migrationsApplied} of ${info.data.database.migrationsExpected} applied`}
            />
          </Card>
          <Card title="Devices">
            {info.data.devices.map((device) => (
              <Fragment key={device.id}>
                <Row
                  label={device.id}
                  testId={`device-${device.id}`}
                  value={`${device.name}${device.cores ? ` · ${device.cores} cores` : ""}${device.unusable ? ` · cannot be used: ${device.unusable}` : ""}`}
                />
                <Row label={<span className="pl-4">memory</span>} testId={`device-${device.id}-memory`} value={memoryOf(device)} />
                <Row label={<span className="pl-4">evaluates with</span>} testId={`device-${device.id}-provider`} value={providerOf(device)} />
              </Fragment>
            ))}
          </Card>
          <Card title="Merge addon">
            <Row label="Loaded" testId="native-loaded" value={info.data.native.loaded ? "yes" : `no: ${info.data.native.error}`} />
            <Row
              label="CUDA kernels"
              testId="native-cuda"
              value={
                !info.data.native.cudaCompiled
                  ? "not built (no nvcc at build time)"
                  : info.data.native.cudaDevices > 0
                    ? `${info.data.native.cudaDevices} GPU${info.data.native.cudaDevices === 1 ? "" : "s"}${info.data.native.cudaArchitectures ? ` · sm ${info.data.native.cudaArchitectures}` : ""}`
                    : `built, no GPU usable: ${info.data.native.cudaUnavailableReason ?? "none found"}`
              }
            />
            <Row label="CPU threads" value={info.data.native.cpuThreads ?? "—"} />
            <Row
              label="Vulkan GPU-select layer"
              testId="native-vulkan"
              value={info.data.native.vulkanLayer ? "built" : "not built (install libvulkan-dev, then node native/build.mjs --force): WebGPU evaluation only on GPU 0"}
            />
          </Card>
          <Card title={`Workers (${info.data.workers.filter((worker) => worker.alive).length} alive)`}>
            {info.data.queueError && <Row label="Error" value={info.data.queueError} />}
            {info.data.workers.length === 0 && <Row label="none" testId="workers-none" value="no evaluation process has started (npm run worker)" />}
            {info.data.workers.map((worker) => (
              <Row
                key={worker.id}
                label={<span className={worker.alive ? "" : "text-slate-400"}>{worker.host}</span>}
                testId={`worker-${worker.id}`}
                value={`${worker.devices.join(", ")} · ${worker.alive ? "alive" : `gone (last seen ${worker.lastSeen.toLocaleString()})`}`}
              />
            ))}
          </Card>
          <Card title="Evaluation queue">
            <Row label="Waiting chunks" testId="queue-pending" value={info.data.queue.pending} />
            <Row label="Done" value={info.data.queue.done} />
            <Row label="Failed" value={info.data.queue.failed} />
            {info.data.queue.oldestPending.map((task) => (
              <Row
                key={task.id}
                label={<span className="pl-4">{task.runName ?? task.runId}</span>}
                value={`${task.count} ${task.split} candidate${task.count === 1 ? "" : "s"} · ${task.workerId ? `taken by ${task.workerId}` : "waiting"} since ${task.createdAt.toLocaleTimeString()}`}
              />
            ))}
          </Card>
          <Card title="Versions">
            <Row label="merge-search" value={info.data.product.version} />
            <Row label="Node.js" value={info.data.runtime.node} />
            {Object.entries(info.data.packages).map(([name, version]) => (
              <Row key={name} label={name} value={version ?? "not installed"} />
            ))}
          </Card>
          <Card title="Process">
            <Row label="Platform" value={info.data.runtime.platform} />
            <Row label="Uptime" value={`${info.data.runtime.uptimeSeconds} s`} />
          </Card>
        </div>
      )}
    </section>
  );
}
