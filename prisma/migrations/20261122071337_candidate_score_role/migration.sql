-- AlterTable
ALTER TABLE "CandidateScore" ADD COLUMN     "role" TEXT;
