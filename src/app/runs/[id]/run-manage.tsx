"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { useTRPC } from "@/trpc/react";

/** Tags typed as one line: separated by commas or spaces (a tag holds neither). */
function parseTags(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((tag) => tag.trim())
    .filter(Boolean);
}

/**
 * What a user keeps about a run: tags (the list filters by them), notes, archived or not; and deleting it with its
 * files, after a confirmation, for a run nothing executes.
 */
export function RunManage({ run, executing }: { run: { id: string; name: string; tags: string[]; notes: string; archivedAt: Date | null }; executing: boolean }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.runs.get.queryKey({ id: run.id }) });
  const [tagText, setTagText] = useState<string | null>(null);
  const [notes, setNotes] = useState<string | null>(null);
  const setTags = useMutation(trpc.runs.setTags.mutationOptions({ onSuccess: () => setTagText(null), onSettled: refresh }));
  const saveNotes = useMutation(trpc.runs.setNotes.mutationOptions({ onSuccess: () => setNotes(null), onSettled: refresh }));
  const archive = useMutation(trpc.runs.setArchived.mutationOptions({ onSettled: refresh }));
  const remove = useMutation(
    trpc.runs.delete.mutationOptions({
      onSuccess: () => {
        void queryClient.invalidateQueries({ queryKey: trpc.runs.list.pathKey() });
        router.push("/");
      },
    }),
  );
  const error = setTags.error?.message ?? saveNotes.error?.message ?? archive.error?.message ?? remove.error?.message;
  const confirmDelete = () => {
    if (window.confirm(`Delete run ${run.name}, its records and its folder (adapters included)? This cannot be undone.`)) remove.mutate({ id: run.id });
  };

  return (
    <div className="space-y-3 rounded-lg border border-slate-200 bg-white p-4 text-sm" data-testid="run-manage">
      <form
        className="flex flex-wrap items-center gap-2"
        onSubmit={(event) => {
          event.preventDefault();
          if (tagText !== null) setTags.mutate({ id: run.id, tags: parseTags(tagText) });
        }}
      >
        <label htmlFor="run-tags" className="w-12 text-slate-600">
          Tags
        </label>
        <input
          id="run-tags"
          className="min-w-0 flex-1 rounded border border-slate-300 px-2 py-1"
          placeholder="baseline, lr-sweep"
          value={tagText ?? run.tags.join(", ")}
          onChange={(event) => setTagText(event.target.value)}
          data-testid="tags-input"
        />
        <button type="submit" disabled={tagText === null || setTags.isPending} className="rounded border border-slate-300 px-3 py-1 disabled:opacity-40" data-testid="save-tags">
          Save tags
        </button>
      </form>
      <div className="flex flex-wrap items-start gap-2">
        <label htmlFor="run-notes" className="w-12 pt-1 text-slate-600">
          Notes
        </label>
        <textarea
          id="run-notes"
          rows={2}
          className="min-w-0 flex-1 rounded border border-slate-300 px-2 py-1"
          value={notes ?? run.notes}
          onChange={(event) => setNotes(event.target.value)}
          data-testid="notes-input"
        />
        <button type="button" disabled={notes === null || saveNotes.isPending} onClick={() => notes !== null && saveNotes.mutate({ id: run.id, notes })} className="rounded border border-slate-300 px-3 py-1 disabled:opacity-40" data-testid="save-notes">
          Save notes
        </button>
      </div>
      <div className="flex flex-wrap items-center gap-2 border-t border-slate-100 pt-3">
        <button type="button" onClick={() => archive.mutate({ id: run.id, archived: !run.archivedAt })} disabled={archive.isPending} className="rounded border border-slate-300 px-3 py-1" data-testid="archive">
          {run.archivedAt ? "Unarchive" : "Archive"}
        </button>
        <span className="text-xs text-slate-500">{run.archivedAt ? "archived: hidden from the runs list unless “show archived”" : "archiving hides the run from the list and keeps everything"}</span>
        <button
          type="button"
          onClick={confirmDelete}
          disabled={executing || remove.isPending}
          title={executing ? "cancel the run before deleting it" : "delete the run, its records and its folder"}
          className="ml-auto rounded border border-red-300 px-3 py-1 text-red-700 hover:bg-red-50 disabled:opacity-40"
          data-testid="delete-run"
        >
          Delete…
        </button>
      </div>
      {error && (
        <p className="text-red-700" data-testid="manage-error">
          {error}
        </p>
      )}
    </div>
  );
}
