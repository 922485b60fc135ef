-- AlterTable
ALTER TABLE "CandidateScore" ADD COLUMN     "metrics" JSONB;

-- AlterTable
ALTER TABLE "Iteration" ADD COLUMN     "bestCandidate" INTEGER,
ADD COLUMN     "bestIteration" INTEGER,
ADD COLUMN     "devices" JSONB;
