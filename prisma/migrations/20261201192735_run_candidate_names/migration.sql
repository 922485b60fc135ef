-- AlterTable
ALTER TABLE "Run" ADD COLUMN     "candidateNames" TEXT[] DEFAULT ARRAY[]::TEXT[];
