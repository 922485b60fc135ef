"use client";

import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "@/trpc/react";

const inputClass = "mt-1 w-full rounded border border-slate-300 bg-white px-2 py-1 text-sm focus:border-sky-500 focus:outline-none";
const invalidClass = "border-red-500 bg-red-50";
/** The select's entry for a file named by its path; no bundled dataset can be called this (names have no slash). */
const OWN_FILE = "/own-file";

/**
 * The dataset of a search: one of the bundled datasets in data/eval, or any .json file on the server, by its path
 * (inside the checkout, OUTPUT_ROOT or DATASET_DIRS). The server's form check reads the file as the search would,
 * so a missing file, bad JSON or an item the eval type cannot read shows here while typing.
 */
export function DatasetField({ flag, value, evalType, error, onChange }: { flag: string; value: string; evalType: string; error?: string; onChange: (value: string) => void }) {
  const trpc = useTRPC();
  const datasets = useQuery(trpc.catalog.datasets.queryOptions());
  const bundled = datasets.data?.find((entry) => entry.name === value);
  // A value that names no bundled dataset is a path: the field for it opens by itself (a preset, a resumed form).
  const [ownFile, setOwnFile] = useState(false);
  const showPath = ownFile || (datasets.data !== undefined && !bundled && value !== "");

  return (
    <div data-testid="field-dataset">
      <label htmlFor="input-dataset" className="block text-sm font-medium text-slate-800">
        Dataset <code className="ml-1 text-xs font-normal text-slate-400">{flag}</code>
        <span className="block text-xs font-normal text-slate-500">a bundled dataset (data/eval, with its dev / test sizes) or a .json file on the server</span>
      </label>
      <select
        id="input-dataset"
        className={`${inputClass} ${error && !showPath ? invalidClass : ""}`}
        value={showPath ? OWN_FILE : value}
        onChange={(event) => {
          const choice = event.target.value;
          setOwnFile(choice === OWN_FILE);
          if (choice !== OWN_FILE) onChange(choice);
          else if (bundled) onChange("");
        }}
      >
        {!showPath && !bundled && <option value={value}>{value}</option>}
        {datasets.data?.map((entry) => (
          <option key={entry.name} value={entry.name}>
            {entry.name} — {entry.devSize} dev / {entry.testSize} test{entry.multipleChoice ? " · multiple choice" : ""}
          </option>
        ))}
        <option value={OWN_FILE}>a .json file on the server…</option>
      </select>
      {showPath && (
        <input
          id="input-dataset-path"
          aria-label="Dataset file"
          className={`${inputClass} font-mono ${error ? invalidClass : ""}`}
          placeholder='/path/to/dataset.json: {"dev": [...], "test": [...]}'
          value={value}
          onChange={(event) => onChange(event.target.value)}
        />
      )}
      {error && (
        <p className="mt-1 text-xs text-red-700" role="alert" data-testid="error-dataset">
          {error}
        </p>
      )}
      {bundled && !error && evalType !== "external_api" && evalType !== "multitask" && bundled.multipleChoice !== (evalType === "multiple_choice") && (
        <p className="mt-1 text-xs text-amber-700" data-testid="warning-dataset">
          {bundled.multipleChoice ? `${bundled.name} is multiple choice: use the multiple_choice eval type` : `${bundled.name} has no answer options: multiple_choice needs items with choices`}
        </p>
      )}
    </div>
  );
}
