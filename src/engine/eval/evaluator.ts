import { z } from "zod";
import { datasetFile } from "../catalog";
import { loadDataset, type Dataset, type Split } from "./datasets";
import { evalTypeNames, getEvalType, MULTITASK_DOMAINS, multitaskComponents, multitaskParams } from "./registry";
import { EvalConfigError, type EvalType, type ModelOutput, type ModelRequest, type QuestionResult } from "./types";

export { EvalConfigError };

/** Runs model requests; each names the candidate adapter (an index into the batch's candidates) it is for. */
export interface ModelRunner<Adapter> {
  run(requests: ReadonlyArray<ModelRequest & { adapter: number }>, adapters: readonly Adapter[]): Promise<ModelOutput[]>;
  /** The device it runs on, for the run's figures of where time goes; absent for runners that are no device. */
  readonly device?: EvaluationDevice;
}

/** A device that evaluates: its name on its host, and the memory it holds (null where it cannot say). */
export interface EvaluationDevice {
  host: string;
  name: string;
  memoryInUseBytes(): Promise<number | null>;
}

/** Which device evaluated a candidate, and the memory in use on it once its batch was done. */
export interface EvaluatedOn {
  host: string;
  name: string;
  memoryBytes: number | null;
}

/** A candidate not asked every question: after `questions` of `of`, its utility could be at most `bound`. */
export interface RacedOut {
  questions: number;
  of: number;
  bound: number;
}

/** The parts a raced evaluation asks its questions in. */
export const RACE_STAGES = 4;

export interface EvaluationOptions {
  /** The first questions only (quick looks; the search uses whole splits). */
  limit?: number;
  /**
   * Racing: per candidate, the utility it must reach to be of use (greedy selection keeps a move only if it is as good
   * as the candidate it moved). A candidate that provably cannot is not asked its remaining questions; its
   * evaluation is then `racedOut`, its utility the bound. Eval types without a `bound` evaluate in full.
   */
  mustReach?: readonly number[];
}

export interface CandidateEvaluation {
  /** The utility; for a raced-out candidate, the most it could still have reached. */
  utility: number;
  racedOut?: RacedOut;
  metrics: Record<string, number>;
  results: QuestionResult[];
  tokens: number;
  /** This candidate's share of the wall time of the batch it was evaluated in. */
  ms: number;
  device?: EvaluatedOn;
}

function formatIssues(prefix: string, error: z.ZodError): string {
  return error.issues.map((issue) => `${[prefix, ...issue.path.map(String)].join(".")}: ${issue.message}`).join("; ");
}

interface SingleTask {
  kind: "single";
  evalType: EvalType<unknown, unknown>;
  params: unknown;
  dataset: Dataset<unknown>;
}

interface MultiTask {
  kind: "multitask";
  tasks: SingleTask[];
  /** BWR_model's --only_one_or_two: the first or the second component's utility instead of the harmonic mean. */
  only?: OnlyOneOrTwo;
}

export type OnlyOneOrTwo = "one" | "two";

export type PreparedTask = SingleTask | MultiTask;

export interface TaskSpec {
  evalType: string;
  /**
   * A dataset `{"dev": [...], "test": [...]}`, as --dataset names it; for multitask, each component names its own,
   * or this names one of BWR_model's domains (MULTITASK_DOMAINS).
   */
  dataset?: string;
  params?: unknown;
  only?: OnlyOneOrTwo;
}

function prepareSingle(spec: TaskSpec, where: string): SingleTask {
  const evalType = getEvalType(spec.evalType);
  const params = evalType.paramsSchema.safeParse(spec.params ?? {});
  if (!params.success) throw new EvalConfigError(formatIssues(`${where}params`, params.error));
  return withDataset(evalType, params.data, spec.dataset, where);
}

function withDataset(evalType: EvalType<unknown, unknown>, params: unknown, dataset: string | undefined, where: string): SingleTask {
  if (!dataset) throw new EvalConfigError(`${where}dataset: expected a dataset file for eval type ${evalType.name}`);
  return { kind: "single", evalType, params, dataset: loadDataset(datasetFile(dataset), evalType.itemSchema) };
}

/** The components of a multitask (given, or the domain's); each one's parameters are parsed here, by its own eval type. */
function multitaskOf(params: z.output<typeof multitaskParams>, domain: string | undefined, only: OnlyOneOrTwo | undefined): MultiTask {
  const tasks = multitaskComponents(params, domain);
  if (tasks.length === 0) {
    throw new EvalConfigError(`dataset: multitask without params.tasks takes one of BWR_model's domains (${Object.keys(MULTITASK_DOMAINS).join(", ")}), got "${domain ?? ""}"; or list the tasks: --eval_params '{"tasks": [{"evalType": …, "dataset": …}, …]}'`);
  }
  return {
    kind: "multitask",
    only,
    tasks: tasks.map((task, index) => {
      if (!evalTypeNames.includes(task.evalType as never)) {
        throw new EvalConfigError(`params.tasks.${index}.evalType: expected one of ${evalTypeNames.join(", ")}, got "${task.evalType}"`);
      }
      if (!getEvalType(task.evalType).metric.higherIsBetter) {
        throw new EvalConfigError(`params.tasks.${index}.evalType: ${task.evalType} is lower-is-better, and a multitask maximises the harmonic mean of utilities where higher is better`);
      }
      return prepareSingle(task, `params.tasks.${index}.`);
    }),
  };
}

