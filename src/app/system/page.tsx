"use client";

import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "@/trpc/react";
import { formatBytes } from "../format";

function Row({ label, value, testId }: { label: string; value: React.ReactNode; testId?: string }) {
  return (
    <div className="flex justify-between gap-4 border-t border-slate-100 py-2 first:border-t-0">
      <dt className="text-slate-600">{label}</dt>
      <dd className="text-right font-medium tabular-nums" data-testid={testId}>
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
              <Row
                key={device.id}
                label={device.id}
                testId={`device-${device.id}`}
                value={`${device.name}${device.cores ? ` · ${device.cores} cores` : ""}${device.memoryBytes === null ? "" : ` · ${formatBytes(device.memoryBytes)}`}${device.unusable ? ` · cannot be used: ${device.unusable}` : ""}`}
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
