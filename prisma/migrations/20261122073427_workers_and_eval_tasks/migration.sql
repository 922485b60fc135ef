-- CreateEnum
CREATE TYPE "EvalTaskStatus" AS ENUM ('pending', 'done', 'failed');

-- CreateTable
CREATE TABLE "Worker" (
    "id" TEXT NOT NULL,
    "host" TEXT NOT NULL,
    "devices" TEXT[],
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeen" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Worker_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "EvalTask" (
    "id" TEXT NOT NULL,
    "runId" TEXT NOT NULL,
    "split" "Split" NOT NULL,
    "vectors" BYTEA NOT NULL,
    "count" INTEGER NOT NULL,
    "length" INTEGER NOT NULL,
    "status" "EvalTaskStatus" NOT NULL DEFAULT 'pending',
    "results" JSONB,
    "error" TEXT,
    "workerId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "EvalTask_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "EvalTask_runId_idx" ON "EvalTask"("runId");
