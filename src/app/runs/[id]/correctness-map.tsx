"use client";

import { useQuery } from "@tanstack/react-query";
import { memo, useDeferredValue, useMemo, useState } from "react";
import { useTRPC, type RouterOutputs } from "@/trpc/react";
import { formatUtility } from "../../format";
import { useRefetchOnRecorded } from "./use-refetch-on-recorded";

type CorrectnessData = RouterOutputs["runs"]["correctnessOverTime"];

/** A cell's colour: right, wrong, or not stored (the best's answers were not recorded then). */
function cellClass(correct: boolean | null, abstained: boolean) {
  if (correct === null) return "bg-slate-100";
  if (correct) return "bg-emerald-500";
  return abstained ? "bg-slate-300" : "bg-red-400";
}

function answerAt(data: CorrectnessData, question: number, at: number) {
  const evaluation = data.bestAt[at] == null ? null : data.evaluations[data.bestAt[at]!]!;
  return { evaluation, answer: evaluation?.answers.find((answer) => answer.index === question) ?? null };
}

/** Per iteration, the questions the global best abstained on (AbstainQA), which the map greys rather than reds. */
function abstentions(data: CorrectnessData): Array<ReadonlySet<number>> {
  const perEvaluation = data.evaluations.map((evaluation) => new Set(evaluation.answers.filter((answer) => answer.abstained).map((answer) => answer.index)));
  return data.bestAt.map((at) => (at === null ? new Set<number>() : perEvaluation[at]!));
}

function QuestionDetail({ data, question, at }: { data: CorrectnessData; question: number; at: number }) {
  const { evaluation, answer } = answerAt(data, question, at);
  const item = data.questions[question];
  const timeline = data.timeline[question];
  return (
    <div className="space-y-1 rounded-lg border border-slate-200 bg-white p-3 text-sm" data-testid="correctness-detail" data-question={question} data-iteration={data.iterations[at]}>
      <div className="font-medium">
        Question {question} after iteration {data.iterations[at]} · {evaluation ? evaluation.label : "the best's answers are not stored"}
      </div>
      <p className="whitespace-pre-wrap text-slate-700" data-testid="detail-question">
        {item?.excerpt ?? "—"}
      </p>
      <p>
        <span className="text-slate-500">Gold:</span> <span data-testid="detail-gold">{item?.gold ?? "—"}</span>
      </p>
      <p>
        <span className="text-slate-500">Prediction:</span>{" "}
        <span className="font-mono text-xs" data-testid="detail-prediction">
          {answer ? answer.prediction || "(empty)" : "—"}
        </span>
        {answer && <span className={`ml-2 ${answer.correct ? "text-emerald-700" : "text-red-700"}`}>{answer.correct ? "right" : answer.abstained ? "abstained" : "wrong"}</span>}
      </p>
      {timeline && (
        <p className="text-xs text-slate-600">
          gained after iteration {timeline.gained.join(", ") || "—"} · lost after iteration {timeline.lost.join(", ") || "—"}
        </p>
      )}
    </div>
  );
}

