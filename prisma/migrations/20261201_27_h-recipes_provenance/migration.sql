-- CreateTable
CREATE TABLE "RunSearchSpace" (
    "runId" TEXT NOT NULL,
    "mode" TEXT NOT NULL,
    "names" TEXT[],
    "layers" INTEGER[],

    CONSTRAINT "RunSearchSpace_pkey" PRIMARY KEY ("runId")
);

-- CreateTable
CREATE TABLE "CandidateProvenance" (
    "runId" TEXT NOT NULL,
    "iteration" INTEGER NOT NULL,
    "candidate" INTEGER NOT NULL,
    "kind" TEXT NOT NULL,
    "origin" JSONB NOT NULL,
    "selection" TEXT NOT NULL,
    "recipe" DOUBLE PRECISION[],
    "moduleDistances" DOUBLE PRECISION[],
    "rejectedRecipe" DOUBLE PRECISION[],
    "rejectedModuleDistances" DOUBLE PRECISION[],

    CONSTRAINT "CandidateProvenance_pkey" PRIMARY KEY ("runId","iteration","candidate")
);

-- AddForeignKey
ALTER TABLE "RunSearchSpace" ADD CONSTRAINT "RunSearchSpace_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "CandidateProvenance" ADD CONSTRAINT "CandidateProvenance_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
