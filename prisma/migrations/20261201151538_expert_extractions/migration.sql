-- CreateEnum
CREATE TYPE "ExtractionStatus" AS ENUM ('running', 'ready', 'failed');

-- CreateTable
CREATE TABLE "ExpertExtraction" (
    "id" TEXT NOT NULL,
    "modelId" TEXT NOT NULL,
    "rank" INTEGER NOT NULL,
    "folder" TEXT NOT NULL,
    "status" "ExtractionStatus" NOT NULL DEFAULT 'running',
    "progressPhase" TEXT,
    "progressDone" INTEGER NOT NULL DEFAULT 0,
    "progressTotal" INTEGER NOT NULL DEFAULT 0,
    "experts" JSONB,
    "errorText" TEXT,
    "heartbeatAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ExpertExtraction_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "ExpertExtraction_modelId_rank_key" ON "ExpertExtraction"("modelId", "rank");

-- AddForeignKey
ALTER TABLE "ExpertExtraction" ADD CONSTRAINT "ExpertExtraction_modelId_fkey" FOREIGN KEY ("modelId") REFERENCES "RegisteredModel"("id") ON DELETE CASCADE ON UPDATE CASCADE;