function DevTestGap({ gap }: { gap: CorrectnessData["gap"] }) {
  if (gap.length === 0) return <p className="text-xs text-slate-500" data-testid="dev-test-gap">The test split is measured for the starting best and once the search ends.</p>;
  return (
    <table className="text-xs" data-testid="dev-test-gap">
      <thead className="text-left text-slate-500">
        <tr>
          <th className="pr-3">Dev–test gap</th>
          <th className="pr-3 text-right">Dev</th>
          <th className="pr-3 text-right">Test</th>
          <th className="text-right">Dev − test</th>
        </tr>
      </thead>
      <tbody>
        {gap.map((point) => (
          <tr key={point.role} data-testid="gap-row" data-role={point.role}>
            <td className="pr-3">
              {point.role === "starting_best" ? "starting best" : "ending best"}, iteration {point.iteration}
            </td>
            <td className="pr-3 text-right tabular-nums">{formatUtility(point.dev)}</td>
            <td className="pr-3 text-right tabular-nums">{formatUtility(point.test)}</td>
            <td className="text-right tabular-nums">{(point.gap >= 0 ? "+" : "") + point.gap.toFixed(3)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

type Selection = { question: number; at: number } | null;

/** The map's cells: thousands of them on a long run, so rendered again only when the data or the selection change. */
const CellGrid = memo(function CellGrid({ data, selected, onSelect }: { data: CorrectnessData; selected: Selection; onSelect: (selection: Selection) => void }) {
  const abstainedAt = useMemo(() => abstentions(data), [data]);
  return (
    <div className="overflow-auto rounded-lg border border-slate-200 bg-white p-2">
      <div className="inline-grid gap-px" style={{ gridTemplateColumns: `3rem repeat(${data.iterations.length}, 0.75rem)` }} aria-label="the global best's correctness per question and iteration">
        <span className="text-[10px] text-slate-400">q \ it</span>
        {data.iterations.map((iteration) => (
          <span key={iteration} className="text-center text-[9px] leading-3 text-slate-400">
            {iteration % 5 === 0 ? iteration : ""}
          </span>
        ))}
        {data.timeline.map((question) => [
          <span key={`label-${question.index}`} className="pr-1 text-right text-[10px] leading-3 text-slate-500">
            {question.index}
          </span>,
          ...question.correct.map((correct, at) => {
            const iteration = data.iterations[at]!;
            const change = question.gained.includes(iteration) ? "gained" : question.lost.includes(iteration) ? "lost" : "";
            const abstained = abstainedAt[at]!.has(question.index);
            const isSelected = selected?.question === question.index && selected.at === at;
            return (
              <button
                type="button"
                key={`${question.index}-${iteration}`}
                onClick={() => onSelect({ question: question.index, at })}
                title={`question ${question.index}, iteration ${iteration}: ${correct === null ? "not stored" : correct ? "right" : "wrong"}${change ? ` (${change})` : ""}`}
                className={`h-3 w-3 rounded-sm ${cellClass(correct, abstained)} ${change === "gained" ? "ring-2 ring-emerald-900" : change === "lost" ? "ring-2 ring-red-900" : ""} ${isSelected ? "outline outline-2 outline-sky-600" : ""}`}
                data-testid="correctness-cell"
                data-question={question.index}
                data-iteration={iteration}
                data-correct={correct === null ? "unknown" : String(correct)}
                data-change={change || undefined}
              />
            );
          }),
        ])}
      </div>
    </div>
  );
});

/**
 * The global best's answer to every dev question after every iteration (model_swarm's correctness_emergence): a
 * question per row, an iteration per column; a ring marks where a question was gained (dark green) or lost (dark
 * red). A cell or a table row opens the question with its gold answer and the best's prediction then.
 */
export function CorrectnessMap({ id, recorded }: { id: string; recorded: number }) {
  const trpc = useTRPC();
  const query = useQuery(trpc.runs.correctnessOverTime.queryOptions({ id }));
  useRefetchOnRecorded(trpc.runs.correctnessOverTime.queryKey({ id }), recorded);
  // Deferred: a re-read's new map renders after the utility chart's new point is painted, never before it.
  return <MapView data={useDeferredValue(query.data)} />;
}

/** Rendered again only when a re-read brings new data (or a click a selection), not with every event of the page. */
const MapView = memo(function MapView({ data }: { data: CorrectnessData | undefined }) {
  const [selected, setSelected] = useState<Selection>(null);
  if (!data || data.iterations.length === 0) return <p className="text-sm text-slate-500">No iteration recorded yet.</p>;
  const last = data.iterations.length - 1;
  const shown = selected && selected.question < data.timeline.length && selected.at <= last ? selected : null;
  const gained = data.timeline.reduce((sum, question) => sum + question.gained.length, 0);
  const lost = data.timeline.reduce((sum, question) => sum + question.lost.length, 0);
  return (
    <div className="space-y-3" data-testid="correctness-map" data-questions={data.timeline.length} data-iterations={data.iterations.length}>
      <div className="flex flex-wrap items-baseline gap-4 text-xs text-slate-600">
        <span>
          {data.timeline.length} dev questions × {data.iterations.length} iterations · {gained} gained, {lost} lost
        </span>
        <span>
          <span className="mr-1 inline-block h-2.5 w-2.5 rounded-sm bg-emerald-500" />
          right <span className="ml-2 mr-1 inline-block h-2.5 w-2.5 rounded-sm bg-red-400" />
          wrong <span className="ml-2 mr-1 inline-block h-2.5 w-2.5 rounded-sm bg-slate-100 ring-1 ring-slate-300" />
          not stored <span className="ml-2 mr-1 inline-block h-2.5 w-2.5 rounded-sm ring-2 ring-emerald-900" />
          gained <span className="ml-2 mr-1 inline-block h-2.5 w-2.5 rounded-sm ring-2 ring-red-900" />
          lost
        </span>
      </div>
      <CellGrid data={data} selected={shown} onSelect={setSelected} />
      {shown && <QuestionDetail data={data} question={shown.question} at={shown.at} />}
      <DevTestGap gap={data.gap} />
      <div className="max-h-72 overflow-auto rounded-lg border border-slate-200 bg-white">
        <table className="w-full text-sm" data-testid="question-timeline">
          <thead className="sticky top-0 bg-slate-100 text-left text-xs text-slate-600">
            <tr>
              <th className="px-3 py-2">#</th>
              <th className="px-3 py-2">Question</th>
              <th className="px-3 py-2">Gold</th>
              <th className="px-3 py-2">Now</th>
              <th className="px-3 py-2">Gained after</th>
              <th className="px-3 py-2">Lost after</th>
            </tr>
          </thead>
          <tbody>
            {data.timeline.map((question) => {
              const now = question.correct[last];
              return (
                <tr
                  key={question.index}
                  onClick={() => setSelected({ question: question.index, at: last })}
                  className={`cursor-pointer border-t border-slate-100 hover:bg-sky-50 ${shown?.question === question.index ? "bg-sky-50" : ""}`}
                  data-testid="timeline-row"
                  data-question={question.index}
                >
                  <td className="px-3 py-1 tabular-nums">{question.index}</td>
                  <td className="max-w-md truncate px-3 py-1" title={data.questions[question.index]?.excerpt ?? ""}>
                    {data.questions[question.index]?.excerpt ?? "—"}
                  </td>
                  <td className="px-3 py-1">{data.questions[question.index]?.gold ?? "—"}</td>
                  <td className="px-3 py-1">{now === null ? "—" : now ? "✓" : "✗"}</td>
                  <td className="px-3 py-1 tabular-nums">{question.gained.join(", ") || "—"}</td>
                  <td className="px-3 py-1 tabular-nums">{question.lost.join(", ") || "—"}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </div>
  );
});
