-- CreateEnum
CREATE TYPE "RunStatus" AS ENUM ('queued', 'running', 'completed', 'failed', 'cancelled');

-- CreateEnum
CREATE TYPE "RunOrigin" AS ENUM ('cli', 'ui');

-- CreateEnum
CREATE TYPE "Split" AS ENUM ('dev', 'test');

-- CreateEnum
CREATE TYPE "ArtifactKind" AS ENUM ('global_best', 'global_worst');

-- CreateTable
CREATE TABLE "Expert" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "folder" TEXT NOT NULL,
    "baseModel" TEXT NOT NULL,
    "rank" INTEGER NOT NULL,
    "targetModules" TEXT[],
    "sizeBytes" BIGINT NOT NULL,
    "bundled" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Expert_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Dataset" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "file" TEXT NOT NULL,
    "evalType" TEXT NOT NULL,
    "devSize" INTEGER NOT NULL,
    "testSize" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Dataset_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Run" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "status" "RunStatus" NOT NULL DEFAULT 'queued',
    "origin" "RunOrigin" NOT NULL,
    "config" JSONB NOT NULL,
    "seed" INTEGER NOT NULL,
    "mergeMethod" TEXT NOT NULL,
    "dataset" TEXT NOT NULL,
    "evalType" TEXT NOT NULL,
    "outputDir" TEXT,
    "errorText" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),
    "startingBestValidationUtility" DOUBLE PRECISION,
    "startingBestSingleTestAccuracy" DOUBLE PRECISION,
    "endingBestValidationUtility" DOUBLE PRECISION,
    "endingBestSingleTestAccuracy" DOUBLE PRECISION,

    CONSTRAINT "Run_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Iteration" (
    "runId" TEXT NOT NULL,
    "index" INTEGER NOT NULL,
    "globalBestUtility" DOUBLE PRECISION NOT NULL,
    "globalWorstUtility" DOUBLE PRECISION NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL,
    "finishedAt" TIMESTAMP(3) NOT NULL,
    "mergeMs" INTEGER NOT NULL,
    "evalMs" INTEGER NOT NULL,

    CONSTRAINT "Iteration_pkey" PRIMARY KEY ("runId","index")
);

-- CreateTable
CREATE TABLE "CandidateScore" (
    "id" BIGSERIAL NOT NULL,
    "runId" TEXT NOT NULL,
    "iteration" INTEGER NOT NULL,
    "candidate" INTEGER NOT NULL,
    "split" "Split" NOT NULL,
    "utility" DOUBLE PRECISION NOT NULL,
    "results" JSONB,
    "tokens" INTEGER,
    "evalMs" INTEGER,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "CandidateScore_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Artifact" (
    "id" TEXT NOT NULL,
    "runId" TEXT NOT NULL,
    "kind" "ArtifactKind" NOT NULL,
    "path" TEXT NOT NULL,
    "sizeBytes" BIGINT NOT NULL,
    "sha256" TEXT NOT NULL,
    "utility" DOUBLE PRECISION,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Artifact_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RunEvent" (
    "id" BIGSERIAL NOT NULL,
    "runId" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RunEvent_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Expert_name_key" ON "Expert"("name");

-- CreateIndex
CREATE UNIQUE INDEX "Expert_folder_key" ON "Expert"("folder");

-- CreateIndex
CREATE UNIQUE INDEX "Dataset_name_key" ON "Dataset"("name");

-- CreateIndex
CREATE UNIQUE INDEX "Dataset_file_key" ON "Dataset"("file");

-- CreateIndex
CREATE UNIQUE INDEX "Run_name_key" ON "Run"("name");

-- CreateIndex
CREATE INDEX "Run_createdAt_idx" ON "Run"("createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "CandidateScore_runId_iteration_candidate_split_key" ON "CandidateScore"("runId", "iteration", "candidate", "split");

-- CreateIndex
CREATE UNIQUE INDEX "Artifact_runId_kind_key" ON "Artifact"("runId", "kind");

-- CreateIndex
CREATE INDEX "RunEvent_runId_id_idx" ON "RunEvent"("runId", "id");

-- AddForeignKey
ALTER TABLE "Iteration" ADD CONSTRAINT "Iteration_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "CandidateScore" ADD CONSTRAINT "CandidateScore_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Artifact" ADD CONSTRAINT "Artifact_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RunEvent" ADD CONSTRAINT "RunEvent_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