/**
 * Validates an eval type, its parameters and its dataset before any model work, so a mistake is one clear
 * error naming the field (or the dataset file and item).
 */
export function prepareTask(spec: TaskSpec): PreparedTask {
  if (spec.only && spec.evalType !== "multitask") throw new EvalConfigError(`only_one_or_two: picks one component of a multitask, and ${spec.evalType} has none`);
  if (spec.evalType !== "multitask") return prepareSingle(spec, "");
  const params = multitaskParams.safeParse(spec.params ?? {});
  if (!params.success) throw new EvalConfigError(formatIssues("params", params.error));
  return multitaskOf(params.data, spec.dataset, spec.only);
}

/** prepareTask for parameters that the eval type's schema has parsed already (a search config's): not parsed again. */
export function prepareParsedTask(spec: TaskSpec): PreparedTask {
  if (spec.evalType === "multitask") return multitaskOf(spec.params as z.output<typeof multitaskParams>, spec.dataset, spec.only);
  return withDataset(getEvalType(spec.evalType), spec.params, spec.dataset, "");
}

/**
 * The paths a task's parameters name (a multitask's components' too), by parameter, as `paths` gives them; a
 * component whose parameters do not parse names none (its parse reports them).
 */
export function taskParamPaths(evalType: string, params: unknown): Array<{ param: string; path: string }> {
  const single = (name: string, raw: unknown, where: string) => {
    const type = evalTypeNames.includes(name as (typeof evalTypeNames)[number]) ? getEvalType(name) : undefined;
    if (!type?.paths) return [];
    const parsed = type.paramsSchema.safeParse(raw ?? {});
    return parsed.success ? Object.entries(type.paths(parsed.data)).map(([param, path]) => ({ param: `${where}${param}`, path })) : [];
  };
  if (evalType !== "multitask") return single(evalType, params, "");
  const parsed = multitaskParams.safeParse(params ?? {});
  return parsed.success ? (parsed.data.tasks ?? []).flatMap((task, index) => single(task.evalType, task.params, `tasks[${index}].params.`)) : [];
}

/** Each task's `checkFiles` (a multitask's components' too): what its parameters name holds what it needs. */
export function checkTaskFiles(task: PreparedTask): void {
  for (const single of task.kind === "single" ? [task] : task.tasks) single.evalType.checkFiles?.(single.params);
}

export function splitSize(task: PreparedTask, split: Split): number {
  return task.kind === "single" ? task.dataset[split].length : task.tasks.reduce((sum, component) => sum + component.dataset[split].length, 0);
}

/** A dataset's in-context example before a request's prompt, on a line of its own, as BWR_model puts it. */
function inContext(example: string | undefined): (request: ModelRequest) => ModelRequest {
  if (!example) return (request) => request;
  return (request) => (request.kind === "generate" ? { ...request, prompt: `${example}\n${request.prompt}` } : { ...request, context: `${example}\n${request.context}` });
}

/** Each candidate's graded answers to `items` (numbered from `first`), asked in one batch, and each one's share of the time. */
async function answerItems<Adapter>(runner: ModelRunner<Adapter>, task: SingleTask, items: readonly unknown[], first: number, adapters: readonly Adapter[]): Promise<{ results: QuestionResult[][]; ms: number }> {
  const withExample = inContext(task.dataset.iclPrompt);
  const perItem = items.map((item) => task.evalType.requests(item, task.params).map(withExample));
  // One batch holds every candidate's questions, so a device sees many candidates per run.
  const requests = adapters.flatMap((_, adapter) => perItem.flatMap((itemRequests) => itemRequests.map((request) => ({ ...request, adapter }))));
  const started = performance.now();
  const outputs = await runner.run(requests, adapters);

  // Each candidate's outputs for each question, in the order of its requests.
  const requestsPerCandidate = perItem.reduce((sum, itemRequests) => sum + itemRequests.length, 0);
  const answers = adapters.map((_, candidate) => {
    let cursor = candidate * requestsPerCandidate;
    return perItem.map((itemRequests) => outputs.slice(cursor, (cursor += itemRequests.length)));
  });
  const { followUp } = task.evalType;
  if (followUp) {
    // The follow-up questions of every candidate in one more batch, as the first ones were.
    const asked = answers.map((perQuestion) => perQuestion.map((firstOutputs, index) => followUp(items[index]!, firstOutputs, task.params).map(withExample)));
    const followUps = asked.flatMap((perQuestion, adapter) => perQuestion.flatMap((itemRequests) => itemRequests.map((request) => ({ ...request, adapter }))));
    const replies = await runner.run(followUps, adapters);
    let cursor = 0;
    asked.forEach((perQuestion, candidate) => perQuestion.forEach((itemRequests, index) => answers[candidate]![index]!.push(...replies.slice(cursor, (cursor += itemRequests.length)))));
  }
  const ms = (performance.now() - started) / Math.max(1, adapters.length);
  // Scored side by side: a scorer behind HTTP limits its own requests in flight (gate.ts).
  const results = await Promise.all(answers.map((perQuestion) => Promise.all(items.map((item, index) => task.evalType.score(item, perQuestion[index]!, task.params, first + index)))));
  return { results, ms };
}

