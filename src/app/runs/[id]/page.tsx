"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useParams } from "next/navigation";
import { useEffect, useState } from "react";
import { candidateLabel } from "@/shared/candidate-label";
import { LiveBadge, StatusBadge } from "../../components/status-badge";
import { UtilityChart, type ChartPoint } from "../../components/utility-chart";
import { formatActiveTime, formatBytes, formatUtility } from "../../format";
import type { ActiveTime } from "@/shared/active-time";
import { useTRPC } from "@/trpc/react";
import { CandidateProvenanceViews } from "./candidate-provenance";
import { L2sMetricsPanel } from "./l2s-metrics";
import { CorrectnessMap } from "./correctness-map";
import { ParetoFront } from "./pareto-front";
import { RunManage } from "./run-manage";
import { TimeView } from "./time-view";
import { stopPending, useRunEvents, type IterationPoint } from "./use-run-events";

function useNow(active: boolean) {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(new Date()), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

/** Ticks once a second on its own, so the chart and tables do not re-render with it. */
function Elapsed({ time, live }: { time: ActiveTime; live: boolean }) {
  const now = useNow(live);
  return <>{formatActiveTime(time, now)}</>;
}

function Stat({ label, value, testId }: { label: string; value: React.ReactNode; testId?: string }) {
  return (
    <div className="rounded-lg border border-slate-200 bg-white px-4 py-3">
      <div className="text-xs uppercase tracking-wide text-slate-500">{label}</div>
      <div className="mt-1 text-lg font-semibold tabular-nums" data-testid={testId}>
        {value}
      </div>
    </div>
  );
}

function secondsText(seconds: number) {
  if (!Number.isFinite(seconds)) return "—";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

/** Mean wall time per iteration after the initial evaluation, times the iterations left (patience may end it sooner). */
function estimate(iterations: IterationPoint[], maxIteration: number | null) {
  if (iterations.length < 2 || maxIteration == null) return null;
  const first = iterations[0]!;
  const last = iterations.at(-1)!;
  const perIteration = (last.at.getTime() - first.at.getTime()) / 1000 / Math.max(1, last.index - first.index);
  return { perIteration, remaining: perIteration * Math.max(0, maxIteration - last.index) };
}

/** The candidates an iteration restarted, by their experts' names (a number for one the search made), or "all". */
function restartedText(iteration: IterationPoint, names: readonly string[]) {
  if (iteration.restarted.length === iteration.scores.length && iteration.scores.length > 0) return "all";
  return iteration.restarted.map((candidate) => names[candidate] ?? `#${candidate}`).join(", ");
}

function IterationTable({ iterations, candidateNames }: { iterations: IterationPoint[]; candidateNames: readonly string[] }) {
  const rows = [...iterations].reverse();
  return (
    <div className="max-h-96 overflow-auto rounded-lg border border-slate-200 bg-white">
      <table className="w-full text-sm" data-testid="iteration-table">
        <thead className="sticky top-0 bg-slate-100 text-left text-xs text-slate-600">
          <tr>
            <th className="px-3 py-2">Iteration</th>
            <th className="px-3 py-2 text-right">Global best</th>
            <th className="px-3 py-2 text-right">Global worst</th>
            <th className="px-3 py-2 text-right">Mean</th>
            <th className="px-3 py-2 text-right">Evaluated</th>
            <th className="px-3 py-2">Restarted</th>
            <th className="px-3 py-2 text-right">Step</th>
            <th className="px-3 py-2 text-right">Eval</th>
            <th className="px-3 py-2 text-right">Merge</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((iteration) => {
            const mean = iteration.scores.length ? iteration.scores.reduce((sum, score) => sum + score, 0) / iteration.scores.length : NaN;
            return (
              <tr key={iteration.index} className="border-t border-slate-100" data-testid="iteration-row" data-iteration={iteration.index}>
                <td className="px-3 py-1.5 tabular-nums">
                  {iteration.index}
                  {iteration.newBest && iteration.index > 0 && <span className="ml-1 text-emerald-700" title="new global best">★</span>}
                </td>
                <td className="px-3 py-1.5 text-right tabular-nums">{formatUtility(iteration.best)}</td>
                <td className="px-3 py-1.5 text-right tabular-nums">{formatUtility(iteration.worst)}</td>
                <td className="px-3 py-1.5 text-right tabular-nums">{Number.isFinite(mean) ? mean.toFixed(3) : "—"}</td>
                <td className="px-3 py-1.5 text-right tabular-nums">{iteration.evaluated.length}</td>
                <td className="px-3 py-1.5 text-xs text-slate-600" data-testid="restarted" title={iteration.restarted.map((candidate) => candidateLabel(candidate, candidateNames)).join(", ")}>
                  {restartedText(iteration, candidateNames)}
                </td>
                <td className="px-3 py-1.5 text-right tabular-nums">{iteration.stepLength?.toFixed(3)}</td>
                <td className="whitespace-nowrap px-3 py-1.5 text-right tabular-nums">{(iteration.evalMs / 1000).toFixed(1)} s</td>
                <td className="whitespace-nowrap px-3 py-1.5 text-right tabular-nums">{iteration.mergeMs} ms</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <p className="border-t border-slate-100 px-3 py-1.5 text-xs text-slate-500" data-testid="iteration-legend">
        <span className="text-emerald-700">★</span> new global best · Restarted: the candidates the reset rule started afresh in that iteration
      </p>
    </div>
  );
}

/** A question's outcome in words; an abstention (AbstainQA) is neither right nor wrong. */
const verdictOf = (row: { correct: boolean; abstained?: boolean }) => (row.correct ? "correct" : row.abstained ? "abstained" : "wrong");

/** A scored text's own perplexity over its tokens; null for a question that has an answer instead. */
const textPerplexityOf = (row: { likelihood?: { logprob: number }; tokens: number }) => (row.likelihood && row.tokens > 0 ? Math.exp(-row.likelihood.logprob / row.tokens) : null);

function QuestionGrid({ id }: { id: string }) {
  const trpc = useTRPC();
  const best = useQuery(trpc.runs.bestResults.queryOptions({ id }));
  const [split, setSplit] = useState<"dev" | "test">("dev");
  const [filter, setFilter] = useState<"all" | "wrong" | "right">("all");
  const result = best.data ? (split === "test" ? (best.data.test ?? best.data.dev) : (best.data.dev ?? best.data.test)) : null;
  if (!result) return <p className="text-sm text-slate-500">No evaluation recorded yet.</p>;
  const shown = result.results.filter((row) => filter === "all" || (filter === "wrong" ? !row.correct && !row.abstained : row.correct));
  const correct = result.results.filter((row) => row.correct).length;
  // Perplexity scores texts: none is right or wrong, each has a perplexity of its own.
  const scoredTexts = result.results.some((row) => row.likelihood);
  return (
    <div data-testid="best-questions">
      <div className="mb-2 flex flex-wrap items-center gap-3 text-sm">
        <span>
          <b>{result.split}</b> · {result.label} ·{" "}
          {scoredTexts ? `${result.results.length} texts scored, perplexity ${formatUtility(result.utility)}` : `${correct}/${result.results.length} correct (${formatUtility(result.utility)})`}
        </span>
        {best.data?.test && best.data.dev && (
          <select className="rounded border border-slate-300 px-1 py-0.5 text-xs" value={split} onChange={(event) => setSplit(event.target.value as "dev" | "test")}>
            <option value="dev">dev: global best</option>
            <option value="test">test: {best.data.test.label}</option>
          </select>
        )}
        {!scoredTexts && (
          <select className="rounded border border-slate-300 px-1 py-0.5 text-xs" value={filter} onChange={(event) => setFilter(event.target.value as typeof filter)}>
            <option value="all">all questions</option>
            <option value="wrong">wrong only</option>
            <option value="right">right only</option>
          </select>
        )}
      </div>
      <div className="mb-3 flex flex-wrap gap-0.5" aria-label="correctness per question">
        {result.results.map((row) => (
          <span
            key={row.index}
            title={scoredTexts ? `#${row.index}: perplexity ${textPerplexityOf(row)?.toFixed(3) ?? "—"}` : `#${row.index}: ${verdictOf(row)} — ${row.prediction}`}
            className={`h-3 w-3 rounded-sm ${scoredTexts ? "bg-slate-400" : row.correct ? "bg-emerald-500" : row.abstained ? "bg-slate-300" : "bg-red-400"}`}
          />
        ))}
      </div>
      <div className="max-h-96 overflow-auto rounded-lg border border-slate-200 bg-white">
        <table className="w-full text-sm">
          <thead className="sticky top-0 bg-slate-100 text-left text-xs text-slate-600">
            <tr>
              <th className="px-3 py-2">#</th>
              <th className="px-3 py-2">Question</th>
              <th className="px-3 py-2">Gold</th>
              <th className="px-3 py-2">Prediction</th>
              <th className="px-3 py-2">{scoredTexts ? "Perplexity" : "Read as"}</th>
              <th className="px-3 py-2 text-right">Tokens</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((row) => (
              <tr key={row.index} className={`border-t border-slate-100 ${scoredTexts || row.correct || row.abstained ? "" : "bg-red-50/50"}`} data-testid="question-row" data-correct={row.correct} data-abstained={row.abstained ?? false}>
                <td className="px-3 py-1.5 tabular-nums" title={scoredTexts ? "scored text" : verdictOf(row)}>
                  {scoredTexts ? "" : row.correct ? "✓ " : row.abstained ? "– " : "✗ "}
                  {row.index}
                </td>
                <td className="max-w-md truncate px-3 py-1.5" title={row.question ?? ""}>
                  {row.question ?? "—"}
                </td>
                <td className="px-3 py-1.5">{row.gold ?? "—"}</td>
                <td className="max-w-xs truncate px-3 py-1.5 font-mono text-xs" title={row.prediction}>
                  {row.prediction || <span className="text-slate-400">(empty)</span>}
                </td>
                <td className="px-3 py-1.5 tabular-nums">{scoredTexts ? (textPerplexityOf(row)?.toFixed(3) ?? "—") : (row.answer ?? "—")}</td>
                <td className="px-3 py-1.5 text-right tabular-nums">{row.tokens}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function RunLog({ id, live }: { id: string; live: boolean }) {
  const trpc = useTRPC();
  const log = useQuery(trpc.runs.log.queryOptions({ id }, { refetchInterval: live ? 2000 : false }));
  return (
    <pre className="max-h-80 overflow-auto rounded-lg bg-slate-900 p-3 text-xs leading-relaxed text-slate-100" data-testid="run-log">
      {log.data?.truncated && <span className="text-slate-400">… (earlier lines omitted)\n</span>}
      {log.data?.text || "(no log yet)"}
    </pre>
  );
}

export default function RunPage() {
  const { id } = useParams<{ id: string }>();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  // A dead process sends no event, so only a re-read notices that a running run went stale.
  const run = useQuery(trpc.runs.get.queryOptions({ id }, { refetchInterval: (query) => (query.state.data?.status === "running" ? 5000 : false) }));
  const { state, subscription } = useRunEvents(id);
  const [picked, setPicked] = useState<ChartPoint | null>(null);
  const status = run.data?.status ?? "queued";
  const stopping = stopPending(state.statuses, new Date());
  const stale = run.data?.stale ?? false;
  const live = (status === "running" && !stale) || status === "queued" || stopping;
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.runs.get.queryKey({ id }) });
  const cancel = useMutation(trpc.runs.cancel.mutationOptions({ onSettled: refresh }));
  const resume = useMutation(trpc.runs.resume.mutationOptions({ onSettled: refresh }));

  if (run.isPending) return <p className="text-sm text-slate-500">Loading run…</p>;
  // A failed refetch (the network blinked) keeps the page; only a run that never loaded shows the error alone.
  if (!run.data) return <p className="text-sm text-red-700">Could not load the run: {run.error?.message}</p>;
  const data = run.data;
  const config = data.config as Record<string, unknown>;
  const last = state.iterations.at(-1);
  const eta = estimate(state.iterations, data.maxIteration);
  const progress = data.maxIteration ? Math.min(1, (last?.index ?? 0) / data.maxIteration) : 0;
  const actionError = cancel.error?.message ?? resume.error?.message;

  return (
    <section className="space-y-6">
      <div className="flex flex-wrap items-start justify-between gap-4">
        <div>
          <div className="text-sm text-slate-500">
            <Link href="/" className="hover:underline">
              Runs
            </Link>{" "}
            /
          </div>
          <h1 className="text-2xl font-semibold" data-testid="run-name">
            {data.name}
          </h1>
          <p className="text-sm text-slate-600">
            {data.mergeMethod} on {data.dataset} ({data.evalType}) · seed {data.seed} · started from {data.origin === "cli" ? "the CLI" : "the dashboard"}
          </p>
        </div>
        <div className="flex items-center gap-2">
          <StatusBadge status={status} stale={stale} testId="run-status" />
          <LiveBadge live={live} connection={subscription.status} />
          {live && (
            <button type="button" onClick={() => cancel.mutate({ id })} disabled={cancel.isPending} className="rounded border border-amber-300 bg-white px-3 py-1.5 text-sm text-amber-800 hover:bg-amber-50" data-testid="cancel">
              Cancel
            </button>
          )}
          {stopping && status === "cancelled" && (
            <span className="text-xs text-amber-700" data-testid="stopping">
              stopping after the current iteration…
            </span>
          )}
          {(status === "cancelled" || status === "failed" || stale) && (
            <button type="button" onClick={() => resume.mutate({ id })} disabled={resume.isPending || stopping} className="rounded border border-sky-300 bg-white px-3 py-1.5 text-sm text-sky-800 hover:bg-sky-50 disabled:opacity-40" data-testid="resume">
              Resume
            </button>
          )}
        </div>
      </div>
      {actionError && <p className="text-sm text-red-700">{actionError}</p>}
      {run.error && (
        <p className="text-sm text-amber-700" data-testid="refresh-error">
          Could not refresh the run ({run.error.message}); retrying.
        </p>
      )}
      {data.errorText && (
        <p className="rounded border border-red-200 bg-red-50 p-3 text-sm text-red-800" data-testid="run-error">
          {data.errorText}
        </p>
      )}

      <div>
        <div className="mb-1 flex justify-between text-xs text-slate-600">
          <span data-testid="run-progress">
            iteration {last?.index ?? "–"} / {data.maxIteration ?? "?"}
            {status === "completed" && last && data.maxIteration != null && last.index < data.maxIteration && " · stopped early: no new global best within --patience"}
          </span>
          <span data-testid="run-eta">
            {status === "running" && eta ? `${eta.perIteration.toFixed(1)} s/iteration · ETA ≤ ${secondsText(eta.remaining)}` : status === "completed" ? `took ${formatActiveTime(data.activeTime)}` : ""}
          </span>
        </div>
        <div className="h-2 overflow-hidden rounded bg-slate-200">
          <div className={`h-full ${status === "failed" ? "bg-red-500" : status === "completed" ? "bg-emerald-500" : "bg-sky-500"}`} style={{ width: `${(status === "completed" ? 1 : progress) * 100}%` }} />
        </div>
      </div>

      <div className="grid grid-cols-2 gap-3 md:grid-cols-5">
        <Stat label="Global best (dev)" value={formatUtility(last?.best ?? data.endingBestValidationUtility)} testId="stat-best" />
        <Stat label="Global worst (dev)" value={formatUtility(last?.worst)} />
        <Stat label="Starting best test" value={formatUtility(data.startingBestSingleTestAccuracy ?? state.tests.find((test) => test.role === "starting_best")?.utility)} />
        <Stat label="Ending best test" value={formatUtility(data.endingBestSingleTestAccuracy)} testId="stat-test" />
        <Stat label="Elapsed" value={<Elapsed time={data.activeTime} live={live} />} />
      </div>

      <div className="rounded-lg border border-slate-200 bg-white p-4">
        <div className="mb-2 flex items-baseline justify-between">
          <h2 className="text-sm font-semibold uppercase tracking-wide text-slate-500">Dev utility per candidate</h2>
          <span className="text-xs text-slate-500">{state.iterations.length} iterations streamed · event {state.lastEventId ?? "–"}</span>
        </div>
        {state.iterations.length === 0 ? (
          <div className="flex h-64 items-center justify-center text-sm text-slate-500" data-testid="utility-chart" data-points={0}>
            {live ? "Waiting for the initial evaluation of the experts…" : "No iterations recorded."}
          </div>
        ) : (
          <UtilityChart iterations={state.iterations} axis={data.utilityAxis} candidateNames={data.candidateNames} onPointClick={setPicked} />
        )}
      </div>

      <CandidateProvenanceViews runId={data.id} lastIteration={last?.index ?? null} candidateNames={data.candidateNames} picked={picked} onPick={setPicked} />

      <div className="grid gap-6 lg:grid-cols-2">
        <div>
          <h2 className="mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500">Iterations</h2>
          <IterationTable iterations={state.iterations} candidateNames={data.candidateNames} />
        </div>
        <div>
          <h2 className="mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500">Downloads</h2>
          <div className="space-y-2 rounded-lg border border-slate-200 bg-white p-4 text-sm">
            {data.artifacts.length === 0 && <p className="text-slate-500">global_best and global_worst appear here when the search completes; a cancelled or failed run keeps its best so far.</p>}
            {data.artifacts.map((artifact) => (
              <div key={artifact.kind} className="flex items-center justify-between gap-3">
                <a className="font-medium text-sky-700 underline" href={`/api/runs/${data.id}/artifacts/${artifact.kind}`} download data-testid={`download-${artifact.kind}`}>
                  {artifact.kind}.zip
                </a>
                {status !== "completed" && artifact.kind === "global_best" && <span className="text-xs text-amber-700" data-testid="best-so-far">best so far ({status})</span>}
                <span className="text-xs text-slate-500 tabular-nums">
                  dev {formatUtility(artifact.utility)} · {formatBytes(artifact.sizeBytes)} · sha256 {artifact.sha256.slice(0, 12)}…
                </span>
              </div>
            ))}
            {state.tests.length > 0 && (
              <div className="border-t border-slate-100 pt-2 text-xs text-slate-600">
                Test measurements:{" "}
                {state.tests.map((test, index) => (
                  <span key={index} className="mr-3">
                    {test.role}
                    {test.candidate >= 0 ? ` · ${candidateLabel(test.candidate, data.candidateNames)}` : ""} {formatUtility(test.utility)}
                  </span>
                ))}
              </div>
            )}
          </div>
          <h2 className="mb-2 mt-4 text-sm font-semibold uppercase tracking-wide text-slate-500">Configuration</h2>
          <details className="rounded-lg border border-slate-200 bg-white p-3 text-xs">
            <summary className="cursor-pointer text-slate-600">{Object.keys(config).length} settings</summary>
            <pre className="mt-2 overflow-auto">{JSON.stringify(config, null, 2)}</pre>
          </details>
          <h2 className="mb-2 mt-4 text-sm font-semibold uppercase tracking-wide text-slate-500">Tags, notes, archive</h2>
          <RunManage run={data} executing={live} />
        </div>
      </div>

      <ParetoFront id={id} recorded={state.iterations.length + state.tests.length} />

      <div>
        <h2 className="mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500">Correctness over time (the global best, dev)</h2>
        <CorrectnessMap id={id} recorded={state.iterations.length + state.tests.length} />
      </div>

      <div>
        <h2 className="mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500">Where time goes</h2>
        <TimeView iterations={state.iterations} />
      </div>

      <div>
        <h2 className="mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500">Accuracy, tokens, negative transfer (L2S)</h2>
        <L2sMetricsPanel id={id} refreshKey={`${state.iterations.length}:${state.tests.length}:${status}`} />
      </div>

      <div>
        <h2 className="mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500">Best candidate, question by question</h2>
        <QuestionGrid id={id} />
      </div>

      <div>
        <h2 className="mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500">Log</h2>
        <RunLog id={id} live={live} />
      </div>
    </section>
  );
}
