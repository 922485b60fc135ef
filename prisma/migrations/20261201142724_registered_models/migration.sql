-- CreateEnum
CREATE TYPE "DecoderStatus" AS ENUM ('building', 'ready', 'failed');

-- CreateTable
CREATE TABLE "RegisteredModel" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "folder" TEXT NOT NULL,
    "expertsFolder" TEXT,
    "family" TEXT NOT NULL,
    "parameters" BIGINT NOT NULL,
    "dtypes" TEXT[],
    "weightBytes" BIGINT NOT NULL,
    "fileCount" INTEGER NOT NULL,
    "status" "DecoderStatus" NOT NULL DEFAULT 'building',
    "progressPhase" TEXT,
    "progressDone" INTEGER NOT NULL DEFAULT 0,
    "progressTotal" INTEGER NOT NULL DEFAULT 0,
    "decoderPath" TEXT,
    "errorText" TEXT,
    "heartbeatAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "RegisteredModel_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "RegisteredModel_folder_key" ON "RegisteredModel"("folder");