function evaluationOf(task: SingleTask, results: QuestionResult[], ms: number): CandidateEvaluation {
  const { utility, metrics } = task.evalType.utility(results, task.params);
  return { utility, metrics, results, tokens: results.reduce((sum, result) => sum + result.tokens, 0), ms };
}

async function evaluateSingle<Adapter>(
  runner: ModelRunner<Adapter>,
  task: SingleTask,
  split: Split,
  adapters: readonly Adapter[],
  { limit, mustReach }: EvaluationOptions,
): Promise<CandidateEvaluation[]> {
  const items = task.dataset[split].slice(0, limit);
  const { bound, metric: { higherIsBetter } } = task.evalType;
  if (!mustReach || !bound) {
    const { results, ms } = await answerItems(runner, task, items, 0, adapters);
    return results.map((perCandidate) => evaluationOf(task, perCandidate, ms));
  }
  // Racing: the questions in RACE_STAGES parts; after each, a candidate whose best possible utility is below what it
  // must reach is not asked the rest (it cannot be kept, whatever it answers), and says how far it got.
  const results: QuestionResult[][] = adapters.map(() => []);
  const ms = adapters.map(() => 0);
  const racedOut = new Map<number, RacedOut>();
  for (let stage = 0; stage < RACE_STAGES; stage += 1) {
    const from = Math.floor((stage * items.length) / RACE_STAGES);
    const to = Math.floor(((stage + 1) * items.length) / RACE_STAGES);
    const alive = [...adapters.keys()].filter((candidate) => !racedOut.has(candidate));
    if (alive.length === 0 || to === from) continue;
    const answered = await answerItems(runner, task, items.slice(from, to), from, alive.map((candidate) => adapters[candidate]!));
    alive.forEach((candidate, index) => {
      results[candidate]!.push(...answered.results[index]!);
      ms[candidate]! += answered.ms;
      if (to === items.length) return;
      const best = bound(results[candidate]!, items.length, task.params);
      if (higherIsBetter ? best < mustReach[candidate]! : best > mustReach[candidate]!) racedOut.set(candidate, { questions: to, of: items.length, bound: best });
    });
  }
  return adapters.map((_, candidate) => {
    const raced = racedOut.get(candidate);
    return raced ? { ...evaluationOf(task, results[candidate]!, ms[candidate]!), utility: raced.bound, racedOut: raced } : evaluationOf(task, results[candidate]!, ms[candidate]!);
  });
}

/** Harmonic mean of utilities clipped at 0: one failed domain pulls the whole objective down. */
function harmonicMean(values: number[]): number {
  if (values.some((value) => value <= 0)) return 0;
  return values.length / values.reduce((sum, value) => sum + 1 / value, 0);
}

/**
 * Evaluates every candidate on one split. `limit` takes the first questions only (for quick looks; the
 * search uses whole splits).
 */
export async function evaluateCandidates<Adapter>(
  runner: ModelRunner<Adapter>,
  task: PreparedTask,
  split: Split,
  adapters: readonly Adapter[],
  options: EvaluationOptions = {},
): Promise<CandidateEvaluation[]> {
  const evaluations = await evaluateTask(runner, task, split, adapters, options);
  if (!runner.device) return evaluations;
  const { host, name } = runner.device;
  const device: EvaluatedOn = { host, name, memoryBytes: await runner.device.memoryInUseBytes() };
  return evaluations.map((evaluation) => ({ ...evaluation, device }));
}

async function evaluateTask<Adapter>(runner: ModelRunner<Adapter>, task: PreparedTask, split: Split, adapters: readonly Adapter[], options: EvaluationOptions): Promise<CandidateEvaluation[]> {
  if (task.kind === "single") return evaluateSingle(runner, task, split, adapters, options);
  // A multitask's components are evaluated in full: its harmonic mean has no simple bound.
  const perTask: CandidateEvaluation[][] = [];
  for (const component of task.tasks) perTask.push(await evaluateSingle(runner, component, split, adapters, { limit: options.limit }));
  return adapters.map((_, candidate) => {
    const parts = perTask.map((evaluations) => evaluations[candidate]!);
    const metrics: Record<string, number> = {};
    task.tasks.forEach((component, index) => (metrics[`${component.dataset.name}/${component.evalType.metric.name}`] = parts[index]!.utility));
    return {
      utility: task.only === "one" ? parts[0]!.utility : task.only === "two" ? parts[1]!.utility : harmonicMean(parts.map((part) => part.utility)),
      metrics,
      results: parts.flatMap((part) => part.results),
      tokens: parts.reduce((sum, part) => sum + part.tokens, 0),
      ms: parts.reduce((sum, part) => sum + part.ms, 0),
    };
  });
}
