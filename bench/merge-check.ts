// Correctness on every device this machine has (issue #4): each method and search op against the float64
// TypeScript reference, CPU against CUDA on the same inputs, and identical DARE/DELLA masks for the same seed.
//   node --import tsx bench/merge-check.ts [--seed N]        (exit code 1 on any failure)
import { type DeviceName, listDevices, openDevice } from "../src/engine/merge/device";
import { planMerge } from "../src/engine/merge/registry";
import { CHECK_CASES, checkDevice, checkLayout, nearlyCancellingTensors, randomTensors, relError } from "../tests/support/merge-selfcheck";
import { referenceMerge } from "../src/engine/merge/reference";
import { makeLayout } from "../src/engine/tensors/layout";

const TOL = 1e-6;
const i = process.argv.indexOf("--seed");
const seed = i >= 0 ? Number(process.argv[i + 1]) : Math.floor(Math.random() * 2 ** 32);

async function main() {
  const devices = listDevices();
  console.log(`devices: ${devices.join(", ")}; seed ${seed}`);
  let failures = 0;
  const summary: Record<string, unknown> = { seed, devices };
  for (const name of devices) {
    const dev = openDevice(name);
    const t0 = performance.now();
    const res = await checkDevice(dev, seed, checkLayout(5));
    const worst = res.reduce((a, b) => (b.relError > a.relError ? b : a));
    const bad = res.filter((r) => !(r.relError <= TOL));
    failures += bad.length;
    console.log(`${name} (${dev.description}): ${res.length} checks vs float64 reference, worst ${worst.name} ${worst.relError.toExponential(2)}, ${bad.length} over ${TOL} [${(performance.now() - t0).toFixed(0)} ms]`);
    for (const b of bad) console.log(`  FAIL ${b.name}: ${b.relError}`);
    // the sign election where the two weighted deltas cancel to within float rounding (the double fallback)
    const flat = makeLayout([{ name: "v", shape: [100003] }]);
    const host = nearlyCancellingTensors(flat.size, seed, 0.3, 0.7);
    const { plan } = planMerge("ties", { threshold: 0, base_model_idx: 0, weights: [0.3, 0.7] }, 3);
    const xs = await Promise.all(host.map((h) => dev.upload(h)));
    const cancelling = relError(await (await dev.mergePlan(plan, xs, flat)).download(), referenceMerge(plan, host, flat));
    if (!(cancelling <= TOL)) failures++;
    console.log(`${cancelling <= TOL ? "ok  " : "FAIL"} ${name}: ties on nearly cancelling deltas, rel ${cancelling.toExponential(2)}`);
    res.push({ name: "ties on nearly cancelling deltas", relError: cancelling });
    summary[`${name} vs reference`] = Object.fromEntries(res.map((r) => [r.name, r.relError]));
  }
  const cudas = devices.filter((d) => d !== "cpu") as DeviceName[];
  if (cudas.length) {
    // CPU against CUDA on a larger, LoRA-like layout (many tensors, big rows: exercises the GPU top-k selection)
    const layout = makeLayout(
      Array.from({ length: 24 }, (_, l) => [
        { name: `l${l}.lora_A.weight`, shape: [16, 4096 + l] },
        { name: `l${l}.lora_B.weight`, shape: [11008 - 3 * l, 16] },
      ]).flat(),
    );
    const host = randomTensors(layout, 4, seed ^ 0x5eed);
    const cpu = openDevice("cpu");
    const cpuX = await Promise.all(host.map((h) => cpu.upload(h)));
    for (const name of cudas) {
      const gpu = openDevice(name);
      const gpuX = await Promise.all(host.map((h) => gpu.upload(h)));
      const agree: Record<string, string> = {};
      const cases = [
        ...CHECK_CASES,
        { name: "dare mask (1 model, no rescale)", method: "dare", params: { density: 0.37, rescale: false, seed: seed >>> 0 }, models: 1 },
        { name: "della mask small rows", method: "della", params: { density: 0.5, epsilon: 0.3, rescale: false, seed: 11 }, models: 1, small: true },
      ];
      for (const c of cases) {
        const lay = "small" in c ? checkLayout(5) : layout;
        const hx = "small" in c ? randomTensors(lay, 4, seed) : host;
        const cX = "small" in c ? await Promise.all(hx.map((h) => cpu.upload(h))) : cpuX;
        const gX = "small" in c ? await Promise.all(hx.map((h) => gpu.upload(h))) : gpuX;
        const { plan } = planMerge(c.method, c.params, c.models);
        const t1 = performance.now();
        const a = await (await cpu.mergePlan(plan, cX.slice(0, c.models), lay)).download();
        const t2 = performance.now();
        const b = await (await gpu.mergePlan(plan, gX.slice(0, c.models), lay)).download();
        const t3 = performance.now();
        let maskDiff = 0;
        let bitDiff = 0;
        for (let k = 0; k < a.length; k++) {
          if ((a[k] === 0) !== (b[k] === 0)) maskDiff++;
          if (!Object.is(a[k], b[k])) bitDiff++;
        }
        const err = relError(b, a);
        const ok = err <= TOL && maskDiff === 0;
        if (!ok) failures++;
        agree[c.name] = `rel ${err.toExponential(2)}, zero-pattern differences ${maskDiff}, values differing in any bit ${bitDiff}`;
        console.log(`${ok ? "ok  " : "FAIL"} cpu vs ${name}: ${c.name.padEnd(40)} rel ${err.toExponential(2)}  mask diffs ${maskDiff}  bit diffs ${bitDiff}  (cpu ${(t2 - t1).toFixed(0)} ms, gpu ${(t3 - t2).toFixed(0)} ms)`);
      }
      summary[`cpu vs ${name}`] = agree;
    }
  }
  console.log(JSON.stringify({ failures, ...summary }));
  process.exit(failures ? 1 : 0);
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
